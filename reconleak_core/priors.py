"""Priors of the reconstruction attack: what the attacker knows about the training data (paper §5).

The paper's message (Theorems 4, 5, 8, 9; chapter "No prior, no leakage") is that the KKT loss alone has
minimisers arbitrarily far from the training set; a prior on the candidates is what makes the attack leak.
This module holds the prior protocol and the three priors the book uses:

- :class:`Box` — lo ≤ x ≤ hi coordinatewise (Haim et al.'s box; a squared-hinge penalty by default);
- :class:`Sphere` — ‖x‖ = radius (the paper's sphere data; a projection by default);
- :class:`Shift` — x − offset satisfies an inner prior (the book's secret-shift experiment).

The prior protocol
------------------
A prior is any object with the following members; the attack (:func:`reconleak_core.attack.reconstruct`,
:func:`~reconleak_core.attack.reconstruct_batch`) uses nothing else, so a user-defined class plugs in
without a change to the library (:func:`is_prior` tests for the members, it never lists classes).

- ``enforce``: ``"penalty"`` (the loss gets ``prior_weight · penalty(X)``; candidates are never clipped)
  or ``"project"`` (projected gradient descent: ``X ← project(X)`` after every step and at initialisation).
- ``penalty(X)``: X of shape ``(..., m, d)`` → a non-negative tensor of shape ``(...)`` (summed over the m
  points), differentiable in X by autograd, zero on the prior's set.
- ``project(X)``: the nearest point of the prior's set to every point, same shape as X (no gradient is
  taken through it).
- ``penalty_and_grad(X)`` (optional): ``(penalty(X), ∂ penalty(X).sum() / ∂X)`` in closed form, for the
  attack's step (no autograd graph per step); without it :func:`penalty_and_grad` takes autograd's.
- ``center()``: ``None`` (random initialisations are centred at the origin) or a tensor broadcasting
  against X (they are centred there; given ``init`` points are never moved).
- ``check(d)``: raise ``ValueError`` if the prior does not fit inputs of dimension d (a per-coordinate
  parameter of another length, ...). Called once per member before the attack starts.
- ``stack(priors, *, d, dtype, device)`` (a classmethod): one prior of the same class standing for the K
  members ``priors`` of a batched attack (all of this class, of one ``enforce`` mode, each already checked):
  its parameters carry a leading member axis shaped to broadcast against candidates of shape ``(K, m, d)``
  (a per-coordinate parameter becomes ``(K, 1, d)``, a per-point scalar ``(K, 1)``), in ``dtype`` on
  ``device``. Batched semantics: for X of shape ``(K, m, d)``, ``stacked.penalty(X)[k]`` and
  ``stacked.project(X)[k]`` equal member k's ``penalty(X[k])`` and ``project(X[k])``; the attack always runs
  the stacked prior, K = 1 included. :func:`stack_priors` does the checking and the dispatch.
- ``sample(m, d, *, generator=None, dtype=torch.float64)`` (optional): ``m`` points of dimension d drawn
  from the prior's set, shape ``(m, d)`` (a prior checked by ``check(d)``, not a stacked one): the
  attacker's guess of the data without the network, the null baseline of :mod:`reconleak_core.calibration`.
  The attack never calls it, so a prior without it still runs every attack.

Example: a ball prior ‖x‖ ≤ radius, written outside the library and run by the attack.

>>> import torch
>>> from reconleak_core import attack, models, priors
>>> class Ball:
...     '''‖x‖ ≤ radius: penalty Σ relu(‖x‖ − radius)², projection x · min(1, radius/‖x‖).'''
...     def __init__(self, radius, enforce="project"):
...         self.radius, self.enforce = torch.as_tensor(radius, dtype=torch.float64), enforce
...     def penalty(self, X):
...         return (torch.relu(X.norm(dim=-1) - self.radius.to(X)) ** 2).sum(-1)
...     def project(self, X):
...         norms = X.norm(dim=-1, keepdim=True)
...         return X * torch.clamp(self.radius.to(X).unsqueeze(-1) / norms, max=1.0)
...     def center(self):
...         return None
...     def check(self, d):
...         if self.radius.dim() != 0:
...             raise ValueError("Ball.radius must be a single number")
...     @classmethod
...     def stack(cls, members, *, d, dtype, device):   # radius (K, 1): one per member, per point
...         radius = torch.stack([p.radius for p in members]).unsqueeze(1)
...         return cls(radius.to(dtype=dtype, device=device), members[0].enforce)
>>> priors.is_prior(Ball(1.0))
True
>>> net = models.TwoLayerReLU(4, 8, seed=0)
>>> result = attack.reconstruct(net, 6, prior=Ball(0.5), init_scale=1.0, steps=20, seed=0)
>>> bool(result.candidates.norm(dim=1).max() <= 0.5 + 1e-12)
True
>>> batch = attack.reconstruct_batch(net, 6, prior=[Ball(0.5), Ball(2.0)], init_scale=1.0, steps=20)
>>> [bool(n <= r + 1e-12) for n, r in zip(batch.candidates.norm(dim=-1).amax(-1), (0.5, 2.0))]
[True, True]

Introduced in the book's chapters "The reconstruction attack" (Box, Sphere) and "Shifted images" (Shift).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from reconleak_core.checks import (
    as_tensor,
    check_bool,
    check_finite,
    check_float_dtype,
    check_int,
    check_not_meta,
    is_sequence,
)
from reconleak_core.runtime import get_device

__all__ = ["Prior", "ENFORCE_MODES", "is_prior", "stack_priors", "penalty_and_grad", "Box", "Sphere", "Shift"]

ENFORCE_MODES = ("penalty", "project")
"""The two ways the attack applies a prior, adding ``prior_weight · penalty(X)`` to its loss or projecting after
every step."""

_MEMBERS = ("enforce", "penalty", "project", "center", "check", "stack")


class Prior:
    """Documentation of the prior protocol (see the module docstring); a prior need not inherit from it.

    Subclassing is optional: it only documents the members. :func:`is_prior` checks for them by name.
    """

    enforce: str

    def penalty(self, X: torch.Tensor) -> torch.Tensor:
        """X ``(..., m, d)`` → penalty ``(...)``, zero on the prior's set, differentiable in X.

        ``X`` ``(..., m, d)`` holds the candidates.
        """
        raise NotImplementedError

    def project(self, X: torch.Tensor) -> torch.Tensor:
        """The nearest point of the prior's set, shape of X.

        ``X`` ``(..., m, d)`` holds the candidates.
        """
        raise NotImplementedError

    def center(self) -> torch.Tensor | None:
        """Where random initialisations are centred (``None``: the origin)."""
        raise NotImplementedError

    def check(self, d: int) -> None:
        """Raise ``ValueError`` unless the prior fits inputs of dimension ``d``."""
        raise NotImplementedError

    @classmethod
    def stack(cls, priors: Sequence, *, d: int, dtype: torch.dtype, device) -> Prior:
        """One prior for K members, parameters with a leading member axis (see the module docstring).

        ``priors``: the K members' priors (one class); ``d``: the input dimension; ``dtype``, ``device``: those
        of the stacked parameters.
        """
        raise NotImplementedError

    def sample(self, m: int, d: int, *, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Optional: ``m`` points of the prior's set, shape ``(m, d)`` (the null baseline's prior samples).

        ``d`` is the dimension; ``generator`` (optional) a ``torch.Generator`` to draw from; ``dtype`` the
        points' dtype.
        """
        raise NotImplementedError


def is_prior(obj) -> bool:
    """Whether ``obj`` has every member of the prior protocol (``enforce`` one of :data:`ENFORCE_MODES`); a class
    is not a prior (its instances may be)."""
    return (not isinstance(obj, type) and all(hasattr(obj, name) for name in _MEMBERS)
            and getattr(obj, "enforce", None) in ENFORCE_MODES)


def stack_priors(priors: Sequence, *, d: int, dtype: torch.dtype, device):
    """The K members' priors as one batched prior (``type(p).stack``), or ``None`` when no member has one.

    Checks that every prior follows the protocol and fits dimension ``d`` (``p.check(d)``), and that all
    members share one class and one ``enforce`` mode (a batched attack runs one prior computation).

    ``priors`` holds one prior (or ``None``) per member; ``dtype`` and ``device`` are those of the stacked
    parameters.
    """
    if isinstance(priors, str) or not is_sequence(priors) or not len(priors):
        raise ValueError(f"priors must be a non-empty sequence (one prior or None per member), got {priors!r}")
    priors = list(priors)
    d, dtype, device = check_int(d, "d"), check_float_dtype(dtype), get_device(device)
    if all(p is None for p in priors):
        return None
    for p in priors:
        if p is not None and not is_prior(p):
            missing = [name for name in _MEMBERS if not hasattr(p, name)]
            raise TypeError(f"prior must be None or follow the prior protocol of reconleak_core.priors (members "
                            f"{', '.join(_MEMBERS)}; enforce one of {ENFORCE_MODES}), got {type(p).__name__}"
                            + (f" without {', '.join(missing)}" if missing else f" with enforce={p.enforce!r}"))
    if len({type(p) for p in priors}) > 1 or len({p.enforce for p in priors}) > 1:
        raise ValueError("all members of a batched attack must use the same kind of prior and enforce mode")
    for p in priors:
        p.check(d)
    return type(priors[0]).stack(priors, d=d, dtype=dtype, device=device)


# ----------------------------------------------------------------------------------------------- helpers
def _param(value, name: str) -> torch.Tensor:
    """A prior parameter as a float64 tensor (scalar or per-coordinate), NaN rejected."""
    tensor = as_tensor(value, name, dtype=torch.float64)
    if torch.isnan(tensor).any():
        raise ValueError(f"{name} contains NaN")
    return tensor


def penalty_and_grad(prior, X: torch.Tensor, *, check: bool = True):
    """``(penalty(X), ∂ penalty(X).sum() / ∂X)`` of ``prior`` (penalty detached): the prior's own
    ``penalty_and_grad`` (an optional protocol member, a closed form) or else autograd of ``penalty``.
    ``X`` is a real floating tensor of points (..., m, d) with ``d`` the prior's dimension. ``check=True``
    (default) also refuses NaN or infinite points and a penalty or gradient that overflows (``ValueError``);
    the attack loop passes ``check=False`` (it checks its candidates every few steps, without a sync per step)."""
    if isinstance(prior, type) or not callable(getattr(prior, "penalty", None)):
        raise TypeError(f"prior must be a prior with a penalty(X) method, got {type(prior).__name__}")
    if not isinstance(X, torch.Tensor) or not X.is_floating_point():
        raise TypeError(f"X must be a floating tensor of points, got {getattr(X, 'dtype', type(X).__name__)}")
    check_not_meta(X, "X")
    if X.dim() < 2:
        raise ValueError(f"X must have shape (..., m, d), got shape {tuple(X.shape)}")
    if check_bool(check, "check"):
        check_finite(X, "X")
    own = getattr(prior, "penalty_and_grad", None)
    try:
        if own is not None:
            penalty, grad = own(X)
        else:
            with torch.enable_grad():
                Xg = X.detach().requires_grad_(True)
                penalty = prior.penalty(Xg)
                grad = torch.autograd.grad(penalty.sum(), Xg)[0] if penalty.requires_grad else torch.zeros_like(X)
    except RuntimeError as exc:   # shapes that do not broadcast: points of another dimension than the prior's
        raise ValueError(f"the prior cannot be evaluated on X of shape {tuple(X.shape)} ({exc})") from exc
    if check:
        check_finite(penalty, "the prior's penalty (points too large for their dtype?)")
        check_finite(grad, "the prior's gradient (points too large for their dtype?)")
    return penalty.detach(), grad


def _check_enforce(enforce: str, name: str) -> None:
    if enforce not in ENFORCE_MODES:
        raise ValueError(f"{name}.enforce must be one of {ENFORCE_MODES}, got {enforce!r}")


def _check_coordinates(tensor: torch.Tensor, name: str, d: int) -> None:
    if tensor.dim() > 1 or (tensor.dim() == 1 and tensor.shape[0] != d):
        raise ValueError(f"{name} must be a number or have shape ({d},) (one value per input coordinate), "
                         f"got shape {tuple(tensor.shape)}")


def _sample_args(prior, m, d, dtype) -> tuple[int, int, torch.dtype]:
    """The checked arguments of a prior's ``sample`` (``prior.check(d)`` included)."""
    m, d = check_int(m, "m"), check_int(d, "d")
    prior.check(d)
    return m, d, check_float_dtype(dtype)


def _stack_coordinates(tensors, d: int, dtype, device) -> torch.Tensor:
    """Per-member per-coordinate parameters → shape (K, 1, d), broadcasting against (K, m, d)."""
    return torch.stack([t.expand(d) for t in tensors]).unsqueeze(1).to(dtype=dtype, device=device)


# ------------------------------------------------------------------------------------------------ priors
@dataclass(frozen=True, eq=False)
class Box:
    """The box prior lo ≤ x ≤ hi, coordinatewise (Haim et al. use [−1, 1] for normalised images).

    ``lo``, ``hi``: numbers or one value per input coordinate (±inf allowed: unbounded).
    ``enforce="penalty"`` (default, Haim et al.): the loss gets ``prior_weight`` · Σ relu(x−hi)² + relu(lo−x)²;
    candidates are never clipped, so they may end slightly outside the box (read ``penalty`` to see by how much).
    ``enforce="project"``: projected gradient descent, candidates are clamped into the box after every step.

    ``enforce``: ``"penalty"`` (default: ``prior_weight`` times :meth:`penalty` is added to the loss) or
    ``"project"`` (:meth:`project` after every step).
    """

    lo: object = -1.0
    hi: object = 1.0
    enforce: str = "penalty"

    def __post_init__(self):
        lo, hi = _param(self.lo, "Box.lo"), _param(self.hi, "Box.hi")
        try:
            torch.broadcast_shapes(lo.shape, hi.shape)
        except RuntimeError:
            raise ValueError(f"Box.lo and Box.hi must be numbers or vectors of one length, got shapes "
                             f"{tuple(lo.shape)} and {tuple(hi.shape)}") from None
        if (torch.broadcast_tensors(lo, hi)[0] > torch.broadcast_tensors(lo, hi)[1]).any():
            raise ValueError("Box.lo must be ≤ Box.hi in every coordinate")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        _check_enforce(self.enforce, "Box")

    def penalty(self, X: torch.Tensor) -> torch.Tensor:
        """Σ over points and coordinates of relu(x − hi)² + relu(lo − x)²: shape ``X.shape[:-2]``; 0 inside.

        ``X`` ``(..., m, d)`` holds the candidates.
        """
        lo, hi = self.lo.to(X), self.hi.to(X)
        return (torch.relu(X - hi) ** 2 + torch.relu(lo - X) ** 2).sum((-1, -2))

    def penalty_and_grad(self, X: torch.Tensor):
        """The penalty and its gradient 2 relu(x − hi) − 2 relu(lo − x) (autograd's, to the last bit).

        ``X`` ``(..., m, d)`` holds the candidates.
        """
        above, below = torch.relu(X - self.hi.to(X)), torch.relu(self.lo.to(X) - X)
        return (above * above + below * below).sum((-1, -2)), 2 * (above - below)

    def project(self, X: torch.Tensor) -> torch.Tensor:
        """The nearest point of the box (coordinatewise clamp).

        ``X`` ``(..., m, d)`` holds the candidates.
        """
        return torch.minimum(torch.maximum(X, self.lo.to(X)), self.hi.to(X))

    def center(self):
        """Where the random initialisation is centred: the origin (as Haim et al.)."""
        return None

    def check(self, d: int) -> None:
        """``lo`` and ``hi`` are numbers or have shape (d,).

        ``d`` is the attack's input dimension.
        """
        _check_coordinates(self.lo, "Box.lo", d)
        _check_coordinates(self.hi, "Box.hi", d)

    @classmethod
    def stack(cls, priors, *, d, dtype, device) -> Box:
        """``lo``, ``hi`` of shape (K, 1, d).

        ``priors``: the K members' priors (one class); ``d``: the input dimension; ``dtype``, ``device``: those
        of the stacked parameters.
        """
        return cls(_stack_coordinates([p.lo for p in priors], d, dtype, device),
                   _stack_coordinates([p.hi for p in priors], d, dtype, device), priors[0].enforce)

    def sample(self, m: int, d: int, *, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``m`` points uniform in the box, shape (m, d) (e.g. uniform pixel noise for ``data.pixel_box(0, 1, mean)``).

        The box must be bounded: an infinite ``lo`` or ``hi`` has no uniform distribution.

        ``d`` is the dimension; ``generator`` (optional) a ``torch.Generator`` to draw from; ``dtype`` the
        points' dtype.
        """
        m, d, dtype = _sample_args(self, m, d, dtype)
        lo, hi = self.lo.expand(d), self.hi.expand(d)
        if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
            raise ValueError("Box.sample needs a bounded box: lo and hi must be finite to draw uniform points")
        return (lo + (hi - lo) * torch.rand(m, d, generator=generator, dtype=torch.float64)).to(dtype)


@dataclass(frozen=True, eq=False)
class Sphere:
    """The known-radius prior ‖x‖ = radius (the paper's sphere data, §5).

    ``enforce="project"`` (default): candidates are rescaled onto the sphere after every step and at
    initialisation (a candidate exactly at the origin has no projection and raises).
    ``enforce="penalty"``: the loss gets ``prior_weight`` · Σ (‖x‖ − radius)².

    ``radius`` is the radius of the sphere (a positive number).
    """

    radius: object = 1.0
    enforce: str = "project"

    def __post_init__(self):
        radius = _param(self.radius, "Sphere.radius")
        if (radius <= 0).any() or not torch.isfinite(radius).all():
            raise ValueError(f"Sphere.radius must be positive and finite, got {radius.tolist()}")
        object.__setattr__(self, "radius", radius)
        _check_enforce(self.enforce, "Sphere")

    def penalty(self, X: torch.Tensor) -> torch.Tensor:
        """Σ over points of (‖x‖ − radius)²: shape ``X.shape[:-2]``.

        ``X`` ``(..., m, d)`` holds the candidates.
        """
        return ((X.norm(dim=-1) - self.radius.to(X)) ** 2).sum(-1)

    def project(self, X: torch.Tensor) -> torch.Tensor:
        """x ↦ radius · x/‖x‖. A candidate exactly at the origin has no projection: it raises, except inside
        a compiled attack step (``AttackConfig.compile``), which cannot branch on values: there it becomes NaN,
        and the attack's check names the step ("NaN found in candidates at step k").

        ``X`` ``(..., m, d)`` holds the candidates.
        """
        norms = X.norm(dim=-1)
        if not torch.compiler.is_compiling() and (norms == 0).any():
            raise ValueError("a candidate is exactly at the origin: it has no projection onto the sphere")
        return X * (self.radius.to(X) / norms).unsqueeze(-1)

    def center(self):
        """The origin."""
        return None

    def check(self, d: int) -> None:
        """``radius`` is a single number.

        ``d`` is the attack's input dimension.
        """
        if self.radius.dim() != 0:
            raise ValueError(f"Sphere.radius must be a single number, got shape {tuple(self.radius.shape)}")

    @classmethod
    def stack(cls, priors, *, d, dtype, device) -> Sphere:
        """``radius`` of shape (K, 1).

        ``priors``: the K members' priors (one class); ``d``: the input dimension; ``dtype``, ``device``: those
        of the stacked parameters.
        """
        radius = torch.stack([p.radius for p in priors]).unsqueeze(1).to(dtype=dtype, device=device)
        return cls(radius, priors[0].enforce)

    def sample(self, m: int, d: int, *, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``m`` points uniform on the sphere ‖x‖ = radius of ℝᵈ (normalised Gaussians), shape (m, d).

        The attacker knows the radius, not the data's subspace: these points fill the whole sphere.

        ``d`` is the dimension; ``generator`` (optional) a ``torch.Generator`` to draw from; ``dtype`` the
        points' dtype.
        """
        m, d, dtype = _sample_args(self, m, d, dtype)
        Z = torch.randn(m, d, generator=generator, dtype=torch.float64)
        return (Z * (self.radius / Z.norm(dim=1, keepdim=True))).to(dtype)


@dataclass(frozen=True, eq=False)
class Shift:
    """A known shift: x − offset satisfies the ``inner`` prior (e.g. ``Shift(s, Box(0, 1))``).

    The candidates live in shifted coordinates: random initialisations are centred at ``offset``, and
    the inner prior's penalty or projection is applied to x − offset. ``inner``: any prior (the protocol
    above) or ``None`` (only the initialisation is shifted). Used by the book's secret-shift experiment (a
    prior that misses the shift fails; knowing it restores the attack).
    """

    offset: object
    inner: object = None

    def __post_init__(self):
        object.__setattr__(self, "offset", _param(self.offset, "Shift.offset"))
        if not torch.isfinite(self.offset).all():
            raise ValueError("Shift.offset must be finite")
        if self.inner is not None and not is_prior(self.inner):
            raise TypeError(f"Shift.inner must be None or a prior (the protocol of reconleak_core.priors), "
                            f"got {type(self.inner).__name__}")

    @property
    def enforce(self) -> str:
        """The inner prior's mode (``"penalty"``, a zero penalty, without an inner prior)."""
        return "penalty" if self.inner is None else self.inner.enforce

    def penalty(self, X: torch.Tensor) -> torch.Tensor:
        """The inner prior's penalty of X − offset (zero without an inner prior).

        ``X`` ``(..., m, d)`` holds the candidates.
        """
        if self.inner is None:
            return X.new_zeros(X.shape[:-2])
        return self.inner.penalty(X - self.offset.to(X))

    def penalty_and_grad(self, X: torch.Tensor):
        """The inner prior's :func:`penalty_and_grad` at X − offset (zeros without an inner prior).

        ``X`` ``(..., m, d)`` holds the candidates.
        """
        if self.inner is None:
            return X.new_zeros(X.shape[:-2]), torch.zeros_like(X)
        return penalty_and_grad(self.inner, X - self.offset.to(X), check=False)

    def project(self, X: torch.Tensor) -> torch.Tensor:
        """offset + the inner prior's projection of X − offset.

        ``X`` ``(..., m, d)`` holds the candidates.
        """
        if self.inner is None:
            return X
        offset = self.offset.to(X)
        return offset + self.inner.project(X - offset)

    def center(self):
        """The offset."""
        return self.offset

    def check(self, d: int) -> None:
        """``offset`` has shape (d,) and the inner prior fits d.

        ``d`` is the attack's input dimension.
        """
        if self.offset.shape != (d,):
            raise ValueError(f"Shift.offset must have shape ({d},), got shape {tuple(self.offset.shape)}")
        if self.inner is not None:
            self.inner.check(d)

    @classmethod
    def stack(cls, priors, *, d, dtype, device) -> Shift:
        """``offset`` of shape (K, 1, d); the inner priors stacked by :func:`~reconleak_core.priors.stack_priors`
        (one kind, one mode).

        ``priors``: the K members' priors (one class); ``d``: the input dimension; ``dtype``, ``device``: those
        of the stacked parameters.
        """
        offset = _stack_coordinates([p.offset for p in priors], d, dtype, device)
        inners = [p.inner for p in priors]
        if any(i is None for i in inners) and not all(i is None for i in inners):
            raise ValueError("all members' Shift priors must have inner priors of the same kind and enforce mode")
        return cls(offset, stack_priors(inners, d=d, dtype=dtype, device=device))

    def sample(self, m: int, d: int, *, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The inner prior's samples plus ``offset``, shape (m, d). Needs an inner prior with ``sample``.

        ``m`` points; ``d`` is the dimension; ``generator`` (optional) a ``torch.Generator`` to draw from;
        ``dtype`` the points' dtype.
        """
        m, d, dtype = _sample_args(self, m, d, dtype)
        if self.inner is None:
            raise ValueError("a Shift without an inner prior is no distribution: it has nothing to sample")
        if not hasattr(self.inner, "sample"):
            raise TypeError(f"Shift.inner ({type(self.inner).__name__}) has no sample method (an optional member of "
                            "the prior protocol), so the shifted prior cannot be sampled")
        return (self.inner.sample(m, d, generator=generator, dtype=torch.float64) + self.offset).to(dtype)
