"""Better-trained networks leak less? The leak of Haim et al. with the right prior, calibrated against chance, on
the checkpoints of ONE training run on centred digits (``training_leak``; Theorems 5, 8, 9). Config, result,
computation and figure of the experiment (chapter "Approximate KKT points and training time")."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from reconleak_core.attack import AttackConfig
from reconleak_core.calibration import Scoring, beats_held_out
from reconleak_core.certificate import certificate
from reconleak_core.checks import check_int, check_seed, set_frozen
from reconleak_core.data import DIGITS_IMAGE_SHAPE, digits_held_out
from reconleak_core.experiments.core import (
    Result,
    Run,
    check_box,
    check_scale,
    digits_spec,
    experiment,
    pixel_prior,
    result_tensor,
)
from reconleak_core.lemmas import achievable_split_distance
from reconleak_core.priors import Box
from reconleak_core.trained_nets import NetSpec
from reconleak_core.viz import two_panels

__all__ = ["TrainingLeakConfig", "TrainingLeakResult", "training_leak", "plot_training_leak"]


def _digits_run(scale: str, seed: int, checkpoints: tuple, width: int | None = None) -> NetSpec:
    """``digits_spec``'s network of ``scale``, initialised outside the data span (Theorem 9's finite split budget)
    and saved at ``checkpoints``; ``width`` replaces its width."""
    spec = digits_spec(scale, "two_layer", seed)
    return dataclasses.replace(spec, in_span=False, checkpoints=checkpoints, width=width or spec.width)


@dataclass(frozen=True)
class TrainingLeakConfig:
    """Leakage along ONE training run, where there is leakage to lose: ``net`` (centred digits, a two-layer
    network initialised outside the data span) is saved at its ``checkpoints`` and at the end; every saved network
    is attacked by ``restarts`` pooled attacks of m = ``candidates_per_point``·n candidates with the right prior,
    the pixel box ``box`` (``pooling.pooled_attack``, one batched call per network), and each training digit is
    scored by SSIM against its best pooled candidate and calibrated by rule (i) of
    :func:`~reconleak_core.calibration.beats_held_out`. Beside it: the checkpoint's certificate
    (``certificate.certificate``) and the split distance of Theorems 5, 8, 9
    (``lemmas.achievable_split_distance`` with ``refine_steps`` linear-programming rounds; 0: the ℓ2 relaxation).
    ``attack`` holds the attack's settings; ``seed`` seeds its first restart (the others follow).
    """

    net: NetSpec = _digits_run("book", 0, (100, 1000), width=300)
    box: tuple = (0.0, 1.0)
    restarts: int = 4
    candidates_per_point: int = 1
    attack: AttackConfig = AttackConfig(steps=1000)
    refine_steps: int = 0
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.net, NetSpec) or self.net.dataset != "digits" or self.net.arch != "two_layer":
            raise TypeError("net must be a two-layer NetSpec of digits (the splitting lemmas are stated for two "
                            "layers)")
        if not isinstance(self.attack, AttackConfig):
            raise TypeError(f"attack must be an AttackConfig, got {type(self.attack).__name__}")
        set_frozen(self, box=check_box(self.box))
        check_int(self.restarts, "restarts")
        check_int(self.candidates_per_point, "candidates_per_point")
        check_int(self.refine_steps, "refine_steps", 0)
        check_seed(self.seed)

    def networks(self) -> tuple:
        """The NetSpecs this configuration trains (``run.network``): ``(net,)``."""
        return (self.net,)

    @classmethod
    def preset(cls, scale: str = "book", *, seed: int = 0) -> TrainingLeakConfig:
        """``"test"``: 8 digits, width 100, saved at 100 and 600 steps, 2 restarts × 200 steps; ``"book"``: 20
        digits, width 300, saved at 100, 1000 and 10,000 steps, 4 restarts × 1000 steps; ``"paper"``: 200 digits,
        width 1000, saved at 100, 1000, 10,000 and 100,000 steps, 16 restarts × 50,000 steps. ``seed`` draws the
        digits, initialises the network and seeds the first restart; ``scale`` names the size."""
        scale = check_scale(scale)
        if scale == "test":
            return cls(_digits_run("test", seed, (100,)), restarts=2, attack=AttackConfig(steps=200), seed=seed)
        if scale == "book":
            return cls(_digits_run("book", seed, (100, 1000), width=300), seed=seed)
        return cls(_digits_run("paper", seed, (100, 1000, 10_000)), restarts=16, attack=AttackConfig.paper(50_000),
                   refine_steps=5, seed=seed)


@dataclass(frozen=True, eq=False)
class TrainingLeakResult(Result):
    """Per saved network (``steps``, C of them): the certificate's ``eps_rel`` (C,), the split distance of
    Theorems 5, 8, 9 ``split_distance`` (C,: a split KKT set exists at any smaller distance from the training set,
    a minimum over support points) and ``split_median`` (C,: the median over support points of each one's own
    split budget), each restart's final KKT loss ``kkt`` (C, R), each training digit's SSIM with its best pooled
    candidate ``ssim`` (C, n) and that candidate ``best`` (C, n, 64, pixel coordinates), beside the training
    ``images`` (n, 64).

    Calibrated against chance (``calibration.beats_held_out``, rule (i)): ``threshold`` (n,) is each training
    digit's best SSIM over the ``held_out`` other digits of the data set (never seen by the network), the same at
    every checkpoint; ``leaked`` (C, n) whether the attack beats it and ``rate`` (C,) the share leaked. ``chance``
    (draws,) is the same rate for held-out digits in place of the attack's candidates (as many, scored against the
    remaining ones) and ``prior_chance`` (draws,) for samples of the attacker's prior (uniform pixels in ``box``);
    both depend on the number of candidates only, the same at every checkpoint. ``config`` is the configuration
    that ran; ``image_shape`` the digits' (C, H, W)."""

    config: TrainingLeakConfig
    steps: torch.Tensor
    eps_rel: torch.Tensor
    split_distance: torch.Tensor
    split_median: torch.Tensor
    kkt: torch.Tensor
    ssim: torch.Tensor
    best: torch.Tensor
    images: torch.Tensor
    threshold: torch.Tensor
    leaked: torch.Tensor
    rate: torch.Tensor
    chance: torch.Tensor
    prior_chance: torch.Tensor
    held_out: int
    image_shape: tuple = DIGITS_IMAGE_SHAPE

    name = "training_leak"
    # every number and both image sets (pixel coordinates), so that a run can be re-scored elsewhere
    _json_fields = ("steps", "eps_rel", "split_distance", "split_median", "rate", "chance", "prior_chance",
                    "held_out", "leaked", "ssim", "threshold", "kkt", "images", "best")
    columns = {
        "steps": "training steps of the checkpoint",
        "eps_rel": "its certificate: distance to a KKT point / ‖θ‖",
        "split_distance": "distance at which a split KKT set exists (Theorems 5, 8, 9; min over support points)",
        "leaked": "share of training digits whose best reconstruction beats every held-out digit (SSIM)",
        "chance_held_out": "the same share for held-out digits in place of the attack's candidates (median)",
        "chance_prior": "the same share for samples of the attacker's prior, uniform pixels (median)",
        "median_ssim": "median over training digits of the SSIM with their best candidate",
        "kkt_median": "median final KKT loss over restarts",
    }

    def plot(self, **options):
        return plot_training_leak(self, **options)

    def rows(self) -> list[dict]:
        chance, prior = self.chance.quantile(0.5).item(), self.prior_chance.quantile(0.5).item()
        return [{"steps": int(s), "eps_rel": e.item(), "split_distance": d.item(), "leaked": r.item(),
                 "chance_held_out": chance, "chance_prior": prior, "median_ssim": q.quantile(0.5).item(),
                 "kkt_median": k.quantile(0.5).item()}
                for s, e, d, r, q, k in zip(self.steps, self.eps_rel, self.split_distance, self.rate, self.ssim,
                                            self.kkt)]


@experiment("training_leak", config=TrainingLeakConfig, result=TrainingLeakResult,
            summary="better-trained nets leak less? pooled attacks with the right prior along one run")
def training_leak(config: TrainingLeakConfig, run: Run) -> dict:
    """Better-trained ⇒ less leakage? The calibrated leak with the right prior on checkpoints of ONE run.

    Theorems 5, 8 and 9 (chapter "Approximate KKT and training time") say that the closer θ is to a KKT
    point (smaller certificate ε), the farther equally good KKT sets reach; this measures, at each checkpoint,
    ε_rel (``certificate.certificate``), the split distance (``lemmas.achievable_split_distance``) and what
    pooled attacks with the right prior (the pixel box) leak beyond every held-out digit of the data set
    (``calibration.beats_held_out``, rule (i)), with its chance rate. The attack gets each network and the prior
    only; the training digits and the held-out ones enter the scoring alone. Nothing here guarantees a monotone
    trend; the chapter reports what it finds.
    """
    tn = run.network(config.net)
    spec = config.net
    prior = pixel_prior(config.box, tn.mean)
    out = {k: [] for k in ("eps_rel", "split_distance", "split_median", "kkt", "ssim", "best", "candidates")}
    for net in tn.nets:
        cert = certificate(net, tn.X, tn.y)
        reach = achievable_split_distance(net, tn.X, tn.y, cert.lam, refine_steps=config.refine_steps)
        res = run.pooled_attack(net, tn.X, tn.y, restarts=config.restarts,
                                candidates_per_point=config.candidates_per_point, prior=prior, mean=tn.mean,
                                image_shape=DIGITS_IMAGE_SHAPE, config=config.attack, seed=config.seed)
        for k, v in (("eps_rel", cert.eps_rel), ("split_distance", reach.distance),
                     ("split_median", reach.budgets[reach.support].quantile(0.5)), ("kkt", res.kkt),
                     ("ssim", res.score), ("best", res.best_candidates), ("candidates", res.candidates)):
            out[k].append(result_tensor(v))
    # the threshold (the best held-out digit per training digit) and both chance rates depend on the number of
    # candidates only, not on the checkpoint: one calibration serves every checkpoint
    held = digits_held_out(spec.n, spec.classes, spec.seed, center=spec.center).pixels
    scoring = Scoring("ssim", image_shape=DIGITS_IMAGE_SHAPE)
    images, candidates = tn.pixels, out.pop("candidates")
    verdict = beats_held_out(images, candidates[-1], held, scoring=scoring, seed=config.seed)
    on_prior = beats_held_out(images, candidates[-1], held, scoring=scoring, null=Box(*config.box), seed=config.seed)
    ssim = torch.stack(out.pop("ssim"))
    leaked = scoring.better(ssim, verdict.threshold)
    return dict(steps=torch.tensor(tn.steps), ssim=ssim, images=images, threshold=verdict.threshold, leaked=leaked,
                rate=leaked.double().mean(dim=1), chance=verdict.chance, prior_chance=on_prior.chance,
                held_out=held.shape[0], **{k: torch.stack(v) for k, v in out.items()})


_TICKS = tuple(m * 10.0 ** e for e in range(-4, 1) for m in (1, 2, 5))


def plot_training_leak(results, *, labels=None):
    """``experiments.training_leak`` over one or several runs (``results``: a result or a sequence of them, e.g.
    one per data draw; ``labels``: one legend entry per run, default ``draw <seed>``): the certificate ε_rel
    against training steps (left), and the calibrated leak rate against ε_rel (right, better trained to the right),
    with the chance band of the held-out null (5–95 % over its draws, pooled over the runs) and its median.
    Returns the ``Figure``."""
    results = [results] if isinstance(results, TrainingLeakResult) else list(results)
    if not results or not all(isinstance(r, TrainingLeakResult) for r in results):
        raise TypeError("results must be a TrainingLeakResult or a non-empty sequence of them")
    labels = [f"draw {r.config.net.seed}" for r in results] if labels is None else list(labels)
    if len(labels) != len(results):
        raise ValueError(f"labels must have one entry per result ({len(results)}), got {len(labels)}")
    fig, (left, right) = two_panels()
    for r, label in zip(results, labels):
        left.plot(r.steps, r.eps_rel, marker="o", label=label)
        right.plot(r.eps_rel, r.rate, marker="o", label=label)
    chance = torch.cat([r.chance for r in results])
    lo, mid, hi = (chance.quantile(q).item() for q in (0.05, 0.5, 0.95))
    right.axhspan(lo, hi, color="0.85", zorder=0, label="chance (held-out digits, 5–95 %)")
    right.axhline(mid, color="0.5", lw=1, ls="--", zorder=0)
    left.set(xscale="log", yscale="log", xlabel="training steps", ylabel="certificate ε_rel",
             title="one run per draw")
    right.set(xscale="log", xlabel="certificate ε_rel", ylabel="share leaked (calibrated)",
              title="pooled attack, pixel-box prior", ylim=(-0.03, 1.03))
    right.invert_xaxis()
    eps = torch.cat([r.eps_rel for r in results])
    for ax, axis in ((left, "y"), (right, "x")):    # 1-2-5 ticks: ε_rel spans about one decade
        ticks = [t for t in _TICKS if eps.min().item() / 1.3 <= t <= eps.max().item() * 1.3]
        ax.minorticks_off()
        getattr(ax, f"set_{axis}ticks")(ticks, [f"{t:g}" for t in ticks])
    left.set_xticks([int(s) for s in results[0].steps], [f"{int(s):,}" for s in results[0].steps])
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
