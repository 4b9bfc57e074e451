"""Better-trained networks leak less? Pooled attacks with the right prior on the checkpoints of one training run
(``training_leak``; Theorems 5, 8, 9). Config, result, computation and figure of the experiment (chapter
"Approximate KKT points and training time")."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from reconleak_core.attack import AttackConfig, Sphere
from reconleak_core.certificate import certificate
from reconleak_core.checks import check_int, check_positive, check_seed
from reconleak_core.experiments.core import Result, Run, check_scale, experiment, result_tensor
from reconleak_core.kkt import normalize_margin
from reconleak_core.pooling import pool_scores
from reconleak_core.train import TrainConfig
from reconleak_core.trained_nets import NetSpec
from reconleak_core.viz import plot_curves, two_panels

__all__ = ["TrainingLeakConfig", "TrainingLeakResult", "training_leak", "plot_training_leak"]


@dataclass(frozen=True)
class TrainingLeakConfig:
    """Leakage along ONE training run, where there is leakage to lose: ``net`` is saved at its
    ``checkpoints`` and at the end; every saved network is attacked by ``restarts`` pooled attacks
    (``pooling.pooled_attack``, one batched call per network) with the prior the data satisfy, the sphere
    ‖x‖ = ``radius`` (projected); each training point is scored by its distance to its nearest pooled
    candidate, and counts as recovered within ``threshold``. The default is chapter "Reconstruction
    attacks"' circle (n = 10 points on the unit circle of ℝ², where the sphere prior leaks).
    """

    net: NetSpec = NetSpec(n=10, d=2, subspace_dim=None, width=1000, train=TrainConfig(steps=3000),
                           checkpoints=(300, 1000))
    restarts: int = 4
    candidates_per_point: int = 2
    attack: AttackConfig = AttackConfig(steps=800)
    radius: float = 1.0
    threshold: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.net, NetSpec) or self.net.dataset != "sphere" or self.net.arch != "two_layer":
            raise TypeError("net must be a two-layer NetSpec of sphere data")
        if not isinstance(self.attack, AttackConfig):
            raise TypeError(f"attack must be an AttackConfig, got {type(self.attack).__name__}")
        check_int(self.restarts, "restarts")
        check_int(self.candidates_per_point, "candidates_per_point")
        check_positive(self.radius, "radius")
        check_positive(self.threshold, "threshold")
        check_seed(self.seed)

    def networks(self) -> tuple:
        """The NetSpecs this configuration trains (``run.network``): ``(net,)``."""
        return (self.net,)

    @classmethod
    def preset(cls, scale: str = "book", *, seed: int = 0) -> TrainingLeakConfig:
        """``"test"`` (seconds), ``"book"`` (default) or ``"paper"`` (longer training and attacks)."""
        scale = check_scale(scale)
        if scale == "test":
            net = NetSpec(n=6, d=2, subspace_dim=None, width=50, train=TrainConfig(steps=400),
                          checkpoints=(100,), seed=seed)
            return cls(net, restarts=2, attack=AttackConfig(steps=100), seed=seed)
        if scale == "book":
            return cls(dataclasses.replace(cls.net, seed=seed), seed=seed)
        net = dataclasses.replace(cls.net, train=TrainConfig(steps=100_000),
                                  checkpoints=(300, 1000, 10_000), seed=seed)
        return cls(net, restarts=16, attack=AttackConfig.paper(20_000), seed=seed)


@dataclass(frozen=True, eq=False)
class TrainingLeakResult(Result):
    """Per saved network (``steps``, C of them): the certificate's ``eps_rel`` (C,), each restart's final
    KKT loss ``kkt`` (C, R) relative to ‖θ̂‖² (``kkt_rel``), every training point's distance to its
    nearest pooled candidate ``distance`` (C, n) and direction-only distance ``direction`` (C, n, 1 − cos),
    the ``fraction`` recovered within the threshold (C,) and their ``median`` distance (C,); the
    ``candidates`` (C, R·m, d), the training points ``X`` and labels ``y`` for plots."""

    config: TrainingLeakConfig
    steps: torch.Tensor
    eps_rel: torch.Tensor
    kkt_rel: torch.Tensor
    distance: torch.Tensor
    direction: torch.Tensor
    fraction: torch.Tensor
    median: torch.Tensor
    candidates: torch.Tensor
    X: torch.Tensor
    y: torch.Tensor

    name = "training_leak"
    _json_fields = ("steps", "eps_rel", "kkt_rel", "fraction", "median")
    columns = {
        "steps": "training steps of the checkpoint",
        "eps_rel": "its certificate: distance to a KKT point / ‖θ‖",
        "kkt_rel": "median final KKT loss / ‖θ̂‖² over restarts",
        "recovered": "share of training points with a pooled candidate within the threshold (not calibrated)",
        "median_dist": "median distance from a training point to its nearest pooled candidate",
    }

    def plot(self, **options):
        return plot_training_leak(self, **options)

    def rows(self) -> list[dict]:
        return [{"steps": s, "eps_rel": e, "kkt_rel": k.quantile(0.5).item(), "recovered": f, "median_dist": m}
                for s, e, k, f, m in zip(self.steps, self.eps_rel, self.kkt_rel, self.fraction, self.median)]


@experiment("training_leak", config=TrainingLeakConfig, result=TrainingLeakResult,
            summary="better-trained nets leak less? pooled attacks with the right prior along one run")
def training_leak(config: TrainingLeakConfig, run: Run) -> dict:
    """Better-trained ⇒ less leakage? Pooled attacks with the right prior on checkpoints of ONE run.

    Theorems 5, 8 and 9 (chapter "Approximate KKT and training time") say that the closer θ is to a KKT
    point (smaller certificate ε), the farther equally good KKT sets reach; this measures what a pooled
    attack with the right prior recovers from each checkpoint, beside the checkpoint's ε_rel
    (``certificate.certificate``). Nothing here guarantees a monotone trend; the chapter reports what it finds.
    """

    tn = run.network(config.net)
    out = {k: [] for k in ("eps_rel", "kkt_rel", "distance", "direction", "fraction", "median", "candidates")}
    for net in tn.nets:
        cert = certificate(net, tn.X, tn.y)
        theta_sq = sum((p.detach().double() ** 2).sum() for p in normalize_margin(net, tn.X, tn.y).parameters())
        pooled = run.pooled_attack(net, tn.X, tn.y, restarts=config.restarts,
                                   candidates_per_point=config.candidates_per_point, prior=Sphere(config.radius),
                                   metric="l2", threshold=config.threshold, config=config.attack, seed=config.seed)
        cos = pool_scores(tn.X, pooled.candidates, metric="cosine", threshold=0.0).score
        for k, v in (("eps_rel", cert.eps_rel), ("kkt_rel", pooled.kkt / theta_sq), ("distance", pooled.score),
                     ("direction", cos), ("fraction", pooled.fraction), ("median", pooled.median),
                     ("candidates", pooled.candidates)):
            out[k].append(result_tensor(v))
    return dict(steps=torch.tensor(tn.steps), X=tn.X, y=tn.y, **{k: torch.stack(v) for k, v in out.items()})


def plot_training_leak(result):
    """``experiments.training_leak``: the share of training points recovered and their median distance to the
    nearest pooled candidate against the checkpoint's certificate ε_rel (better trained to the right).
    Returns the ``Figure``."""
    fig, axes = two_panels()
    plot_curves(result.eps_rel, {"recovered": result.fraction}, xlabel="relative ε (certificate)",
                ylabel=f"share within {result.config.threshold:g}", title="leakage", logx=True, ax=axes[0])
    plot_curves(result.eps_rel, {"median distance": result.median}, xlabel="relative ε (certificate)",
                ylabel="distance", title="reconstruction quality", logx=True, ax=axes[1])
    for ax in axes:
        ax.invert_xaxis()
    fig.tight_layout()
    return fig
