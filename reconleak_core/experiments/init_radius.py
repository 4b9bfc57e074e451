"""Paper Fig. 2a: the attack initialised on spheres of several radii (``init_radius``; its variants
``subspace_radius``, data that do not span ℝᵈ, and ``deep_init_radius``, a 3-layer network). Config,
result, computation and figure of the experiment (chapter "The initialisation radius"); Theorem 4 and the scale
symmetry (x′, λ′) → (cx′, λ′/c) of the KKT loss."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from reconleak_core import calibration
from reconleak_core.attack import AttackConfig, Sphere
from reconleak_core.certificate import certificate
from reconleak_core.checks import as_tensor, check_bool, check_positive, check_reals, set_frozen
from reconleak_core.data import sphere_held_out
from reconleak_core.experiments.core import (
    Result,
    Run,
    attack_seeds,
    check_common,
    check_scale,
    distances,
    experiment,
    init_scale_of,
    result_tensor,
)
from reconleak_core.pooling import pool_scores
from reconleak_core.train import TrainConfig
from reconleak_core.trained_nets import NetSpec
from reconleak_core.viz import plot_curves, two_panels

__all__ = ["InitRadiusConfig", "InitRadiusResult", "init_radius", "plot_init_radius", "scale_free_attack",
           "verdicts", "NULLS", "HELD_OUT"]

NULLS = ("held_out", "prior", "direction")
"""The calibrated verdicts of :class:`InitRadiusResult`, in the order of its ``rates`` columns: the distance to
the nearest candidate against fresh points of the data's sphere (``data.sphere_held_out``), the same distance
against the attacker's prior (uniform points of the sphere of his init radius), and the direction-only distance
1 − cos against fresh points of the data's sphere."""
HELD_OUT = 5000
"""The fresh points of the data's sphere that the held-out null draws from (≫ 20 × the pooled candidates, so that
the 95 % quantile does not saturate; see ``calibration.beats_null_quantile``)."""
_CHANCE_DRAWS = 20
"""Further null sets that give each verdict's chance rate."""


def scale_free_attack(config: AttackConfig, radius: float) -> AttackConfig:
    """The attack ``config`` expressed relative to the init radius ``radius``: the attacker who only guesses the
    radius of the data and sets every scale of his attack from that guess.

    The scale symmetry (chapter "The initialisation radius"): a bias-free ReLU network is positively homogeneous in
    its input, ∇θΦ(θ; cx) = c∇θΦ(θ; x) for c > 0 at any depth, so (x′, λ′) → (cx′, λ′/c) keeps the stationarity
    term of the KKT loss. This attack at radius c maps onto ``config``'s attack at radius 1 under that symmetry,
    step by step: Adam's step is invariant to the scale of a gradient, so the candidates' step size is
    multiplied by c and the multipliers' divided by c (SGD: c² and 1/c², its step is proportional to the
    gradient); ``lam_min`` and ``lam_init`` are divided by c; the dual-feasibility weight ``lam_penalty`` is
    multiplied by c (c² for the squared hinge), so that the hinge's value is unchanged; the soft gate's slope α is
    divided by c, as σ(α w·x′) reads a pre-activation that grew by c. Initialised on the sphere of radius c with
    the same seed, it computes c × (the iterates of the radius-1 attack) and their multipliers / c, with the same
    loss, to rounding and Adam's ``eps`` (the attack is chaotic: rounding differences grow over a long run).
    ``radius`` 1 returns ``config`` itself.
    """
    if not isinstance(config, AttackConfig):
        raise TypeError(f"config must be an AttackConfig, got {type(config).__name__}")
    c = check_positive(radius, "radius")
    if c == 1.0:
        return config
    power = 1 if config.optimizer == "adam" else 2
    hinge = 1 if config.lam_penalty_form == "linear" else 2
    lam_init = (tuple(v / c for v in config.lam_init) if isinstance(config.lam_init, tuple)
                else config.lam_init / c)
    return dataclasses.replace(
        config, lr=config.lr * c ** power, lam_lr=(config.lr if config.lam_lr is None else config.lam_lr) / c ** power,
        lam_min=config.lam_min / c, lam_init=lam_init, lam_penalty=config.lam_penalty * c ** hinge,
        gate=None if config.gate is None else config.gate / c)


@dataclass(frozen=True)
class InitRadiusConfig:
    """Fig. 2a: the attack initialised on spheres of several ``radii`` (× ``seeds`` pooled restarts).

    ``net`` is trained on the unit sphere of ℝᵈ or of a subspace (``net.subspace_dim``); the attack has no prior:
    the attacker's guess of the data's radius enters through the initialisation alone (uniform on the sphere of
    that radius). m = ``candidates_per_point``·n candidates per restart, settings ``attack``; restart seeds are
    ``seed``, ``seed + 1``, ... and are shared across radii, so the radii differ only by the radius (same random
    directions). ``scale_free=True``: each radius r runs :func:`scale_free_attack` (``attack``, r), every scale
    of the attack relative to r, one batched attack per radius; ``False``: ``attack`` as given at every radius,
    all radii in ONE batched attack. ``prior="sphere"``: every member also keeps its candidates on the sphere of
    its own init radius (``attack.Sphere(radius)``, projected): the attacker who believes the data lie on that
    sphere; ``None`` (default): no prior. Presets: :meth:`preset` (the book's is chapter 6's setting).
    """

    net: NetSpec = NetSpec()
    radii: tuple = (0.1, 0.3, 1.0, 3.0, 10.0)
    seeds: int = 2
    candidates_per_point: int = 2
    attack: AttackConfig = AttackConfig(steps=2000)
    seed: int = 0
    prior: str | None = None
    scale_free: bool = False

    def __post_init__(self):
        check_common(self)
        set_frozen(self, radii=check_reals(self.radii, "radii", positive=True),
                   scale_free=check_bool(self.scale_free, "scale_free"))
        if self.net.dataset != "sphere" or self.net.offset != 0:
            raise TypeError(f"init_radius needs data on the unit sphere: NetSpec(dataset='sphere', offset=0), got "
                            f"dataset={self.net.dataset!r}, offset={self.net.offset!r}")
        if self.prior not in (None, "sphere"):
            raise ValueError(f"prior must be None (no prior) or 'sphere' (the sphere of each member's init "
                             f"radius, projected), got {self.prior!r}")

    def networks(self) -> tuple:
        """The NetSpecs this configuration trains (``run.network``): ``(net,)``."""
        return (self.net,)

    @classmethod
    def preset(cls, scale: str = "book", *, arch: str = "two_layer", subspace: bool = False,
               seed: int = 0) -> InitRadiusConfig:
        """``"test"`` (seconds), ``"book"`` (default: chapter 6) or ``"paper"`` sizes; ``arch="mlp3"`` for the deep
        variant; ``subspace=True``: data on the unit sphere of a random subspace (Theorem 4's hypothesis) instead
        of data spanning ℝᵈ. Book: n = 10 points in d = 10 (spanning ℝ¹⁰, or in a 7-dimensional subspace),
        width 100, radii 0.3, 1, 3, four pooled restarts of 2000 steps, the scale-free attack. ``scale`` names the
        size; ``seed`` draws the data, initialises the network and seeds the first restart."""
        scale = check_scale(scale)
        if scale == "test":
            net = NetSpec(n=8, d=8, subspace_dim=4 if subspace else None, width=30, train=TrainConfig(steps=1500),
                          arch=arch, init_scale=0.5, seed=seed)
            return cls(net, radii=(0.1, 1.0, 10.0), seeds=1, attack=AttackConfig(steps=200), seed=seed,
                       scale_free=True)
        if scale == "book":
            net = NetSpec(n=10, d=10, subspace_dim=7 if subspace else None, seed=seed)
            if arch == "two_layer":
                return cls(net, radii=(0.3, 1.0, 3.0), seeds=4, seed=seed, scale_free=True)
            # the generic (vmapped) KKT loss of the 3-layer net is slower: a narrower net, fewer attack steps; its
            # training step 0.1 (the default 0.3 switches hidden units off for good on some draws: margin 0)
            return cls(dataclasses.replace(net, arch=arch, width=50, init_scale=init_scale_of(arch),
                                           train=TrainConfig(lr=0.1)),
                       radii=(0.3, 1.0, 3.0), seeds=4, attack=AttackConfig(steps=1000), seed=seed, scale_free=True)
        net = NetSpec(n=100, d=100, subspace_dim=20 if subspace else None, width=1000,
                      train=TrainConfig(steps=100_000), arch=arch, init_scale=init_scale_of(arch), seed=seed)
        return cls(net, radii=(0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0), seeds=4, attack=AttackConfig.paper(50_000),
                   seed=seed, scale_free=True)


def _per_radius(values, n: int) -> torch.Tensor:
    """Mean over everything but the first axis (over the attack seeds), as a 1-D tensor of length n."""
    return as_tensor(values, "values", dtype=torch.float64).reshape(n, -1).mean(dim=1)


def plot_init_radius(result):
    """:func:`init_radius` (paper Fig. 2a): the final KKT loss (mean over restarts) and the calibrated recovery
    beside its chance level against the attack's init radius; ``result`` is an :class:`InitRadiusResult`.
    Returns the ``Figure``."""
    r = result.radii
    fig, axes = two_panels()
    kkt = _per_radius(result.kkt / result.theta_sq, len(r))
    plot_curves(r, {"kkt_rel": kkt}, xlabel="attack init radius", ylabel="final KKT loss / ‖θ̂‖² (kkt_rel)",
                title="the attack's objective", logx=True, logy=True, ax=axes[0])
    axes[0].set_ylim(kkt.min().item() / 10, kkt.max().item() * 10)   # two decades around: "the same loss"
    rates, chance = result.rates, result.chance.quantile(0.95, dim=-1)
    plot_curves(r, {"distance vs fresh data": rates[:, 0], "1 − cos vs fresh data": rates[:, 2],
                    "chance (95th pct.)": chance[:, 0]},
                xlabel="attack init radius", ylabel="training points leaked", title="calibrated recovery",
                logx=True, ax=axes[1])
    for ax in axes:
        ax.set_xticks(r.tolist(), [f"{v:g}" for v in r.tolist()])
        ax.minorticks_off()
    fig.tight_layout()
    return fig


@dataclass(frozen=True, eq=False)
class InitRadiusResult(Result):
    """Per radius (rows) and attack seed (columns): final KKT loss ``kkt``, ``nearest`` (mean over training
    points of the distance to the nearest candidate), ``matched`` (mean Hungarian matched distance),
    ``direction`` (mean over training points of 1 − cos∠ to the best-aligned candidate: blind to the scale
    symmetry (x′, λ′) → (cx′, λ′/c)) and ``candidate_norm`` (median ‖x′‖); ``eps_rel`` is the trained
    network's certificate and ``theta_sq`` = ‖θ̂‖² of the margin-normalised network (``kkt / theta_sq`` is the
    relative KKT loss). ``X``, ``y``, and the ``candidates`` (R, S, m, d) with their multipliers ``lam`` are
    kept for plots.

    Calibrated recovery (``calibration.beats_null_quantile``, the restarts of a radius pooled), per radius,
    verdict of :data:`NULLS` and training point: ``score`` (R, 3, n), the point's best distance over the pooled
    candidates (L2, L2, 1 − cos); ``threshold`` (R, 3, n), the 5 % quantile of the same distance over 100 null
    sets of the pooled size (the point leaked when its score is below it: ``leaked``); ``chance`` (R, 3, 20),
    the leak rate of further null sets under the same rule; ``rates`` (R, 3) the attack's leak rates.
    ``config`` is the configuration that ran and ``radii`` (R,) its init radii.
    """

    config: InitRadiusConfig
    radii: torch.Tensor
    kkt: torch.Tensor
    nearest: torch.Tensor
    matched: torch.Tensor
    direction: torch.Tensor
    candidate_norm: torch.Tensor
    eps_rel: float
    theta_sq: float
    X: torch.Tensor
    y: torch.Tensor
    candidates: torch.Tensor
    lam: torch.Tensor
    score: torch.Tensor
    threshold: torch.Tensor
    chance: torch.Tensor

    name = "init_radius"
    _json_fields = ("radii", "kkt", "nearest", "matched", "direction", "candidate_norm", "eps_rel", "theta_sq",
                    "rates", "chance_median", "score", "threshold")
    columns = {
        "radius": "the attack's initialisation radius (the data lie on radius 1)",
        "kkt_rel": "final KKT loss / ‖θ̂‖², mean over attack seeds (0: a perfect KKT set)",
        "nearest_dist": "mean distance from a training point to its nearest candidate",
        "direction": "mean 1 − cos∠ to the best-aligned candidate (blind to the candidates' scale)",
        "candidate_norm": "median norm of the candidates",
        "leaked": "share of training points whose nearest pooled candidate beats 95 % of null sets of fresh "
                  "points of the data's sphere",
        "chance": "the same share for a further null set (median over 20)",
        "vs_prior": "share leaked against null sets of the attacker's prior (his init sphere)",
        "by_direction": "share whose best 1 − cos beats 95 % of null sets of fresh points (direction only)",
    }

    @property
    def leaked(self) -> torch.Tensor:
        """Per radius, verdict and training point (R, 3, n), whether the point's score beats its threshold."""
        return self.score < self.threshold

    @property
    def rates(self) -> torch.Tensor:
        """The attack's leak rates, shape (R, 3), per radius the share of training points leaked under each
        verdict of :data:`NULLS`."""
        return self.leaked.double().mean(dim=-1)

    @property
    def chance_median(self) -> torch.Tensor:
        """The chance rates' medians over null draws, shape (R, 3), in the columns of ``rates``."""
        return self.chance.quantile(0.5, dim=-1)

    def pooled(self, *, metric: str = "l2", threshold: float = 0.1) -> list:
        """Per radius, the seeds pooled as restarts (``pooling.pool_scores``): every training point scored
        against its best candidate over all seeds of that radius (``metric`` "l2" or "cosine" (direction
        only); ``threshold``: the distance below which a point counts as recovered). A list of
        ``PooledResult``, one per radius, with each restart's final KKT loss."""
        return [pool_scores(self.X, c, metric=metric, threshold=threshold, kkt=k)
                for c, k in zip(self.candidates, self.kkt)]

    def plot(self, **options):
        return plot_init_radius(self, **options)

    def rows(self) -> list[dict]:
        rates, chance = self.rates, self.chance_median
        return [{"radius": r, "kkt_rel": k, "nearest_dist": nd, "direction": dr, "candidate_norm": cn,
                 "leaked": rate[0], "chance": ch[0], "vs_prior": rate[1], "by_direction": rate[2]}
                for r, k, nd, dr, cn, rate, ch in zip(self.radii, self.kkt.mean(1) / self.theta_sq,
                                                      self.nearest.mean(1), self.direction.mean(1),
                                                      self.candidate_norm.mean(1), rates, chance)]


def verdicts(X, candidates, held_out, radius: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three calibrated verdicts of :data:`NULLS` for one radius's pooled ``candidates`` ((S, m, d) or (M, d))
    against training points ``X``: ``held_out`` (N, d) fresh points of the data's sphere, ``radius`` the attacker's
    (his prior: the sphere of that radius), ``seed`` the null draws'. Returns ``score`` (3, n), ``threshold``
    (3, n) and ``chance`` (3, 20), as :class:`InitRadiusResult` holds them per radius."""
    l2, cosine = calibration.Scoring("l2"), calibration.Scoring("cosine")
    found = [calibration.beats_null_quantile(X, candidates, null, scoring=scoring, chance_draws=_CHANCE_DRAWS,
                                             seed=seed)
             for null, scoring in ((held_out, l2), (Sphere(radius), l2), (held_out, cosine))]
    return tuple(torch.stack([getattr(v, f) for v in found]) for f in ("score", "threshold", "chance"))


@experiment("init_radius", config=InitRadiusConfig, result=InitRadiusResult,
            summary="paper Fig. 2a: attack initialised on spheres of several radii",
            variants={"subspace_radius": ("Fig. 2a with data in a subspace (Theorem 4)", {"subspace": True}),
                      "deep_init_radius": ("Fig. 2a on a 3-layer homogeneous network", {"arch": "mlp3"})})
def init_radius(config: InitRadiusConfig, run: Run) -> dict:
    """Paper Fig. 2a: does the attack's initialisation radius decide what it finds?

    The attack (no prior) is initialised uniformly on the sphere of each radius in ``config.radii``, the data lie
    on the unit sphere. By the scale symmetry (x′, λ′) → (cx′, λ′/c) the KKT loss cannot tell a candidate set
    from its rescaled copy, and by Theorem 4 (chapter "The initialisation radius"), when the data span only a
    subspace, KKT sets exist at any distance. With ``config.scale_free`` (the book's presets) the attack at radius
    c is the radius-1 attack rescaled (:func:`scale_free_attack`). Each radius's pooled candidates are scored
    against two nulls of the same size (``calibration.beats_null_quantile``, 100 null sets, 95 % quantile):
    fresh points of the data's sphere (``data.sphere_held_out``) and the attacker's prior.

    What ``python -m reconleak_core reproduce init_radius --seed S`` shows (book preset, checked on seeds 0–5):
    the final KKT loss at every radius within a factor 2 of the best radius's (medians over restarts); the share
    of training points leaked against fresh data highest at radius 1 and above that null's chance, and at most
    20 % at the wrong radii, whose candidates stay near their own radius (a candidate of norm 0.3 in the right
    direction is 0.7 from its point, about as close as the nearest of 80 fresh points of the sphere of ℝ¹⁰ can
    be); the direction-only score (1 − cos) finds about as many points at every radius. Leaked against the
    attacker's prior is a weaker test away from radius 1: the prior's points lie on the wrong sphere, farther
    from the data than the attack's candidates. The subspace variant (``subspace_radius``) leaks about at the
    chance rate against fresh data of its subspace even at radius 1: the attack does not know the subspace, and
    part of every candidate stays outside it (chapter "The initialisation radius").
    """
    tn = run.network(config.net)
    R, S, n = len(config.radii), config.seeds, config.net.n
    seeds = attack_seeds(config.seed, S)
    m = config.candidates_per_point * n
    sphere = (lambda r: Sphere(r)) if config.prior == "sphere" else (lambda r: None)  # noqa: E731
    if config.scale_free:   # one attack per radius: its step sizes, λ′ and hinge are the radius's own
        parts = [run.attack(tn.net, tn.X, tn.y, m, scale_free_attack(config.attack, r), init="sphere",
                            init_radius=r, seeds=seeds, prior=sphere(r)) for r in config.radii]
        kkt = torch.cat([p.kkt.double().reshape(S) for p in parts])
        cand = torch.cat([p.candidates.double().reshape(S, m, -1) for p in parts])
        lam = torch.cat([p.lam.double().reshape(S, m) for p in parts])
    else:
        radii = [r for r in config.radii for _ in seeds]
        res = run.attack(tn.net, tn.X, tn.y, m, config.attack, init="sphere", init_radius=radii, seeds=seeds * R,
                         prior=None if config.prior is None else [Sphere(r) for r in radii])
        kkt, cand, lam = res.kkt.double(), res.candidates.double(), res.lam.double()
    cand = cand.reshape(R * S, m, -1)
    dist = result_tensor([distances(tn.X, c) for c in cand]).reshape(R, S, 3)
    held = sphere_held_out(HELD_OUT, n, config.net.d, config.net.subspace_dim, seed=config.net.seed)[0]
    pooled = cand.reshape(R, S, m, -1)
    score, threshold, chance = map(torch.stack, zip(*(verdicts(tn.X, pooled[k], held, r, config.seed)
                                                       for k, r in enumerate(config.radii))))
    cert = certificate(tn.net, tn.X, tn.y)
    return dict(radii=result_tensor(config.radii), kkt=kkt.reshape(R, S), nearest=dist[..., 0],
                matched=dist[..., 1], direction=dist[..., 2],
                candidate_norm=cand.norm(dim=-1).median(dim=-1).values.reshape(R, S),
                eps_rel=float(cert.eps_rel), theta_sq=float(cert.norm) ** 2, X=tn.X, y=tn.y, candidates=pooled,
                lam=lam.reshape(R, S, m), score=score, threshold=threshold, chance=chance)
