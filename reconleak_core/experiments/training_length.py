"""Certificate ε, split distance and leakage along one training run (``training_length``; Theorems 5, 8, 9).
Config, result, computation and figure of the experiment (chapter "Approximate KKT points and training time")."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from reconleak_core.attack import AttackConfig
from reconleak_core.certificate import certificate
from reconleak_core.checks import check_int
from reconleak_core.experiments.core import (
    Result,
    Run,
    attack_seeds,
    check_common,
    check_scale,
    distances,
    experiment,
    result_tensor,
)
from reconleak_core.lemmas import achievable_split_distance
from reconleak_core.train import TrainConfig
from reconleak_core.trained_nets import NetSpec
from reconleak_core.viz import plot_curves, subplots

__all__ = ["TrainingLengthConfig", "TrainingLengthResult", "training_length", "plot_training_length"]


@dataclass(frozen=True)
class TrainingLengthConfig:
    """Networks saved along ONE training run (``net.checkpoints`` and ``net.steps``); for each, the certificate
    (ε_rel, δ), the achievable splitting distance (``lemmas.achievable_split_distance``, Theorems 5, 8, 9) and
    the attack's reconstruction distances (no prior, ``seeds`` members in one batched call per network).
    ``refine_steps``: the linear-programming refinement rounds of the split directions (0: the ℓ2 relaxation).
    ``net`` is the run (a sphere NetSpec with ``checkpoints``); every attack has m = ``candidates_per_point``·n
    candidates and the settings ``attack``; its members are seeded ``seed``, ``seed + 1``, ...

    The default network keeps a component of its initialisation outside the data's span (``in_span=False``):
    then no direction splits a point for free and the split budget is finite; it grows as training shrinks
    that component relative to ‖θ‖ (the measured form of "better-trained networks leak less"). Its data lie on a
    5-dimensional subspace of ℝ¹⁰: on a 3-dimensional one some draws put opposite labels so close together that
    the recipe does not separate them (``tests/test_presets.py`` checks seeds 0–2).
    """

    net: NetSpec = NetSpec(subspace_dim=5, in_span=False, init_scale=0.5, train=TrainConfig(steps=12_000),
                           checkpoints=(3000, 6000))
    seeds: int = 1
    candidates_per_point: int = 2
    attack: AttackConfig = AttackConfig(steps=1500)
    refine_steps: int = 5
    seed: int = 0

    def __post_init__(self):
        check_common(self)
        check_int(self.refine_steps, "refine_steps", 0)
        if self.net.arch != "two_layer":
            raise ValueError("training_length needs arch='two_layer' (the splitting lemmas are stated for it)")

    def networks(self) -> tuple:
        """The NetSpecs this configuration trains (``run.network``): ``(net,)``."""
        return (self.net,)

    @classmethod
    def preset(cls, scale: str = "book", *, seed: int = 0) -> TrainingLengthConfig:
        """``scale`` ``"test"`` (seconds), ``"book"`` (chapter 5) or ``"paper"`` sizes; ``seed`` draws the data,
        initialises the network and seeds the attacks."""
        scale = check_scale(scale)
        if scale == "test":
            net = NetSpec(n=8, d=8, subspace_dim=4, width=30, in_span=False, init_scale=0.5,
                          train=TrainConfig(steps=2000), checkpoints=(1000,), seed=seed)
            return cls(net, seeds=1, attack=AttackConfig(steps=200), refine_steps=0, seed=seed)
        if scale == "book":
            return cls(dataclasses.replace(cls.net, seed=seed), seed=seed)
        net = NetSpec(n=100, d=100, subspace_dim=20, width=1000, in_span=False, train=TrainConfig(steps=1_000_000),
                      checkpoints=(1000, 10_000, 100_000), seed=seed)
        return cls(net, seeds=4, attack=AttackConfig.paper(50_000), seed=seed)


@dataclass(frozen=True, eq=False)
class TrainingLengthResult(Result):
    """Per checkpoint (``steps``): ``eps_rel``, ``delta``, ``split_distance`` (a KKT set by splitting exists
    at any distance below it: a minimum over support points), ``split_reach``, ``split_median`` (the median over
    support points of each one's own split budget), and the attack's ``nearest`` / ``matched`` distances and final
    ``kkt`` loss (means over seeds); ``config`` is the configuration that ran."""

    config: TrainingLengthConfig
    steps: torch.Tensor
    eps_rel: torch.Tensor
    delta: torch.Tensor
    split_distance: torch.Tensor
    split_reach: torch.Tensor
    split_median: torch.Tensor
    nearest: torch.Tensor
    matched: torch.Tensor
    kkt: torch.Tensor

    name = "training_length"
    _json_fields = ("steps", "eps_rel", "delta", "split_distance", "split_reach", "split_median", "nearest",
                    "matched", "kkt")
    columns = {
        "steps": "training steps of the checkpoint",
        "eps_rel": "its certificate: distance to a KKT point / ‖θ‖",
        "split_distance": "distance at which a split KKT set exists (Theorems 5, 8, 9; min over support points)",
        "split_median": "median over support points of each one's split budget",
        "nearest_dist": "the attack's mean distance from a training point to its nearest candidate",
        "matched_dist": "the attack's mean matched (Hungarian) distance",
        "kkt_loss": "the attack's final KKT loss",
    }

    def plot(self, **options):
        return plot_training_length(self, **options)

    def rows(self) -> list[dict]:
        return [{"steps": s, "eps_rel": e, "split_distance": sd, "split_median": sm, "nearest_dist": nd,
                 "matched_dist": md, "kkt_loss": k}
                for s, e, sd, sm, nd, md, k in zip(self.steps, self.eps_rel, self.split_distance, self.split_median,
                                                   self.nearest, self.matched, self.kkt)]


@experiment("training_length", config=TrainingLengthConfig, result=TrainingLengthResult,
            summary="certificate ε, split distance and leakage along one training run")
def training_length(config: TrainingLengthConfig, run: Run) -> dict:
    """Does training longer (a smaller certificate ε) leave more room for far KKT sets, and less leakage?

    Theorems 5, 8 and 9 (chapter "Approximate KKT and training time"): the closer θ is to a KKT point, the
    farther split-based alternative KKT sets reach. Measured on checkpoints of ONE run: ε_rel, the achievable
    split distance, and the attack's reconstruction distance.
    """
    tn = run.network(config.net)
    out = {k: [] for k in ("eps_rel", "delta", "split_distance", "split_reach", "split_median", "nearest",
                           "matched", "kkt")}
    seeds = attack_seeds(config.seed, config.seeds)
    for net in tn.nets:
        cert = certificate(net, tn.X, tn.y)
        reach = achievable_split_distance(net, tn.X, tn.y, cert.lam, refine_steps=config.refine_steps)
        res = run.attack(net, tn.X, tn.y, config.candidates_per_point * config.net.n, config.attack, seeds=seeds)
        dist = result_tensor([distances(tn.X, c)[:2] for c in res.candidates])
        for k, v in (("eps_rel", cert.eps_rel), ("delta", cert.delta), ("split_distance", reach.distance),
                     ("split_reach", reach.reach), ("split_median", reach.budgets[reach.support].quantile(0.5)),
                     ("nearest", dist[:, 0].mean()), ("matched", dist[:, 1].mean()),
                     ("kkt", res.kkt.double().mean())):
            out[k].append(float(v))
    return dict(steps=torch.tensor(tn.steps), **{k: result_tensor(v) for k, v in out.items()})


def plot_training_length(result, *, figsize=(9.3, 3.3)):
    """``experiments.training_length``: certificate ε against steps, split distance and attack distances
    against ε (longer training to the right). Three panels, by default 9.3 inches wide for a notebook cell
    tagged ``full-width`` (about 935 px in a 1280 px window); ``figsize=(COLUMN_INCHES, 2.8)`` fits the
    column. ``result`` is a :class:`TrainingLengthResult`. Returns the ``Figure``."""
    fig, axes = subplots(1, 3, figsize=figsize)
    plot_curves(result.steps, {"ε / ‖θ̂‖": result.eps_rel}, xlabel="training steps", ylabel="relative ε",
                title="certificate", logx=True, logy=True, ax=axes[0])
    plot_curves(result.eps_rel, {"split distance (min)": result.split_distance,
                                 "median point's budget": result.split_median}, xlabel="relative ε",
                ylabel="distance", title="far KKT sets", logx=True, logy=True, ax=axes[1])
    plot_curves(result.eps_rel, {"nearest": result.nearest, "matched": result.matched}, xlabel="relative ε",
                ylabel="distance", title="attack without a prior", logx=True, ax=axes[2])
    lo, hi = axes[1].get_ylim()
    axes[1].set_ylim(lo, hi * (hi / lo) ** 0.5)   # headroom on the log axis: the legend above the curves
    for ax in axes[1:]:
        ax.invert_xaxis()
    fig.tight_layout()
    return fig
