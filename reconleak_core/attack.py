"""The KKT reconstruction attack of Haim et al. (2022), batched, as analysed by the paper (§3).

A trained bias-free homogeneous network is close to a KKT point θ = Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ) of the
max-margin problem. The attack searches candidates X′ = (x′₁..x′ₘ) and multipliers λ′ with fixed labels
that make this identity hold again, by minimising ``kkt.kkt_loss`` (stationarity residual plus a
penalty on λ′ below ``lam_min``) plus, optionally, a prior on the candidates. The paper's point
(Theorems 4, 5, 8, 9, chapter "No prior, no leakage") is that without a prior the loss has minimisers
arbitrarily far from the training set; with the right prior the attack can recover it.

Interface.

- :class:`AttackConfig` — optimiser and loss settings (book defaults; :meth:`AttackConfig.paper`;
  :meth:`AttackConfig.haim`, Haim et al.'s attack as their code runs it: SGD, smooth gate, squared hinge,
  1/m scale).
- Priors: :class:`Box`, :class:`Sphere` and :class:`Shift` are the classes of
  :mod:`reconleak_core.priors`, re-exported here (``attack.Box is priors.Box``). Any object following the
  prior protocol documented there (``enforce``, ``penalty``, ``project``, ``center``, ``check``, ``stack``)
  works as ``prior=``, a user's own class included.
- :func:`reconstruct` — one attack; :func:`reconstruct_batch` — K independent attacks on the same
  network (per-member seeds, initialisations, priors, learning rates, gates and λ_min) run as ONE batched tensor
  computation sharing the step loop. Both return an :class:`AttackResult` on the CPU.
- :func:`reconstruct_trained` — :func:`reconstruct_batch` (or an executor with its signature, e.g.
  ``sweep.RayExecutor``) on the margin-normalised network θ / q_min^{1/L} of a trained network: the one place
  where an experiment's or a pooled attack's network is normalised.
- Members of a batched call: :data:`PER_MEMBER` (the settings that take one value per member),
  :func:`member_count` and :func:`member_slice` split a call's arguments into consecutive chunks of members,
  :meth:`AttackResult.concatenate` joins the chunks' results into the one call's result.

Guarantees: the caller's network is never modified (a copy is moved to the device and dtype); inputs
are validated and never clipped silently (a prior with ``enforce="project"`` *is* projected gradient
descent onto the prior's set — that projection is the algorithm, applied to the candidates only); a
non-finite loss, candidate or multiplier raises "NaN found in candidates at step k" (either optimiser),
and so does a diverging run: a loss above :data:`DIVERGENCE_FACTOR` times the larger of its initial value
and the KKT loss of the trivial multipliers λ′ = 0 (‖θ‖² plus the whole λ′ penalty) raises
"the attack diverged ... at step k" (e.g. Adam with lr = 1e6, whose loss would otherwise end near 1e12).
Member k of a batched attack performs exactly the computation of the same attack run alone (the summed loss has no cross
terms, the optimiser updates are elementwise), so results agree to rounding (tested to 1e-10 in float64).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from reconleak_core.attack_loop import Trace, initialise, step_loop
from reconleak_core.checks import (
    check_bool,
    check_fraction,
    check_int,
    check_labels,
    check_network,
    check_nonnegative,
    check_points,
    check_positive,
    check_real,
    check_seed,
    is_sequence,
)
from reconleak_core.kkt import LAM_SCALES, PENALTY_FORMS, KKTLoss, normalize_margin
from reconleak_core.models import GATE_FORMS, input_dim
from reconleak_core.priors import Box, Shift, Sphere, stack_priors
from reconleak_core.runtime import check_memory, get_device

__all__ = ["AttackConfig", "Box", "Sphere", "Shift", "AttackState", "AttackResult", "DIVERGENCE_FACTOR",
           "PER_MEMBER_FIELDS", "PER_MEMBER", "reconstruct", "reconstruct_batch", "reconstruct_trained",
           "member_count", "member_slice"]

_OPTIMIZERS = ("adam", "sgd")
DIVERGENCE_FACTOR = 1e6
"""Divergence bound of the attack. A member whose loss exceeds this factor times the larger of its initial
loss and its loss at λ′ = 0 has diverged; doing nothing (λ′ = 0) costs ‖θ‖² plus the whole λ′ penalty,
and no converging run climbs a million times above both that and its own start."""


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttackConfig:
    """Optimiser and loss settings of the attack (book-scale defaults).

    - ``steps``: number of optimiser steps.
    - ``optimizer``: ``"adam"`` (default) or ``"sgd"`` (Haim et al.'s SGD with ``momentum``). Adam is the
      default for its robustness to the step size (measured by ``benchmarks/attack_convergence.py``, recorded
      in ``benchmarks/RESULTS.md``).
    - ``lr, lam_lr``: step sizes for the candidates and for the multipliers (``lam_lr=None``: same as ``lr``).
    - ``momentum``: SGD momentum (Haim et al. use 0.9). ``betas``, ``eps``: Adam's constants.
    - ``lam_min``: λ′ below ``lam_min`` is penalised (Haim et al.'s ``extraction_min_lambda``) by
      ``kkt_loss``'s dual-feasibility term with weight ``lam_penalty`` (Haim et al.: 5) and form
      ``lam_penalty_form``: ``"linear"`` (ours, Σ relu(lam_min − λ′), an exact penalty) or ``"squared"``
      (Haim et al.'s Σ relu(lam_min − λ′)²). ``lam_min`` is on the scale ``lam_scale``.
    - ``lam_scale``: ``"sum"`` (ours: θ ≈ Σ λ′ᵢyᵢ∇θΦ, the KKT conditions' multipliers) or ``"mean"``
      (Haim et al.'s: θ ≈ (1/m) Σ ...; λ′, ``lam_min`` and ``lam_init`` are then m times larger for the
      same residual, see ``kkt.kkt_loss``).
    - ``lam_init``: initial λ′: a pair (lo, hi) draws U[lo, hi] from each member's generator (default
      (0, 1), Haim et al.'s U[0, 1]), a number starts every λ′ there (the draw is still made, so the
      candidates of a seed do not depend on ``lam_init``). On the scale ``lam_scale``.
    - ``prior_weight``: weight of a prior enforced as a penalty.
    - ``init_scale``: σ of the Gaussian initialisation N(0, σ²I) (Haim et al.'s ``extraction_init_scale``).
    - ``gate``, ``gate_form``: α of the soft ReLU gate and its form (``kkt_loss(gate=α, gate_form=...)``),
      or ``gate=None`` for the exact derivative. ``"straight_through"``: the loss value keeps the exact
      ReLU derivative, its gradient is that of σ(αz); ``"smooth"``: Haim et al.'s ``ModifiedRelu``, σ(αz)
      in the value too. Default α = 300 (Haim et al.'s value); the default form was chosen by the
      measurement recorded in ``benchmarks/RESULTS.md`` (``benchmarks/attack_convergence.py``): with the
      exact gate the attack stalls early, because its gradient never sees the neurons a candidate could
      switch on or off. Applies to TwoLayerReLU and HomogeneousMLP; pass ``gate=None`` for other networks.
    - ``return_best``: return the iterate of lowest total loss (each member's own) instead of the last
      one (Adam is not monotone); ``result.members[k]["step"]`` says which step was returned.
    - ``compile``: run every step but the last (loss, gradient, optimiser update) as one ``torch.compile``
      function (fused loops): faster per step on the CPU at book scale, and at paper scale the fast path,
      its loss and gradient within a few per cent of their matrix products alone (figures in
      ``benchmarks/RESULTS.md``, from ``benchmarks/attack_step.py``). Compiling takes about 10 s (more for
      deeper networks) for each new combination of shapes, dtype and settings, so it pays off over long
      attacks (tens of thousands of steps on the CPU) or on a GPU: the paper-scale presets
      (:meth:`paper`, the experiments' ``"paper"`` presets) set it, the book's do not. The fused arithmetic
      rounds differently, so results equal those of ``compile=False`` to rounding, not bit for bit. Needs
      a C++ compiler on the CPU (``torch.compile``'s requirements); where it cannot build the step, the
      attack fails at its first step with a message naming ``compile=False``, the same attack eagerly.

    Presets: :meth:`paper` (Haim et al.'s budget, our loss) and :meth:`haim` (Haim et al.'s attack as
    their code runs it by default).
    """

    steps: int = 2000
    optimizer: str = "adam"
    lr: float = 0.01
    lam_lr: float | None = None
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    lam_min: float = 0.05
    lam_penalty: float = 5.0
    prior_weight: float = 1.0
    init_scale: float = 0.01
    gate: float | None = 300.0
    gate_form: str = "straight_through"
    lam_penalty_form: str = "linear"
    lam_scale: str = "sum"
    lam_init: float | tuple[float, float] = (0.0, 1.0)
    return_best: bool = False
    compile: bool = False

    def __post_init__(self):
        check_int(self.steps, "steps", minimum=0)
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        check_positive(self.lr, "lr")
        if self.lam_lr is not None:
            check_positive(self.lam_lr, "lam_lr")
        check_fraction(self.momentum, "momentum")
        if not (isinstance(self.betas, (tuple, list)) and len(self.betas) == 2):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        for k, b in enumerate(self.betas):
            check_fraction(b, f"betas[{k}]")
        check_positive(self.eps, "eps")
        check_nonnegative(self.lam_min, "lam_min")
        check_positive(self.lam_penalty, "lam_penalty")
        check_positive(self.prior_weight, "prior_weight")
        check_positive(self.init_scale, "init_scale")
        if self.gate is not None:
            check_positive(self.gate, "gate")
        if self.gate_form not in GATE_FORMS:
            raise ValueError(f"gate_form must be one of {GATE_FORMS}, got {self.gate_form!r}")
        if self.gate is None and self.gate_form == "smooth":
            raise ValueError("gate_form='smooth' needs a gate slope (gate=α); gate=None is the exact derivative")
        if self.lam_penalty_form not in PENALTY_FORMS:
            raise ValueError(f"lam_penalty_form must be one of {PENALTY_FORMS}, got {self.lam_penalty_form!r}")
        if self.lam_scale not in LAM_SCALES:
            raise ValueError(f"lam_scale must be one of {LAM_SCALES}, got {self.lam_scale!r}")
        init = self.lam_init
        if isinstance(init, (tuple, list)):
            if len(init) != 2:
                raise ValueError(f"lam_init must be a finite number or a pair (lo, hi) with lo ≤ hi, got {init!r}")
            init = (check_real(init[0], "lam_init[0]"), check_real(init[1], "lam_init[1]"))
            if init[0] > init[1]:
                raise ValueError(f"lam_init must be a pair (lo, hi) with lo ≤ hi, got {init!r}")
        else:
            init = check_real(init, "lam_init")
        object.__setattr__(self, "lam_init", init)
        check_bool(self.return_best, "return_best")
        check_bool(self.compile, "compile")

    @classmethod
    def paper(cls, steps: int = 50_000) -> AttackConfig:
        """The attack of every ``"paper"`` preset (:mod:`reconleak_core.experiments`): the book's settings for
        ``steps`` steps (Haim et al.'s budget by default), each step compiled (``compile=True``: at this length
        the compile time is a small share of the run)."""
        return cls(steps=steps, compile=True)

    @classmethod
    def haim(cls, **overrides) -> AttackConfig:
        """Haim et al.'s attack as their code runs it by default (nivha/dataset_reconstruction).

        From their ``GetParams.py`` defaults and ``extraction.py``: SGD with momentum 0.9 on X′ and on λ′,
        ``extraction_lr`` = ``extraction_lambda_lr`` = 1e-4, ``extraction_init_scale`` = 1e-9, λ′ ~ U[0, 1]
        and ``extraction_min_lambda`` = 0.05 on their 1/m scale (``lam_scale="mean"``), the squared hinge
        5·Σ relu(λ_min − λ′)², the smooth gate σ(300 z) (``ModifiedRelu``, α = 300); 50,000 steps, the
        budget of their published runs (their parser's default is 1,000). Keyword ``overrides`` replace
        fields (``AttackConfig.haim(steps=2000)``).

        Where a run of this preset still differs from theirs: their always-on box term
        Σ relu(x − 1)² + relu(−1 − x)² is our ``Box()`` prior (pass ``prior=Box()``, weight
        ``prior_weight`` = 1 as theirs); we initialise in float64 from a seeded private generator (they draw
        from the global one); labels of the candidates are the caller's (they put −1 first, then +1);
        and their data is centred by the training mean, which is the caller's (the network's) business.
        Their ``extraction_stop_threshold`` early stop is not reproduced.
        """
        base = cls(steps=50_000, optimizer="sgd", lr=1e-4, lam_lr=1e-4, momentum=0.9, lam_min=0.05,
                   lam_penalty=5.0, lam_penalty_form="squared", lam_scale="mean", lam_init=(0.0, 1.0),
                   init_scale=1e-9, gate=300.0, gate_form="smooth", prior_weight=1.0)
        return dataclasses.replace(base, **overrides) if overrides else base


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class AttackState:
    """What ``callback(step, state)`` receives (CPU copies): candidates, multipliers, per-member loss.

    ``step`` is the step just done, ``candidates`` (K, m, d) and ``lam`` (K, m) the iterate, ``loss`` (K,) each
    member's loss.
    """

    step: int
    candidates: torch.Tensor
    lam: torch.Tensor
    loss: torch.Tensor


@dataclass(frozen=True, eq=False)
class AttackResult:
    """Outcome of an attack, on the CPU.

    - ``candidates``: X′, shape (m, d), or (K, m, d) for a batch of K members.
    - ``lam``: λ′, shape (m,) or (K, m).
    - ``labels``: the fixed labels, shape (m,).
    - ``history``: total loss (KKT loss + prior penalty) before every step and after the last one,
      NumPy array of shape (steps + 1,) or (steps + 1, K).
    - ``kkt``: final ``kkt_loss`` alone (without the prior penalty), shape () or (K,).
    - ``config``: the :class:`AttackConfig` used.
    - ``members``: per-member settings (seed, lr, lam_lr, init, init_scale, init_radius, prior, gate, lam_min)
      and ``step``, the step whose iterate is returned (the last, or the best with ``config.return_best``),
      one dict each.
    - ``candidates``, ``lam``, ``kkt`` are those of the returned iterate.
    """

    candidates: torch.Tensor
    lam: torch.Tensor
    labels: torch.Tensor
    history: np.ndarray
    kkt: torch.Tensor
    config: AttackConfig
    members: tuple

    @property
    def batched(self) -> bool:
        return self.candidates.dim() == 3

    def member(self, k: int) -> AttackResult:
        """Member ``k`` of a batched result, as the result of a single attack."""
        if not self.batched:
            raise ValueError("member() needs a batched result (from reconstruct_batch)")
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"member index must be an integer, got {type(k).__name__} {k!r}")
        k = int(k)
        if not -len(self.members) <= k < len(self.members):
            raise ValueError(f"member index {k!r} out of range for {len(self.members)} members")
        return AttackResult(self.candidates[k], self.lam[k], self.labels, self.history[:, k], self.kkt[k],
                            self.config, (self.members[k],))

    @classmethod
    def concatenate(cls, results) -> AttackResult:
        """One batched result from the batched results of consecutive member chunks of one call (same network,
        labels and config; e.g. the chunks of :func:`member_slice`): the members in order.

        ``results`` are the chunks' results, in member order.
        """
        results = list(results)
        if not results or not all(isinstance(r, cls) and r.batched for r in results):
            raise ValueError("concatenate takes a non-empty sequence of batched AttackResults")
        first = results[0]
        if any(r.config != first.config or not torch.equal(r.labels, first.labels) for r in results):
            raise ValueError("concatenate joins chunks of one attack: their configs and labels must agree")
        return cls(torch.cat([r.candidates for r in results]), torch.cat([r.lam for r in results]), first.labels,
                   np.concatenate([r.history for r in results], axis=1), torch.cat([r.kkt for r in results]),
                   first.config, tuple(m for r in results for m in r.members))


# ----------------------------------------------------------------------------------------------
# The attack
# ----------------------------------------------------------------------------------------------

PER_MEMBER_FIELDS = ("lr", "lam_lr", "gate", "lam_min")
""":class:`AttackConfig` fields that :func:`reconstruct_batch` also takes as one value per member."""
PER_MEMBER = ("seeds", "init_scale", "init_radius", "prior", *PER_MEMBER_FIELDS)
"""Every keyword of :func:`reconstruct_batch` that takes a sequence of one value per member (besides per-member
``init`` points of shape (K, m, d) and ``batch``)."""


def _member_sizes(kwargs: dict) -> dict:
    """``{keyword: K}`` for every keyword of a :func:`reconstruct_batch` call that sets the number of members."""
    sizes = {name: len(kwargs[name]) for name in PER_MEMBER if is_sequence(kwargs.get(name))}
    init = kwargs.get("init")
    if isinstance(init, (torch.Tensor, np.ndarray)) and init.ndim == 3:
        sizes["init"] = init.shape[0]
    if kwargs.get("batch") is not None:
        sizes["batch"] = kwargs["batch"]
    return sizes


def member_count(kwargs: dict) -> int:
    """K of a :func:`reconstruct_batch` call with keyword arguments ``kwargs``, as the call counts it (1 when
    nothing is per member); ``ValueError`` when the per-member keywords disagree or one is empty."""
    if not isinstance(kwargs, dict):
        raise TypeError(f"kwargs must be a dict of reconstruct_batch keyword arguments, got {type(kwargs).__name__}")
    sizes = _member_sizes(kwargs)
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the per-member keywords disagree on the number of members: {sizes}")
    return check_int(next(iter(sizes.values())) if sizes else 1, f"the number of members ({sizes})")


def member_slice(kwargs: dict, start: int, stop: int) -> dict:
    """The keyword arguments of a :func:`reconstruct_batch` call restricted to members ``start..stop-1``: member
    j of the returned call computes what member ``start + j`` of the whole call computes; 0 ≤ start < stop ≤ K.

    ``kwargs``: the call's keyword arguments; ``start``, ``stop``: the member range.
    """
    K = member_count(kwargs)
    start = check_int(start, "start", minimum=0)
    stop = check_int(stop, "stop", minimum=start + 1, maximum=K)
    out = dict(kwargs)
    for name in PER_MEMBER:
        if is_sequence(kwargs.get(name)):
            out[name] = list(kwargs[name])[start:stop]
    init = kwargs.get("init")
    if isinstance(init, (torch.Tensor, np.ndarray)) and init.ndim == 3:
        out["init"] = init[start:stop]
    if kwargs.get("batch") is not None:
        out["batch"] = stop - start
    return out


def reconstruct(net: nn.Module, n_candidates: int, *, labels=None, init="gaussian", init_scale: float | None = None,
                init_radius: float | None = None, init_basis=None, prior=None, seed: int = 0,
                config: AttackConfig | None = None, device="auto", dtype: torch.dtype | None = None,
                progress: bool = False, callback: Callable | None = None, callback_every: int = 100,
                **overrides) -> AttackResult:
    """Haim et al.'s KKT reconstruction attack on ``net`` with ``n_candidates`` candidates (paper §3).

    Minimises ``kkt_loss(net, X′, y, λ′; lam_min, lam_penalty, lam_penalty_form, lam_scale, gate, gate_form)``
    (+ ``prior_weight`` · prior
    penalty) over X′ (m × d) and λ′ (m) with the labels ``y`` fixed. The usual choice is m = 2n
    (twice the training-set size).

    - ``labels``: ±1 labels of the candidates (default: balanced, +1, −1, +1, ...).
    - ``init``: ``"gaussian"`` (N(0, σ²I), σ = ``init_scale``, default ``config.init_scale``),
      ``"sphere"`` (uniform on the sphere of radius ``init_radius``), or given points (m, d).
      ``init_basis`` (k × d, optional): draw the random points inside the span of its rows.
      Random points are centred at ``prior.center()`` (a :class:`Shift`'s offset); given points
      are used as they are; a projection prior is applied to the initial points.
    - ``prior``: ``None`` (the unconstrained attack the paper analyses), :class:`Box`, :class:`Sphere`,
      :class:`Shift` or any object following the prior protocol of :mod:`reconleak_core.priors`.
    - ``seed``: seeds a private ``torch.Generator`` for λ′ (``config.lam_init``, drawn first) and X′
      (global random state untouched).
    - ``config``: an :class:`AttackConfig`; keyword ``overrides`` replace its fields (``steps=500, lr=0.1``).
    - ``device``: ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``; same code path.
    - ``dtype``: default float64 on the CPU and float32 on CUDA.
    - ``progress``: show a ``tqdm.auto`` bar. ``callback(step, AttackState)`` is called at step 0, every
      ``callback_every`` steps and after the last step.

    Returns an :class:`AttackResult` (unbatched shapes). Raises ``ValueError`` on a non-finite candidate
    ("NaN found in candidates at step k") and on invalid inputs.

    ``callback(step, state)`` (optional) is called every ``callback_every`` steps and after the last with an
    :class:`AttackState`.
    """
    for name, value in (("init_scale", init_scale), ("init_radius", init_radius), ("seed", seed)):
        if is_sequence(value):
            raise TypeError(f"{name} must be a single value in reconstruct(); use reconstruct_batch() for "
                            "per-member values")
    if is_sequence(prior):
        raise TypeError("prior must be a single prior in reconstruct(); use reconstruct_batch() for per-member priors")
    if isinstance(init, (torch.Tensor, np.ndarray, list, tuple)):
        init = check_points(init, "init", batched=False)
    config = _config(config, overrides)
    _check_steps(config, 1)
    members = _member_table(K=1, init=init, seeds=[seed], init_scales=[init_scale], init_radii=[init_radius],
                            priors=[prior], lrs=[config.lr], lam_lrs=[config.lam_lr], gates=[config.gate],
                            lam_mins=[config.lam_min], config=config)
    return _attack(net, n_candidates, members=members, init=init, init_basis=init_basis, labels=labels, config=config,
                   device=device, dtype=dtype, progress=progress, callback=callback, callback_every=callback_every,
                   squeeze=True)


def reconstruct_batch(net: nn.Module, n_candidates: int, *, batch: int | None = None, labels=None, init="gaussian",
                      init_scale=None, init_radius=None, init_basis=None, prior=None, seeds=0,
                      config: AttackConfig | None = None, device="auto", dtype: torch.dtype | None = None,
                      progress: bool = False, callback: Callable | None = None, callback_every: int = 100,
                      **overrides) -> AttackResult:
    """K independent attacks of :func:`reconstruct` on the same network, as ONE batched computation.

    Per-member settings are given as sequences of length K (a single value is shared by all members):
    ``seeds``, ``init_scale``, ``init_radius``, ``prior`` (same kind for all members) and the
    :class:`AttackConfig` fields of :data:`PER_MEMBER_FIELDS`: ``lr``, ``lam_lr``, ``gate`` (positive slopes,
    one per member) and ``lam_min`` (a Haim-style hyperparameter sweep as one call:
    ``gate=[100, 300], lam_min=[0.05, 0.4]``). Each of these four has one meaning whatever its form: it is
    the config field of that name; a single value is the ordinary config override (``lr=0.1`` is
    ``config=AttackConfig(lr=0.1)``, and ``result.config.lr`` is then 0.1), a sequence gives member k the
    value k (``result.config`` keeps the config's value; ``result.members[k]`` records each member's).
    ``init`` may be a name, shared points (m, d) or per-member points (K, m, d). K is ``batch`` or the
    common length of these sequences. A shared scalar seed gives every member the same random draws
    (a controlled sweep: members differ only by their other settings).

    All members share the step loop; the loss is the sum over members, whose gradients are
    independent, and the Adam / SGD-momentum updates are written on batched tensors with a per-member
    learning rate (of shape (K, 1, 1) where members differ). Member k therefore computes what
    ``reconstruct`` computes with member k's settings (to rounding). The batch is much faster than K
    sequential attacks (``benchmarks/batched_sweep.py``).

    Returns an :class:`AttackResult` with batched shapes; ``result.member(k)`` extracts member k.

    ``net``, ``n_candidates``, ``labels``, ``init_basis``, ``device``, ``dtype``, ``progress``, ``callback`` and
    ``callback_every`` are as in :func:`reconstruct` (shared by all members; ``callback`` sees batched states).
    """
    per_member = {name: overrides.pop(name) for name in PER_MEMBER_FIELDS if is_sequence(overrides.get(name))}
    if overrides.get("lr", 0.0) is None:   # lr=None: the config's (there is no "no step size")
        del overrides["lr"]
    config = _config(config, overrides)
    init_is_points = isinstance(init, (torch.Tensor, np.ndarray, list, tuple))
    if init_is_points:
        init = check_points(init, "init", batched=True)
        if init.dim() > 3:
            raise ValueError(f"init points must have shape (m, d) or (K, m, d), got shape {tuple(init.shape)}")
    sizes = _member_sizes({"seeds": seeds, "init_scale": init_scale, "init_radius": init_radius, "prior": prior,
                           **per_member, "init": init if init_is_points else None,
                           "batch": None if batch is None else check_int(batch, "batch")})
    if len(set(sizes.values())) > 1:
        raise ValueError(f"per-member settings disagree on the number of members K: {sizes}")
    K = next(iter(sizes.values())) if sizes else 1
    if K < 1:
        raise ValueError("a batched attack needs at least one member (got empty per-member sequences)")

    _check_steps(config, K)

    def expand(value):
        return list(value) if is_sequence(value) else [value] * K

    members = _member_table(K=K, init=init, seeds=expand(seeds), init_scales=expand(init_scale),
                            init_radii=expand(init_radius), priors=expand(prior),
                            lrs=expand(per_member.get("lr", config.lr)),
                            lam_lrs=expand(per_member.get("lam_lr", config.lam_lr)),
                            gates=expand(per_member.get("gate", config.gate)),
                            lam_mins=expand(per_member.get("lam_min", config.lam_min)), config=config)
    return _attack(net, n_candidates, members=members, init=init, init_basis=init_basis, labels=labels, config=config,
                   device=device, dtype=dtype, progress=progress, callback=callback, callback_every=callback_every,
                   squeeze=False)


def reconstruct_trained(net: nn.Module, X, y, n_candidates: int, *, executor: Callable | None = None,
                        **kwargs) -> AttackResult:
    """:func:`reconstruct_batch` on the margin-normalised ``net`` θ / q_min^{1/L} (``kkt.normalize_margin``:
    the network's smallest margin on its training set ``X``, ``y`` becomes 1, as at a KKT point of the max-margin
    problem; chapter "The KKT reconstruction attack"). ``executor`` runs the batched call: ``None`` (this process)
    or any callable with :func:`reconstruct_batch`'s signature, e.g. ``sweep.RayExecutor``, which splits the
    members over Ray tasks. ``kwargs`` go to the call. The training set enters only the normalisation.

    ``n_candidates`` is the number of candidates per member.
    """
    run = reconstruct_batch if executor is None else executor   # looked up at call time (tests patch it)
    if not callable(run):
        raise TypeError(f"executor must be callable like reconstruct_batch, got {type(executor).__name__}")
    return run(normalize_margin(net, X, y), n_candidates, **kwargs)


def _check_steps(config: AttackConfig, K: int) -> None:
    """``config.steps`` within memory: the loss history holds (steps + 1) × K numbers and the compiled step's
    schedule 3 per step (:func:`reconleak_core.runtime.check_memory`)."""
    check_memory((config.steps + 1) * (8 * K + 24),
                 f"steps={config.steps} (the loss history of {K} member(s) keeps one number per step)")


def _config(config: AttackConfig | None, overrides: dict) -> AttackConfig:
    config = AttackConfig() if config is None else config
    if not isinstance(config, AttackConfig):
        raise TypeError(f"config must be an AttackConfig, got {type(config).__name__}")
    names = {f.name for f in dataclasses.fields(AttackConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"unknown attack setting(s) {unknown}; AttackConfig fields are {sorted(names)}")
    return dataclasses.replace(config, **overrides) if overrides else config


# ------------------------------------------------------------------------ 1. the per-member table
@dataclass(frozen=True)
class _Members:
    """The validated settings of the K members of an attack: entry k of every field is member k's.

    ``init`` is ``"gaussian"``, ``"sphere"`` or ``"points"``; ``init_scales`` is set (floats) only for the
    gaussian initialisation and ``init_radii`` only for the sphere (``None`` entries otherwise); ``lam_lrs``
    are resolved (``None`` → the member's ``lr``); ``gates`` is ``None`` for every member or a positive slope
    for every member; ``priors`` are the members' own (unstacked) priors.
    """

    init: str
    seeds: tuple
    init_scales: tuple
    init_radii: tuple
    priors: tuple
    lrs: tuple
    lam_lrs: tuple
    gates: tuple
    lam_mins: tuple

    @property
    def K(self) -> int:
        return len(self.seeds)

    def constant(self, name: str):
        """The field as one float when all members agree (the unbatched fast path), else a list."""
        values = getattr(self, name)
        return values[0] if len(set(values)) == 1 else list(values)

    def record(self, k: int, step: int) -> dict:
        """Member k's settings as ``AttackResult.members[k]``, with the step of the returned iterate."""
        return {"seed": self.seeds[k], "lr": self.lrs[k], "lam_lr": self.lam_lrs[k], "init": self.init,
                "init_scale": self.init_scales[k], "init_radius": self.init_radii[k], "prior": self.priors[k],
                "gate": self.gates[k], "lam_min": self.lam_mins[k], "step": step}


def _member_table(*, K: int, init, seeds, init_scales, init_radii, priors, lrs, lam_lrs, gates, lam_mins,
                  config: AttackConfig) -> _Members:
    """Validate the per-member sequences (each of length K) into a :class:`_Members`; the inputs are not modified."""
    if isinstance(init, torch.Tensor):
        kind = "points"
        if any(v is not None for v in (*init_scales, *init_radii)):
            raise ValueError("init_scale and init_radius apply to random initialisations, not to given init points")
        init_scales = init_radii = (None,) * K
    elif isinstance(init, str) and init in ("gaussian", "sphere"):
        kind = init
        if kind == "gaussian":
            if any(r is not None for r in init_radii):
                raise ValueError("init_radius applies to init='sphere'; init='gaussian' takes init_scale")
            init_scales = tuple(check_positive(config.init_scale if s is None else s, "init_scale")
                                for s in init_scales)
            init_radii = (None,) * K
        else:
            if any(r is None for r in init_radii):
                raise ValueError("init='sphere' needs init_radius (the radius of the initial sphere)")
            init_radii = tuple(check_positive(r, "init_radius") for r in init_radii)
            init_scales = (None,) * K
    else:
        raise ValueError(f"init must be 'gaussian', 'sphere' or a tensor of points, got {init!r}")
    lrs = tuple(check_positive(v, "lr") for v in lrs)
    lam_lrs = tuple(lr if v is None else check_positive(v, "lam_lr") for v, lr in zip(lam_lrs, lrs))
    if any(g is None for g in gates):
        if not all(g is None for g in gates):
            raise ValueError("per-member gate values must all be positive slopes (gate=None applies to all members "
                             "only: pass it as a single value)")
        gates = (None,) * K
    else:
        gates = tuple(check_positive(g, "gate") for g in gates)
    return _Members(init=kind, seeds=tuple(check_seed(s) for s in seeds), init_scales=tuple(init_scales),
                    init_radii=tuple(init_radii), priors=tuple(priors), lrs=lrs, lam_lrs=lam_lrs, gates=gates,
                    lam_mins=tuple(check_nonnegative(v, "lam_min") for v in lam_mins))


# ------------------------------------------------------------------------------ the whole attack
def _attack(net, n_candidates, *, members: _Members, init, init_basis, labels, config: AttackConfig, device, dtype,
            progress, callback, callback_every, squeeze: bool) -> AttackResult:
    """Validation of the shared settings, then ``attack_loop.initialise``, ``attack_loop.step_loop`` and
    :func:`_package`."""
    check_network(net)
    m = check_int(n_candidates, "n_candidates")
    callback_every = check_int(callback_every, "callback_every")
    progress = check_bool(progress, "progress")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable as callback(step, state)")
    device = get_device(device)
    if dtype is None:
        dtype = torch.float32 if device.type == "cuda" else torch.float64
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    d = input_dim(net)
    if d is None:
        raise ValueError("cannot infer the network's input dimension: give it an integer attribute 'd'")
    check_memory(8 * 4 * len(members.seeds) * m * (d + 1),
                 f"n_candidates={m} (candidates, multipliers and their optimiser states, "
                 f"{len(members.seeds)} member(s))")
    if labels is None:
        y = torch.where(torch.arange(m) % 2 == 0, 1.0, -1.0).to(torch.float64)
    else:
        y = check_labels(labels, n=m, dtype=torch.float64)
        if y.dim() != 1:
            raise ValueError(f"labels must have shape ({m},), got shape {tuple(y.shape)}")
    prior = stack_priors(members.priors, d=d, dtype=dtype, device=device)
    X, lam = initialise(members, init=init, init_basis=init_basis, prior=prior, m=m, d=d, config=config,
                         device=device, dtype=dtype)
    y = y.to(device=device, dtype=dtype)
    net = copy.deepcopy(net).to(device=device, dtype=dtype)
    as_member = lambda v: torch.tensor(v, dtype=dtype, device=device) if isinstance(v, list) else v  # noqa: E731
    objective = KKTLoss(net, y, lam_min=as_member(members.constant("lam_mins")), penalty=config.lam_penalty,
                        penalty_form=config.lam_penalty_form, lam_scale=config.lam_scale,
                        gate=as_member(members.constant("gates")), gate_form=config.gate_form)
    if callback is None:
        report = None
    else:
        view = (lambda t: t[0]) if squeeze else (lambda t: t)  # noqa: E731

        def report(step, X, lam, loss):
            callback(step, AttackState(step, view(X.detach().cpu().clone()), view(lam.detach().cpu().clone()),
                                       view(loss.detach().cpu().clone())))
    trace = step_loop(objective, X, lam, prior=prior, members=members, config=config, report=report,
                      report_every=callback_every, progress=progress, divergence_factor=DIVERGENCE_FACTOR)
    return _package(trace, members=members, y=y, config=config, squeeze=squeeze)


# ---------------------------------------------------------------------------------- 4. packaging
def _package(trace: Trace, *, members: _Members, y: torch.Tensor, config: AttackConfig, squeeze: bool) -> AttackResult:
    """The :class:`AttackResult` on the CPU (member axis dropped for :func:`reconstruct`)."""
    records = tuple(members.record(k, trace.steps[k]) for k in range(members.K))
    candidates, lam, kkt = trace.candidates.cpu(), trace.lam.cpu(), trace.kkt.cpu()
    history = trace.history.cpu().numpy()
    if squeeze:
        candidates, lam, history, kkt = candidates[0], lam[0], history[:, 0], kkt[0]
    return AttackResult(candidates, lam, y.cpu(), history, kkt, config, records)
