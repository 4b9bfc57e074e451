"""Training a homogeneous network toward the max-margin direction (the implicit bias the attack relies on).

Interface.

- :class:`TrainConfig` — frozen recipe: steps, loss, learning rate, step-size schedule, initial phase.
  ``TrainConfig()`` is the book's recipe (seconds on a CPU); ``TrainConfig.paper()`` trains longer.
- :func:`train_max_margin` — gradient descent on the exponential or logistic loss, in place; returns a
  :class:`History` (loss, normalised margin, and optionally the (ε, δ)-KKT certificate every k steps).

Theory (Lyu & Li 2020; Ji & Telgarsky 2020; the paper's §2): gradient descent on an exponentially-tailed
loss drives a bias-free L-homogeneous network to zero loss, ‖θ‖ → ∞, and θ/‖θ‖ toward a KKT direction of
min ½‖θ‖² s.t. yᵢΦ(θ; xᵢ) ≥ 1. With a constant step this is very slow: the gradient is proportional to the
loss, which decays like e^{-margin}, so the effective step vanishes and the certificate stalls.

The recipe (checked in the module's tests and the book's training chapter) is gradient descent with a
*smoothed-margin step size*: with ℓ = Σᵢ loss(yᵢΦ(θ; xᵢ)),

    θ ← θ − lr · ∇ℓ / (ℓ · max(1, log(1/ℓ))).

∇ℓ/ℓ = ∇log ℓ is the normalised-GD step of Nacson et al. (2019); dividing further by log(1/ℓ) (the smoothed
minimum margin, Lyu & Li's γ̃ numerator) keeps the *angular* step inversely proportional to the sharpness of
the log-sum-exp, so the direction keeps converging while the norm grows steadily instead of
exponentially (plain normalised GD overshoots: its margins explode and the direction oscillates).
Its certificate (:func:`reconleak_core.certificate.certificate`, with Clarke gates at kinks) keeps improving with the
number of steps where plain gradient descent stalls; the measured ε_rel and δ per step count are in
``benchmarks/RESULTS.md`` ("Measurements quoted by the library").

``schedule="normalized"`` (∇ℓ/ℓ) and ``schedule="constant"`` (plain GD, ∇ℓ̄ of the mean loss) are
available for comparison. Every schedule is ordinary gradient descent on the training loss with a
data-dependent scalar step size: nothing is solved for or written into θ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from reconleak_core.certificate import certificate
from reconleak_core.checks import (
    check_bool,
    check_finite,
    check_int,
    check_labels,
    check_network,
    check_points,
    check_positive,
    scalar_output,
)
from reconleak_core.models import network_degree
from reconleak_core.runtime import progress_bar

__all__ = ["TrainConfig", "History", "train_max_margin"]

_LOSSES = ("exponential", "logistic")
_SCHEDULES = ("smoothed-margin", "normalized", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """A training recipe. Defaults: the book's recipe (a 100–200-neuron net on 20–50 points in seconds).

    - ``steps``: gradient steps; ``lr``: base learning rate (its meaning depends on ``schedule``);
    - ``loss``: ``"exponential"`` (default) or ``"logistic"``; both have the exponential tail of the theory;
    - ``schedule``: ``"smoothed-margin"`` (default, see the module docstring), ``"normalized"`` or
      ``"constant"``.
    """

    steps: int = 5000
    lr: float = 0.3
    loss: str = "exponential"
    schedule: str = "smoothed-margin"

    def __post_init__(self):
        object.__setattr__(self, "steps", check_int(self.steps, "steps"))
        object.__setattr__(self, "lr", check_positive(self.lr, "lr"))
        if self.loss not in _LOSSES:
            raise ValueError(f"loss must be one of {_LOSSES}, got {self.loss!r}")
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"schedule must be one of {_SCHEDULES}, got {self.schedule!r}")

    @classmethod
    def paper(cls) -> TrainConfig:
        """A longer run of the same recipe, for the paper-scale experiments."""
        return cls(steps=50000)


@dataclass(frozen=True)
class History:
    """What :func:`train_max_margin` recorded.

    ``step``, ``loss`` (mean training loss ℓ̄), ``margin`` (normalised margin minᵢ yᵢΦ(θ; xᵢ) / ‖θ‖^L) at the
    logged steps; ``cert_step``, ``eps``, ``eps_rel``, ``delta`` at the certificate steps (empty without
    ``certificate_every``); ``seconds``: wall time of the whole call.
    """

    step: np.ndarray
    loss: np.ndarray
    margin: np.ndarray
    cert_step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    eps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    eps_rel: np.ndarray = field(default_factory=lambda: np.zeros(0))
    delta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    seconds: float = 0.0

    def __post_init__(self):
        for names in (("step", "loss", "margin"), ("cert_step", "eps", "eps_rel", "delta")):
            arrays = [getattr(self, name) for name in names]
            if not all(isinstance(a, np.ndarray) and a.ndim == 1 for a in arrays):
                raise TypeError(f"History.{', '.join(names)} must be 1-D NumPy arrays")
            if len({len(a) for a in arrays}) != 1:
                raise ValueError(f"History.{', '.join(names)} must have one entry per recorded step, got lengths "
                                 f"{[len(a) for a in arrays]}")

    def upto(self, steps: int) -> History:
        """The record of the first ``steps`` steps (a positive integer): what a run of that length records.

        The recipe does not depend on the number of steps, so a shorter run is a prefix of a longer one
        (same parameters at every step, same certificates at the same ``certificate_every`` steps; only
        the logging interval, ``steps // 1000``, may differ). Chapter "Homogeneous networks" draws its
        precomputed training slider from one long run this way. ``seconds`` is kept as it is.
        """
        steps = check_int(steps, "steps")
        logged, certified = self.step <= steps, self.cert_step <= steps
        return replace(self, step=self.step[logged], loss=self.loss[logged], margin=self.margin[logged],
                       cert_step=self.cert_step[certified], eps=self.eps[certified],
                       eps_rel=self.eps_rel[certified], delta=self.delta[certified])


def _log_losses(q: torch.Tensor, loss: str) -> torch.Tensor:
    """log loss(qᵢ), computed without underflow for large margins."""
    if loss == "exponential":
        return -q
    # log softplus(−q): for q > 30, log log1p(e^{−q}) = −q − e^{−q}/2 + O(e^{−2q}).
    big = q > 30
    safe = torch.where(big, torch.zeros_like(q), q)
    return torch.where(big, -q - 0.5 * torch.exp(-q), torch.log(nn.functional.softplus(-safe)))


def train_max_margin(net: nn.Module, X, y, config: TrainConfig | None = None, *, certificate_every: int | None = None,
                     log_every: int | None = None, progress: bool = True, **overrides) -> History:
    """Train ``net`` in place by gradient descent toward the max-margin KKT direction; return a :class:`History`.

    ``config`` is a :class:`TrainConfig` (default: the book's recipe); keyword ``overrides`` replace its
    fields, e.g. ``train_max_margin(net, X, y, steps=2000, schedule="constant")``. ``certificate_every=k``
    records :func:`reconleak_core.certificate.certificate` every k steps (and at the end) — the (ε, δ)-KKT
    quality that Theorems 5, 8 and 9 turn into "more alternative KKT sets". ``log_every`` (default
    steps/1000) sets how often loss and margin are recorded. Raises ``ValueError`` "NaN found in loss at
    step k" (or "infinite value found in loss at step k") if the loss ℓ or the parameters become non-finite:
    a step size so large that ℓ overflows float64 (e.g. ``lr=1e6``) is a divergence, reported at its step.
    Networks whose output has shape (n, 1) are handled (squeezed by :func:`reconleak_core.checks.scalar_output`).
    Introduced in the book's chapter "Homogeneous networks and the max-margin implicit bias".

    ``X`` (n, d) and ``y`` (n,) of ±1 are the training set, on the device of ``net``; ``progress`` shows a progress
    bar.
    """

    check_network(net)
    if config is None:
        config = TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    unknown = set(overrides) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown training option(s) {sorted(unknown)}; TrainConfig fields are "
                        f"{sorted(TrainConfig.__dataclass_fields__)}")
    config = replace(config, **overrides)
    certificate_every = check_int(certificate_every, "certificate_every", allow_none=True)
    log_every = check_int(log_every, "log_every", allow_none=True) or max(1, config.steps // 1000)
    progress = check_bool(progress, "progress")
    L = network_degree(net)
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the network has no trainable parameters")
    dtype, device = params[0].dtype, params[0].device
    X = check_points(X, "X", d=getattr(net, "d", None), dtype=dtype, device=device)
    y = check_labels(y, n=X.shape[0], dtype=dtype, device=device)

    rec = {"step": [], "loss": [], "margin": [], "cert_step": [], "eps": [], "eps_rel": [], "delta": []}
    start = time.perf_counter()
    # the finished bar is left in place: a bar hidden when it closes (leave=False) is saved hidden and
    # leaves a blank gap in the rendered page (.ci/check_book.py)
    bar = progress_bar(range(1, config.steps + 1), desc="training", enabled=progress)
    for k in bar:
        q = y * scalar_output(net(X), X)
        log_l = torch.logsumexp(_log_losses(q, config.loss), 0)      # log ℓ, ℓ = Σᵢ loss(qᵢ)
        check_finite(torch.exp(log_l.detach()), "loss", step=k)      # ℓ itself must be finite, not only log ℓ
        if config.schedule == "constant":
            objective = torch.exp(log_l) / X.shape[0]                # mean loss: plain GD
            scale = 1.0
        else:
            objective = log_l                                        # ∇ log ℓ = ∇ℓ / ℓ
            scale = 1.0 if config.schedule == "normalized" else 1.0 / max(1.0, -log_l.item())
        grads = torch.autograd.grad(objective, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(config.lr * scale * g)
                check_finite(p, "parameters", step=k)
        last = k == config.steps
        if k % log_every == 0 or last:
            with torch.no_grad():
                norm = torch.sqrt(sum(p.pow(2).sum() for p in params))
                rec["step"].append(k)
                rec["loss"].append(torch.exp(log_l).item() / X.shape[0])
                rec["margin"].append((q.min() / norm**L).item())
            if progress:
                bar.set_postfix(margin=f"{rec['margin'][-1]:.4g}")
        if certificate_every is not None and (k % certificate_every == 0 or last):
            try:
                cert = certificate(net, X, y)
            except ValueError:
                continue  # not yet separating: no certificate at this step
            rec["cert_step"].append(k)
            rec["eps"].append(cert.eps)
            rec["eps_rel"].append(cert.eps_rel)
            rec["delta"].append(cert.delta)
    bar.close()
    return History(step=np.asarray(rec["step"], dtype=int), loss=np.asarray(rec["loss"]),
                   margin=np.asarray(rec["margin"]), cert_step=np.asarray(rec["cert_step"], dtype=int),
                   eps=np.asarray(rec["eps"]), eps_rel=np.asarray(rec["eps_rel"]), delta=np.asarray(rec["delta"]),
                   seconds=time.perf_counter() - start)
