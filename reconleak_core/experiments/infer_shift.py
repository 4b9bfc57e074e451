"""Open question 2: can the attacker estimate the secret shift from the weights alone (``infer_shift``)? Config,
result, computation and figure of the experiment (chapter "The secret-shift defense and open questions")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reconleak_core.attack import AttackConfig, Shift
from reconleak_core.checks import as_tensor, check_reals, set_frozen
from reconleak_core.experiments.core import (
    Result,
    Run,
    attack_seeds,
    check_common,
    check_scale,
    digits_spec,
    experiment,
    pixel_prior,
    result_tensor,
)
from reconleak_core.trained_nets import NetSpec
from reconleak_core.viz import plot_curves, two_panels

__all__ = ["InferShiftConfig", "InferShiftResult", "infer_shift", "plot_infer_shift"]


@dataclass(frozen=True)
class InferShiftConfig:
    """Open question 2: can the attacker estimate the secret shift from the weights alone?

    Method: for each true offset (one network each, the ``secret_shift`` networks), ONE batched attack whose
    members use the shifted box prior ``Shift(s, Box(lo, hi))`` (projected) for every trial shift s in
    ``trials``; the estimate is the trial whose attack reaches the lowest final KKT loss (the attacker's
    only evidence). ``seeds`` members per trial.

    ``net`` is the unshifted digits template (offset 0), trained shifted by each of ``offsets`` (the true secret
    offsets); ``box`` is the pixel box (lo, hi) that each trial shift s moves to (lo + s, hi + s); every member
    has m = ``candidates_per_point``·n candidates and the settings ``attack``; ``seed`` is the first attack seed
    (members ``seed``, ..., ``seed + seeds − 1`` for every trial).
    """

    net: NetSpec = digits_spec("book", "two_layer", 0)
    offsets: tuple = (0.0, 0.5, 1.0, 2.0)
    trials: tuple = (-0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5)
    box: tuple = (0.0, 1.0)
    seeds: int = 1
    candidates_per_point: int = 2
    attack: AttackConfig = AttackConfig(steps=1000)
    seed: int = 0

    def __post_init__(self):
        check_common(self)
        if self.net.dataset != "digits":
            raise ValueError(f"net must be a digits NetSpec (this experiment shifts images), got dataset "
                             f"{self.net.dataset!r}")
        if self.net.offset != 0:
            raise ValueError(f"net is the unshifted template: its offset must be 0, got {self.net.offset}")
        set_frozen(self, offsets=check_reals(self.offsets, "offsets"), trials=check_reals(self.trials, "trials"),
             box=check_reals(self.box, "box"))
        if len(self.box) != 2 or self.box[0] >= self.box[1]:
            raise ValueError(f"box must be (lo, hi) with lo < hi, got {self.box!r}")

    def networks(self) -> tuple:
        """The NetSpecs this configuration trains (``run.network``): the template shifted by every offset."""
        return tuple(self.net.shifted(offset) for offset in self.offsets)

    @classmethod
    def preset(cls, scale: str = "book", *, seed: int = 0) -> InferShiftConfig:
        """``"test"``: offsets 0 and 1, trials 0, 1 and 2, 200 attack steps; ``"book"``: the defaults (offsets 0 to
        2, trials −0.5 to 2.5, 1000 steps); ``"paper"``: offsets to 4, trials −1 to 5 by 0.25, 2 seeds × 50,000
        steps.

        ``scale``: ``"test"``, ``"book"`` (default) or ``"paper"``; ``seed`` draws the digits and the two-layer
        network's initialisation and is the first attack seed."""
        scale = check_scale(scale)
        net = digits_spec(scale, "two_layer", seed)
        if scale == "test":
            return cls(net, offsets=(0.0, 1.0), trials=(0.0, 1.0, 2.0), attack=AttackConfig(steps=200),
                       seed=seed)
        if scale == "book":
            return cls(net, seed=seed)
        return cls(net, offsets=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0), trials=tuple(np.round(np.arange(-1, 5.01, 0.25), 2)),
                   seeds=2, attack=AttackConfig.paper(50_000), seed=seed)


@dataclass(frozen=True, eq=False)
class InferShiftResult(Result):
    """``loss`` (O, T): final KKT loss (min over seeds) of the attack with each trial shift, per true offset;
    ``estimate`` (O,): the trial with the lowest loss; ``error`` = estimate − offset.

    ``config`` is the :class:`InferShiftConfig` run, ``offsets`` (O,) its true offsets and ``trials`` (T,) its
    trial shifts."""

    config: InferShiftConfig
    offsets: torch.Tensor
    trials: torch.Tensor
    loss: torch.Tensor
    estimate: torch.Tensor
    error: torch.Tensor

    name = "infer_shift"
    _json_fields = ("offsets", "trials", "loss", "estimate", "error")
    columns = {
        "true_offset": "the secret offset the network was trained with",
        "estimate": "the trial shift whose attack reaches the lowest KKT loss",
        "error": "estimate − true offset",
        "best_kkt_loss": "the lowest final KKT loss over the trial shifts",
    }

    def plot(self, **options):
        return plot_infer_shift(self, **options)

    def rows(self) -> list[dict]:
        return [{"true_offset": o, "estimate": e, "error": err, "best_kkt_loss": l.min()}
                for o, e, err, l in zip(self.offsets, self.estimate, self.error, self.loss)]


@experiment("infer_shift", config=InferShiftConfig, result=InferShiftResult,
            summary="can the attacker estimate the secret shift? (beyond the paper)")
def infer_shift(config: InferShiftConfig, run: Run) -> dict:
    """Beyond the paper (open question 2): estimate the secret shift by the KKT loss under shifted box priors.

    For each true offset the network trained on X + offset is attacked once, batched over the trial shifts
    (× seeds); the trial whose prior Shift(s, Box) lets the candidates reach the lowest KKT loss is the
    estimate. Reports the estimates against the truth; nothing guarantees success (chapter "Open questions").
    """
    T, S, d = len(config.trials), config.seeds, config.net.input_dim
    losses = []
    for offset in config.offsets:
        spec = config.net.shifted(offset)
        tn = run.network(spec)
        inner = pixel_prior(config.box, tn.mean, enforce="project")   # the pixel box, in model coordinates
        priors = [Shift(torch.full((d,), s, dtype=torch.float64), inner) for s in config.trials for _ in range(S)]
        res = run.attack(tn.net, tn.X, tn.y, config.candidates_per_point * spec.n, config.attack, prior=priors,
                         seeds=attack_seeds(config.seed, S) * T)
        losses.append(res.kkt.double().reshape(T, S).amin(dim=1))
    loss, trials, offsets = torch.stack(losses), result_tensor(config.trials), result_tensor(config.offsets)
    estimate = trials[loss.argmin(dim=1)]
    return dict(offsets=offsets, trials=trials, loss=loss, estimate=estimate, error=estimate - offsets)


def plot_infer_shift(result):
    """``experiments.infer_shift``: the estimated against the true offset, and the KKT loss against the trial
    shift. Returns the ``Figure``.

    ``result`` is an :class:`InferShiftResult`."""
    o = result.offsets
    fig, axes = two_panels()
    plot_curves(o, {"estimate": result.estimate, "true offset": o}, xlabel="true offset",
                ylabel="offset", title="inferring the secret shift", ax=axes[0])
    loss = as_tensor(result.loss, "loss", dtype=torch.float64)
    plot_curves(result.trials, {f"offset {float(v):.3g}": row for v, row in zip(o, loss)},
                xlabel="trial shift", ylabel="final KKT loss", title="loss per trial", logy=True, ax=axes[1])
    fig.tight_layout()
    return fig
