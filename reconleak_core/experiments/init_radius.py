"""Paper Fig. 2a: the attack initialised on spheres of several radii (``init_radius``; its 3-layer variant
``deep_init_radius``). Config, result, computation and figure of the experiment (chapter "The initialisation
radius"); Theorem 4."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reconleak_core.attack import AttackConfig, Sphere
from reconleak_core.certificate import certificate
from reconleak_core.checks import as_tensor, check_reals, set_frozen
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

__all__ = ["InitRadiusConfig", "InitRadiusResult", "init_radius", "plot_init_radius"]


@dataclass(frozen=True)
class InitRadiusConfig:
    """Fig. 2a: the attack initialised on spheres of several ``radii`` (× ``seeds``), one batched call.

    ``net`` is trained on the unit sphere of a subspace; the attack has no prior, m = ``candidates_per_point``·n
    candidates, settings ``attack``; member seeds are ``seed``, ``seed + 1``, ... and are shared across radii,
    so the radii differ only by the radius (same random directions). Presets: :meth:`preset`.
    ``prior="sphere"``: every member also keeps its candidates on the sphere of its own init radius
    (``attack.Sphere(radius)``, projected): the attacker who believes the data lie on that sphere (the
    paper's Fig. 2a with the sphere prior at a right or a wrong radius); ``None`` (default): no prior.
    """

    net: NetSpec = NetSpec()
    radii: tuple = (0.1, 0.3, 1.0, 3.0, 10.0)
    seeds: int = 2
    candidates_per_point: int = 2
    attack: AttackConfig = AttackConfig(steps=2000)
    seed: int = 0
    prior: str | None = None

    def __post_init__(self):
        check_common(self)
        set_frozen(self, radii=check_reals(self.radii, "radii", positive=True))
        if self.prior not in (None, "sphere"):
            raise ValueError(f"prior must be None (no prior) or 'sphere' (the sphere of each member's init "
                             f"radius, projected), got {self.prior!r}")

    def networks(self) -> tuple:
        """The NetSpecs this configuration trains (``run.network``): ``(net,)``."""
        return (self.net,)

    @classmethod
    def preset(cls, scale: str = "book", *, arch: str = "two_layer", seed: int = 0) -> InitRadiusConfig:
        """``"test"`` (seconds), ``"book"`` (default) or ``"paper"`` sizes; ``arch="mlp3"`` for the deep variant."""
        scale = check_scale(scale)
        if scale == "test":
            net = NetSpec(n=8, d=8, subspace_dim=4, width=30, train=TrainConfig(steps=1500), arch=arch,
                          init_scale=0.5, seed=seed)
            return cls(net, radii=(0.1, 1.0, 10.0), seeds=1, attack=AttackConfig(steps=200), seed=seed)
        if scale == "book":
            if arch == "two_layer":
                return cls(NetSpec(seed=seed), seed=seed)
            # the generic (vmapped) KKT loss of the 3-layer net is slower: a narrower net, fewer attack steps; its
            # training step 0.1 (the default 0.3 switches hidden units off for good on some draws: margin 0)
            return cls(NetSpec(arch=arch, width=50, init_scale=init_scale_of(arch), train=TrainConfig(lr=0.1),
                               seed=seed), attack=AttackConfig(steps=1000), seed=seed)
        net = NetSpec(n=100, d=100, subspace_dim=20, width=1000, train=TrainConfig(steps=100_000), arch=arch,
                      init_scale=init_scale_of(arch), seed=seed)
        return cls(net, radii=(0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0), seeds=4, attack=AttackConfig.paper(50_000),
                   seed=seed)


def _per_radius(values, n: int) -> torch.Tensor:
    """Mean over everything but the first axis (over the attack seeds), as a 1-D tensor of length n."""
    return as_tensor(values, "values", dtype=torch.float64).reshape(n, -1).mean(dim=1)


def plot_init_radius(result):
    """:func:`init_radius` (paper Fig. 2a): final KKT loss and reconstruction distances against the attack's
    init radius, means over the attack seeds. Returns the ``Figure``."""
    r = result.radii
    fig, axes = two_panels()
    plot_curves(r, {"kkt_rel": _per_radius(result.kkt / result.theta_sq, len(r))}, xlabel="attack init radius",
                ylabel="final KKT loss / ‖θ̂‖² (kkt_rel)", title="the attack's objective", logx=True, logy=True,
                ax=axes[0])
    plot_curves(r, {"nearest": _per_radius(result.nearest, len(r)), "matched": _per_radius(result.matched, len(r))},
                xlabel="attack init radius", ylabel="distance to the training set",
                title="reconstruction quality", logx=True, logy=True, ax=axes[1])
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
    kept for plots."""

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

    name = "init_radius"
    _json_fields = ("radii", "kkt", "nearest", "matched", "direction", "candidate_norm", "eps_rel", "theta_sq")
    columns = {
        "radius": "the attack's initialisation radius (the data lie on radius 1)",
        "kkt_rel": "final KKT loss / ‖θ̂‖², mean over attack seeds (0: a perfect KKT set)",
        "nearest_dist": "mean distance from a training point to its nearest candidate",
        "matched_dist": "mean distance of a one-to-one (Hungarian) matching of training points and candidates",
        "direction": "mean 1 − cos∠ to the best-aligned candidate (blind to the candidates' scale)",
        "candidate_norm": "median norm of the candidates",
    }

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
        return [{"radius": r, "kkt_rel": k, "nearest_dist": nd, "matched_dist": md, "direction": dr,
                 "candidate_norm": cn}
                for r, k, nd, md, dr, cn in zip(self.radii, self.kkt.mean(1) / self.theta_sq, self.nearest.mean(1),
                                                self.matched.mean(1), self.direction.mean(1),
                                                self.candidate_norm.mean(1))]


@experiment("init_radius", config=InitRadiusConfig, result=InitRadiusResult,
            summary="paper Fig. 2a: attack initialised on spheres of several radii",
            variants={"deep_init_radius": ("Fig. 2a on a 3-layer homogeneous network", {"arch": "mlp3"})})
def init_radius(config: InitRadiusConfig, run: Run) -> dict:
    """Paper Fig. 2a: does the attack's initialisation radius decide what it finds?

    Theorem 4 (chapter "The initialisation radius"): when the data span a subspace, KKT sets exist at any
    distance, so the KKT loss alone cannot tell them apart. The attack (no prior) is initialised uniformly on
    the sphere of each radius in ``config.radii`` (all radii × seeds in ONE batched attack). Expected: final KKT
    losses of the same order at every radius while the reconstruction distance is smallest near the true
    radius (1) and grows away from it.
    """
    tn = run.network(config.net)
    R, S = len(config.radii), config.seeds
    seeds = attack_seeds(config.seed, S)
    radii = [r for r in config.radii for _ in seeds]
    prior = None if config.prior is None else [Sphere(r) for r in radii]
    res = run.attack(tn.net, tn.X, tn.y, config.candidates_per_point * config.net.n, config.attack,
                     init="sphere", init_radius=radii, seeds=seeds * R, prior=prior)
    cand = res.candidates.to(torch.float64)
    dist = result_tensor([distances(tn.X, c) for c in cand]).reshape(R, S, 3)
    cert = certificate(tn.net, tn.X, tn.y)
    return dict(radii=result_tensor(config.radii), kkt=res.kkt.double().reshape(R, S),
                nearest=dist[..., 0], matched=dist[..., 1], direction=dist[..., 2],
                candidate_norm=cand.norm(dim=-1).median(dim=-1).values.reshape(R, S),
                eps_rel=float(cert.eps_rel), theta_sq=float(cert.norm) ** 2, X=tn.X, y=tn.y,
                candidates=cand.reshape(R, S, *cand.shape[1:]), lam=res.lam.double().reshape(R, S, -1))
