"""KKT conditions of the max-margin problem: margin normalisation, stationarity sum, KKT loss.

A bias-free L-homogeneous network trained by gradient descent on an exponentially-tailed loss converges
in direction to a KKT point of (Lyu & Li 2020; Ji & Telgarsky 2020; the paper's §2)

    min ½‖θ‖²  s.t.  yᵢ Φ(θ; xᵢ) ≥ 1,

i.e. θ = Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ), λᵢ ≥ 0, λᵢ (yᵢΦ(θ; xᵢ) − 1) = 0. This module measures how close a network
is to such a point, and provides the reconstruction loss of Haim et al. (2022), in our form and in theirs.
The (ε, δ)-KKT certificate of a trained network, built on these pieces, is :mod:`reconleak_core.certificate`.

Interface.

- :func:`margins` — yᵢ Φ(θ; xᵢ), shape ``(n,)``.
- :func:`normalize_margin` — a copy of the network rescaled to minimum margin exactly 1 (θ / q_min^{1/L}).
- :func:`onto_margin` — candidates scaled along their rays onto the margin, y′Φ(θ; x′) = 1 (complementary
  slackness, which the stationarity residual cannot see).
- :func:`stationarity_sum` — Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ), flattened in ``net.parameters()`` order (as
  :func:`reconleak_core.models.parameter_vector`); batched over leading dimensions of ``X`` and ``lam``.
- :func:`kkt_loss` — ‖θ − Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ)‖² + penalty · Σᵢ relu(lam_min − λᵢ), differentiable in ``X``
  and ``lam``, batched: ``X`` of shape ``(..., m, d)`` gives a loss of shape ``(...)``. Haim et al.'s form
  is selectable piece by piece: the smooth gate (``gate_form``), the squared hinge (``penalty_form``,
  :data:`PENALTY_FORMS`) and their 1/m scale of the multipliers (``lam_scale``, :data:`LAM_SCALES`);
  ``tests/test_haim_port.py`` checks it against an independent port of their code to 1e-10.
- :class:`KKTLoss` — the same loss with the network, labels and constants validated once (the attack's
  per-step objective).
- :func:`check_data` — ``X`` and ``y`` validated and converted to the network's dtype and device.
- :func:`simplex_kkt_point` — a hand-built exact KKT point (ε = δ = 0) for tests and the book.

Two ways to compute the stationarity sum: a closed form registered for the network's class in
:data:`CLOSED_FORMS` (:class:`ClosedForm`; :class:`~reconleak_core.models.TwoLayerReLU`'s is built in) (a few
batched matrix products, no double backprop) and a generic one for any homogeneous module (``torch.func``:
Σᵢ cᵢ∇θΦ(θ; xᵢ) = ∇θ[Σᵢ cᵢ Φ(θ; xᵢ)], vmapped over the batch). They agree to rounding error
(``tests/test_kkt.py``). Introduced in the book's chapter
"KKT points and the reconstruction attack".
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from reconleak_core.checks import (
    as_tensor,
    check_bool,
    check_float_dtype,
    check_int,
    check_labels,
    check_multipliers,
    check_network,
    check_nonnegative,
    check_points,
    check_positive,
    check_real,
    scalar_output,
)
from reconleak_core.models import GATE_FORMS, TwoLayerReLU, input_dim, network_degree, soft_gate_relu
from reconleak_core.runtime import check_memory

__all__ = ["margins", "normalize_margin", "onto_margin", "stationarity_sum", "kkt_loss", "KKTLoss", "PENALTY_FORMS",
           "LAM_SCALES", "ClosedForm", "CLOSED_FORMS", "closed_form", "gate_aware",
           "check_data", "simplex_kkt_point"]

_METHODS = ("auto", "closed", "generic")
PENALTY_FORMS = ("linear", "squared")
"""Dual-feasibility penalty of :func:`kkt_loss`: ours (linear hinge) or Haim et al.'s (squared hinge)."""
LAM_SCALES = ("sum", "mean")
"""Scale of the multipliers in :func:`kkt_loss`: the KKT conditions' (θ = Σ λᵢyᵢ∇Φ) or Haim et al.'s
(θ = (1/m) Σ ...)."""


# ----------------------------------------------------------------------------------------------- helpers
def _check_net(net) -> nn.Module:
    return check_network(net)


def gate_aware(net: nn.Module) -> bool:
    """Whether ``net.forward`` takes the soft gate (``forward(x, gate=None, gate_form=...)``, the network protocol).

    ``net`` is the network.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    try:
        return "gate" in inspect.signature(net.forward).parameters
    except (TypeError, ValueError):
        return False


def _dtype(net: nn.Module) -> torch.dtype:
    return next(net.parameters()).dtype


def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def check_data(net: nn.Module, X, y, *, batched: bool = False):
    """``(X, y)`` validated: ``X`` of shape ``(n, d)`` (or ``(..., n, d)`` when batched) and ``y`` of ±1 labels
    of length n, both converted to the network's dtype and device; ``ValueError`` otherwise.

    ``net`` is the network; ``batched`` allows leading batch dimensions.
    """
    batched = check_bool(batched, "batched")
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    dtype, device = _dtype(net), _device(net)
    X = check_points(X, "X", d=input_dim(net), dtype=dtype, device=device, batched=batched)
    y = check_labels(y, dtype=dtype, device=device, batched=batched)
    n = X.shape[-2]
    if y.shape[-1] != n:
        raise ValueError(f"labels y have length {y.shape[-1]} but there are {n} points")
    return X, y


def _check_method(method: str, net: nn.Module, gate, gate_form: str) -> str:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    closed_ok = closed_form(net) is not None
    if method == "closed" and not closed_ok:
        raise ValueError(f"method='closed' needs a network with a registered closed form (CLOSED_FORMS: "
                         f"{', '.join(c.__name__ for c in CLOSED_FORMS)}), got {type(net).__name__}; "
                         "use method='generic'")
    if method == "auto":
        method = "closed" if closed_ok else "generic"
    if gate_form not in GATE_FORMS:
        raise ValueError(f"gate_form must be one of {GATE_FORMS}, got {gate_form!r}")
    if gate is None:
        if gate_form == "smooth":
            raise ValueError("gate_form='smooth' needs a gate slope α (gate=α); gate=None is the exact ReLU derivative")
    elif method == "generic" and not gate_aware(net):
        raise ValueError(f"the soft gate (gate={gate!r}) needs a network whose ReLUs the library controls: a "
                         f"forward(x, gate=None, gate_form=...) (as TwoLayerReLU, HomogeneousMLP), which "
                         f"{type(net).__name__} lacks; wrap it in models.SoftGated(net) to gate its nn.ReLU "
                         "modules, or pass gate=None")
    return method


def _check_gate(gate, dtype=None, device=None):
    """``None``, a positive finite slope α (a float) or a tensor of them (one per batch member)."""
    if gate is None:
        return None
    if isinstance(gate, (torch.Tensor, np.ndarray)):
        alpha = as_tensor(gate, "gate", dtype=dtype, device=device)
        if not (torch.isfinite(alpha).all() and (alpha > 0).all()) or alpha.numel() == 0:
            raise ValueError(f"gate must be None or positive finite slopes α, got {alpha.tolist()}")
        return alpha
    return check_positive(gate, "gate")  # None is the exact derivative


def _check_lam_min(lam_min, dtype=None, device=None):
    """A finite number, or a tensor of them (one per batch member)."""
    if isinstance(lam_min, (torch.Tensor, np.ndarray)):
        value = as_tensor(lam_min, "lam_min", dtype=dtype, device=device)
        if not torch.isfinite(value).all():
            raise ValueError(f"lam_min must be finite, got {value.tolist()}")
        return value
    return check_real(lam_min, "lam_min")


def _member_view(value, trailing: int):
    """A per-member tensor with ``trailing`` singleton dimensions appended (numbers pass through)."""
    return value.reshape(*value.shape, *([1] * trailing)) if isinstance(value, torch.Tensor) else value


def _gate_value(Z: torch.Tensor, alpha, form: str) -> torch.Tensor:
    """The gate ρ′(z) of the stationarity sum, with ρ″(z) = ασ′(αz) as its derivative (see ``GATE_FORMS``).

    ``alpha=None``: 1[z > 0] (piecewise constant). ``"straight_through"``: value 1[z > 0], gradient of σ(αz).
    ``"smooth"``: σ(αz) itself (Haim et al.'s).
    """
    hard = (Z > 0).to(Z.dtype)
    if alpha is None:
        return hard
    soft = torch.sigmoid(alpha * Z)
    if form == "smooth":
        return soft
    return hard + (soft - soft.detach())


def _grad_sum_closed(net: TwoLayerReLU, X: torch.Tensor, c: torch.Tensor, alpha, form: str):
    """Closed form of Σᵢ cᵢ∇θΦ(θ; xᵢ) for TwoLayerReLU: [G_W, (G_b), (G_v)] in parameter order, batched.

    With zᵢⱼ = wⱼ·xᵢ (+ bⱼ): ∂Φ/∂wⱼ = vⱼ ρ′(zᵢⱼ) xᵢ, ∂Φ/∂bⱼ = vⱼ ρ′(zᵢⱼ) and ∂Φ/∂vⱼ = ρ(zᵢⱼ), so
    G_W = (c ⊙ ρ′(Z) ⊙ v)ᵀ X, G_b = (c ⊙ ρ′(Z) ⊙ v)ᵀ 1 and G_v = ρ(Z)ᵀ c, with ρ the gated ReLU of
    :func:`~reconleak_core.models.soft_gate_relu` (value relu, ρ′ its gate). Differentiable by autograd
    (what :func:`stationarity_sum` returns); :class:`_ClosedFormResidual` computes the same sums for the
    loss, with its own backward. ``alpha``: ``None``, a float or a tensor of the batch shape.
    """
    W, v = net.W.detach(), net.v.detach()
    alpha = _member_view(alpha, 2)
    Z = X @ W.T if net.b is None else X @ W.T + net.b.detach()  # (..., m, width)
    coeff = c.unsqueeze(-1) * _gate_value(Z, alpha, form) * v  # (..., m, width)
    grads = [coeff.transpose(-1, -2) @ X]                        # (..., width, d)
    if net.b is not None:
        grads.append(coeff.sum(-2))
    if not net.fixed_second_layer:
        grads.append((soft_gate_relu(Z, alpha, form) * c.unsqueeze(-1)).sum(-2))
    return grads


class _ClosedFormResidual(torch.autograd.Function):
    """‖W − G_W‖² (+ ‖b − G_b‖²) (+ ‖v − G_v‖²) for TwoLayerReLU, batched, with a hand-written backward.

    With Z = X Wᵀ (+ b), P = ρ′(Z) the gate (1[Z > 0], or σ(αZ) for the smooth form), cP = c ⊙ P and
    U = (cP)ᵀ X = Pᵀ(c ⊙ X) (row j: Σᵢ cᵢPᵢⱼxᵢ), the sums of :func:`_grad_sum_closed` are G_W = v ⊙ U,
    G_b = v ⊙ (cP)ᵀ1 and G_v = relu(Z)ᵀ c, which for the hard value of the gate is rowwise W · U
    (+ b ⊙ (cH)ᵀ1), since relu(zᵢⱼ) = Hᵢⱼ zᵢⱼ: two m×d×width products and one elementwise pass over the
    m × width gate (the comparison, written straight into a float tensor; cP is never formed).
    With R_W = W − G_W, R_b, R_v the residuals and M = v ⊙ R_W + R_v ⊙ W (width × d; no R_v term for a
    fixed second layer), the gradients through the gate's value and ρ come from ONE product P·M:
    ∂/∂xᵢ = −2cᵢ(P·M)ᵢ and ∂/∂cᵢ = −2[xᵢ · (P·M)ᵢ + Σⱼ Pᵢⱼ vⱼ R_b,ⱼ + Σⱼ (relu(zᵢⱼ) − Pᵢⱼ(zᵢⱼ − bⱼ)) R_v,ⱼ]
    (the last sum vanishes for the hard gate without bias). Three products per loss and gradient with the
    exact gate, instead of autograd's five.

    With a slope α both forms differentiate the gate as σ(αZ): ∂/∂xᵢ gains Σⱼ Dᵢⱼ wⱼ with
    Dᵢⱼ = −2 α cᵢ vⱼ σ′(αzᵢⱼ) (xᵢ · R_W,j + R_b,j): two more products ((c ⊙ X)(v ⊙ R_W)ᵀ, whose factor
    v ⊙ R_W is M's first term, and D W), five in all, as autograd, with four elementwise passes over the
    gate in all (comparison, αZ, σ, σ′·) instead of autograd's nine (benchmarks/attack_step.py).
    ``alpha`` may be a tensor of shape (..., 1, 1) (one slope per member).
    """

    @staticmethod
    def forward(ctx, X, c, net, alpha, form):
        loss, saved = closed_form(net).residual(X, c, net, alpha, form)
        ctx.saved, ctx.closed = saved, closed_form(net)   # plain tensors of this computation
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        dX, dc = ctx.closed.residual_grad(ctx.saved)
        del ctx.saved
        g = -2 * grad
        return dX * g.reshape(*g.shape, 1, 1), dc * g.unsqueeze(-1), None, None, None


@dataclass(frozen=True, eq=False)
class _Saved:
    """What the closed-form residual's backward needs from its forward (``None`` where a term is absent)."""

    X: torch.Tensor
    c: torch.Tensor
    cX: torch.Tensor
    W: torch.Tensor
    v: torch.Tensor
    b: torch.Tensor | None
    P: torch.Tensor
    Z: torch.Tensor | None
    Z0: torch.Tensor | None
    R_W: torch.Tensor
    R_b: torch.Tensor | None
    R_v: torch.Tensor | None
    alpha: object = None
    smooth: bool = False
    S: torch.Tensor | None = None   # σ(αZ) of the straight-through gate (None for the other forms)

    def tensors(self) -> tuple:
        return (self.X, self.c, self.cX, self.W, self.v, self.b, self.P, self.Z, self.Z0, self.R_W, self.R_b, self.R_v)


def _closed_residual(X, c, net, alpha, form):
    """Forward of :class:`_ClosedFormResidual`: the loss (batch shape) and a :class:`_Saved` for the backward."""
    W, v, b = net.W.detach(), net.v.detach(), None if net.b is None else net.b.detach()
    Z0 = X @ W.T
    Z = Z0 if b is None else Z0 + b
    smooth = alpha is not None and form == "smooth"
    # the hard gate written straight into a float tensor: one pass (a bool tensor and a cast take two)
    P = torch.sigmoid(alpha * Z) if smooth else torch.gt(Z, 0, out=torch.empty_like(Z))
    # the straight-through gate's σ(αZ), needed by the backward, made while Z is fresh in the cache, in Z's
    # place where Z is not needed again (no bias): the same values, no pass over a cold Z later
    S = None if alpha is None or smooth else (Z.mul_(alpha) if b is None else Z * alpha).sigmoid_()
    cX = c.unsqueeze(-1) * X
    U = P.transpose(-1, -2) @ cX                        # (cP)ᵀX without forming cP (m × width)
    R_W = torch.addcmul(W, v.unsqueeze(-1), U, value=-1)
    loss = (R_W * R_W).sum((-1, -2))
    R_b = R_v = None
    if b is not None:
        cP_sum = (c.unsqueeze(-2) @ P).squeeze(-2)      # Σᵢ cᵢPᵢⱼ
        R_b = b - v * cP_sum
        loss = loss + R_b.pow(2).sum(-1)
    if not net.fixed_second_layer:
        if smooth:
            G_v = (c.unsqueeze(-2) @ torch.relu(Z)).squeeze(-2)
        else:
            G_v = (W * U).sum(-1) if b is None else (W * U).sum(-1) + b * cP_sum
        R_v = v - G_v
        loss = loss + R_v.pow(2).sum(-1)
    keep_z = smooth or b is not None   # what the backward's relu(Z) − P·Z0 term needs
    return loss, _Saved(X, c, cX, W, v, b, P, Z if keep_z else None, Z0 if keep_z else None, R_W, R_b, R_v,
                        alpha=alpha, smooth=smooth, S=S)


def _closed_residual_grad(saved: _Saved):
    """Backward of :class:`_ClosedFormResidual` for an output gradient of −½: (∂/∂X, ∂/∂c) before the factor −2."""
    X, c, cX, W, v, b, P, Z, Z0, R_W, R_b, R_v = saved.tensors()
    vR = v.unsqueeze(-1) * R_W
    M = vR if R_v is None else torch.addcmul(vR, R_v.unsqueeze(-1), W)
    PM = P @ M
    dc = (X * PM).sum(-1)
    dX = PM.mul_(c.unsqueeze(-1))   # in PM's place (PM is not needed again): one pass, no allocation
    if R_b is not None:
        dc = dc + (P @ (v * R_b).unsqueeze(-1)).squeeze(-1)
    if R_v is not None and (saved.smooth or b is not None):
        dc = dc + ((torch.relu(Z) - P * Z0) @ R_v.unsqueeze(-1)).squeeze(-1)
    if saved.alpha is not None:
        alpha = saved.alpha
        # vⱼ cᵢ xᵢ · R_W,j without a pass over the gate; a contiguous right factor: batched and single
        # products then round alike at every size (a transposed view does not at 4 × 4)
        A = cX @ vR.transpose(-1, -2).contiguous()
        if R_b is not None:
            A = A + c.unsqueeze(-1) * (v * R_b).unsqueeze(-2)
        S = P if saved.smooth else saved.S
        # sigmoid_backward(a, s) = a · s(1 − s): Dᵢⱼ / α in one pass over the gate, in A's place
        # (D W)·α, in place: the same rounding for a per-member slope (a tensor) as for a shared one
        D = torch.ops.aten.sigmoid_backward.grad_input(A, S, grad_input=A)
        dX = dX.add_((D @ W).mul_(alpha))
    return dX, dc


@dataclass(frozen=True)
class ClosedForm:
    """The closed forms of one network class, registered in :data:`CLOSED_FORMS` (the network protocol).

    - ``grad_sum(net, X, c, alpha, form)``: the per-parameter sums Σᵢ cᵢ∇θΦ(θ; xᵢ) in ``net.parameters()``
      order, batched over leading dimensions, differentiable by autograd in X and c (``stationarity_sum``);
    - ``residual(X, c, net, alpha, form)`` → ``(loss, saved)``: ‖θ − Σᵢ cᵢ∇θΦ‖² (batch shape) without a
      graph, and whatever ``residual_grad(saved)`` needs to return (∂/∂X, ∂/∂c) of that loss divided by −2
      (the loss of ``kkt_loss`` and its hand-written backward), as tensors of its own: the caller scales
      them in place.

    ``method="auto"`` uses the closed form of ``type(net)`` (or of its nearest registered base class).
    The certificate's Clarke-gate hooks are registered apart, by the module that uses them
    (:data:`reconleak_core.certificate.CLARKE_FORMS`).

    ``grad_sum``, ``residual`` and ``residual_grad`` are those three functions.
    """

    grad_sum: Callable
    residual: Callable
    residual_grad: Callable


CLOSED_FORMS: dict = {}
"""Network class → :class:`ClosedForm`. A user's network class registers its own:
``kkt.CLOSED_FORMS[MyNet] = kkt.ClosedForm(...)``; nothing else in the library changes."""


def closed_form(net: nn.Module) -> ClosedForm | None:
    """The registered :class:`ClosedForm` of ``net``'s class (nearest in its MRO), or ``None``."""
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    return next((CLOSED_FORMS[cls] for cls in type(net).__mro__ if cls in CLOSED_FORMS), None)


def _grad_sum_generic(net: nn.Module, X: torch.Tensor, c: torch.Tensor, alpha=None,
                      form: str = "straight_through"):
    """Σᵢ cᵢ∇θΦ(θ; xᵢ) = ∇θ[Σᵢ cᵢΦ(θ; xᵢ)] with ``torch.func``, vmapped over the batch dimensions.

    The result keeps the autograd graph to ``X`` and ``c`` (torch.func.grad composes with autograd).
    ``alpha``, ``form``: the soft gate, passed to ``net.forward(x, gate=alpha, gate_form=form)``
    (TwoLayerReLU, HomogeneousMLP); ``alpha`` may be a tensor of the batch shape (vmapped with the batch).
    """
    names = [name for name, _ in net.named_parameters()]
    params = {name: p.detach() for name, p in net.named_parameters()}
    buffers = dict(net.named_buffers())
    batch = X.shape[:-2]
    m, d = X.shape[-2:]
    Xf, cf = X.reshape(-1, m, d), c.reshape(-1, m)
    af = alpha.expand(batch).reshape(-1) if isinstance(alpha, torch.Tensor) else None

    def weighted_output(theta, Xb, cb, ab):
        kwargs = {} if alpha is None else {"gate": alpha if ab is None else ab, "gate_form": form}
        return (cb * scalar_output(torch.func.functional_call(net, {**theta, **buffers}, (Xb,), kwargs), Xb)).sum()

    grads = torch.func.vmap(torch.func.grad(weighted_output), in_dims=(None, 0, 0, None if af is None else 0))(
        params, Xf, cf, af)
    return [grads[name].reshape(*batch, *params[name].shape) for name in names]


def _grad_sum(net, X, y, lam, *, gate, gate_form, method):
    """Shared core of :func:`stationarity_sum` and :func:`kkt_loss`: per-parameter sums, batched."""
    batch = torch.broadcast_shapes(X.shape[:-2], lam.shape[:-1], y.shape[:-1],
                                   gate.shape if isinstance(gate, torch.Tensor) else ())
    m, d = X.shape[-2:]
    X = X.expand(*batch, m, d)
    c = (lam * y).expand(*batch, m)
    if method == "closed":
        gate = gate.expand(batch) if isinstance(gate, torch.Tensor) else gate
        return closed_form(net).grad_sum(net, X, c, gate, gate_form), batch
    return _grad_sum_generic(net, X, c, gate, gate_form), batch


def _checked_method(net, gate, gate_form, method) -> str:
    """The network's structure (homogeneous) and the gate checked; the method resolved."""
    _check_net(net)
    network_degree(net)  # a declared degree, or the structural check (rejects biases and non-homogeneous layers)
    return _check_method(method, net, gate, gate_form)


def _validated(net, X, y, lam, *, gate, gate_form, method, batched):
    method = _checked_method(net, gate, gate_form, method)
    X, y = check_data(net, X, y, batched=batched)
    lam = check_multipliers(lam, X.shape[-2], dtype=X.dtype, device=X.device)
    try:
        torch.broadcast_shapes(X.shape[:-2], lam.shape[:-1], y.shape[:-1])
    except RuntimeError:
        raise ValueError(f"the batch dimensions of X {tuple(X.shape[:-2])}, lam {tuple(lam.shape[:-1])} and "
                         f"y {tuple(y.shape[:-1])} do not broadcast against each other") from None
    return X, y, lam, _check_gate(gate, X.dtype, X.device), method


def _finite(value: torch.Tensor, what: str) -> torch.Tensor:
    """``value`` when finite; otherwise ``ValueError`` naming ``what`` overflowed (a float64 result, never inf/NaN)."""
    if not torch.isfinite(value.detach()).all():
        raise ValueError(f"{what} overflowed (non-finite result): the points, multipliers or weights are too large "
                         f"for {value.dtype} (largest input magnitude makes the result infinite)")
    return value


# ------------------------------------------------------------------------------------------- public API
def margins(net: nn.Module, X, y) -> torch.Tensor:
    """Margins qᵢ = yᵢ Φ(θ; xᵢ), shape ``(n,)`` (differentiable; in the network's dtype).

    ``net`` is the network, ``X`` (n, d) the points and ``y`` (n,) their ±1 labels.
    """
    _check_net(net)
    X, y = check_data(net, X, y, batched=False)
    return _finite(y * scalar_output(net(X), X), "the margins yᵢΦ(θ; xᵢ)")


def onto_margin(net: nn.Module, candidates, labels, lam=None):
    """Every candidate scaled along its ray onto the margin of ``net``: x′ ↦ x′ / (y′Φ(θ; x′)), so y′Φ = 1.

    Complementary slackness: at a KKT point every point with λᵢ > 0 lies on the margin, yᵢΦ(θ̂; xᵢ) = 1 for the
    margin-normalised θ̂ (:func:`normalize_margin`). The stationarity residual cannot see where along its ray a
    candidate sits: for a bias-free ReLU network Φ(θ; c x) = c Φ(θ; x) and ∇θΦ(θ; c x) = c ∇θΦ(θ; x) for c > 0,
    so (x′, λ′) → (c x′, λ′/c) leaves :func:`kkt_loss` unchanged (the scale symmetry of chapter "The
    initialisation radius"), and the attack's multiplier floor pushes λ′ up and x′ in. Putting each candidate
    back on the margin uses only the network: the training set enters through θ̂'s normalisation alone.

    ``net`` is the (margin-normalised) network, ``candidates`` (m, d) or (K, m, d) and ``labels`` (m,) the
    attack's; ``lam`` (optional, the candidates' shape without d) are their multipliers, returned as λ′·y′Φ so
    that the KKT residual is unchanged. A candidate with y′Φ ≤ 0 cannot reach the margin by a positive scale
    and is returned as it is. Returns ``(scaled, lam, on_margin)``: ``lam`` is ``None`` when not given and
    ``on_margin`` (bool, the candidates' shape without d) marks the candidates that were scaled. Raises
    ``ValueError`` when the network is not positively homogeneous of degree 1 in its input (a bias).
    """
    _check_net(net)
    d = input_dim(net)
    C = check_points(candidates, "candidates", d=d, batched=True)
    home, weight = C.device, next(net.parameters(), None)   # computed where the network is, returned where C was
    if weight is not None:
        C = C.to(dtype=weight.dtype, device=weight.device)
    lead = C.shape[:-1]
    labels = check_labels(labels, lead[-1], dtype=C.dtype, device=C.device)
    flat = C.reshape(-1, C.shape[-1])
    with torch.no_grad():
        out = scalar_output(net(flat), flat).reshape(lead)
        doubled = scalar_output(net(2 * flat), flat).reshape(lead)
    if not torch.allclose(doubled, 2 * out, rtol=1e-6, atol=1e-9 * (1 + out.abs().max().item())):
        raise ValueError("the network is not positively homogeneous of degree 1 in its input (Φ(2x) ≠ 2Φ(x), e.g. "
                         "a first-layer bias): its candidates have no ray to scale along")
    q = _finite(labels * out, "the candidates' margins y′Φ(θ; x′)")
    on = q > 0
    factor = torch.where(on, 1 / torch.where(on, q, torch.ones_like(q)), torch.ones_like(q))
    scaled = _finite(C * factor[..., None], "the candidates scaled onto the margin").to(home)
    if lam is None:
        return scaled, None, on.to(home)
    lam = as_tensor(lam, "lam", dtype=C.dtype, device=C.device)
    if lam.shape != lead:
        raise ValueError(f"lam must have shape {tuple(lead)} (one multiplier per candidate), got {tuple(lam.shape)}")
    return scaled, _finite(lam / factor, "the multipliers of the scaled candidates").to(home), on.to(home)


def normalize_margin(net: nn.Module, X, y) -> nn.Module:
    """A deep copy of ``net`` rescaled so that minᵢ yᵢΦ(θ̂; xᵢ) = 1: θ̂ = θ / q_min^{1/L}.

    Homogeneity (Φ(cθ) = c^L Φ(θ)) makes this the unique positive rescaling onto the constraint set of the
    max-margin problem; the (ε, δ)-KKT conditions of Lyu & Li (2020) are stated for θ̂. Every parameter is
    scaled, a first-layer bias of :class:`~reconleak_core.models.TwoLayerReLU` included (θ = (W, b, v)).
    Raises ``ValueError`` when the network does not separate the data (q_min ≤ 0).

    ``X`` (n, d) and ``y`` (n,) are the training set.
    """
    L = network_degree(_check_net(net))
    with torch.no_grad():
        q_min = margins(net, X, y).min().item()
    if not q_min > 0:
        raise ValueError(f"the network does not separate the data: min margin = {q_min:.3g} ≤ 0; "
                         "it has no KKT normalisation")
    scaled = copy.deepcopy(net)
    factor = q_min ** (-1.0 / L)
    if not 0 < factor < float("inf"):
        raise ValueError(f"the margin normalisation θ / q_min^(1/{L}) with q_min = {q_min:.3g} is not a finite "
                         "positive scale")
    with torch.no_grad():
        for p in scaled.parameters():
            p.mul_(factor)
    return scaled


def stationarity_sum(net: nn.Module, X, y, lam, *, gate=None, gate_form: str = "straight_through",
                     method: str = "auto") -> torch.Tensor:
    """Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ), flattened in ``net.parameters()`` order (the order of ``parameter_vector``).

    ``X`` may be batched, ``(..., n, d)`` with ``lam`` of shape ``(..., n)`` (broadcast against each other);
    the result then has shape ``(..., P)``. θ is treated as a constant. ``method``: ``"closed"`` (TwoLayerReLU
    only), ``"generic"`` (``torch.func``, any homogeneous module) or ``"auto"`` (closed when possible).
    ``gate``, ``gate_form``: see :func:`kkt_loss` (the smooth form changes the sum's value: σ(αz) replaces
    1[z > 0]). At a KKT point θ = stationarity_sum(θ, X, y, λ) (paper §2, Eq. KKT) with the exact gate.
    A first-layer bias (``TwoLayerReLU(bias=True)``) contributes its block Σᵢ λᵢyᵢ vⱼ 1[zᵢⱼ > 0].

    ``net`` is the network and ``y`` the ±1 labels.
    """
    X, y, lam, gate, method = _validated(net, X, y, lam, gate=gate, gate_form=gate_form, method=method, batched=True)
    grads, batch = _grad_sum(net, X, y, lam, gate=gate, gate_form=gate_form, method=method)
    return _finite(torch.cat([g.reshape(*batch, -1) for g in grads], dim=-1), "the stationarity sum")


def kkt_loss(net: nn.Module, X, y, lam, *, lam_min=0.0, penalty: float = 1.0, penalty_form: str = "linear",
             lam_scale: str = "sum", gate=None, gate_form: str = "straight_through",
             method: str = "auto") -> torch.Tensor:
    """The KKT reconstruction loss of Haim et al. (2022): ‖θ − s Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ)‖² + dual-feasibility penalty.

    Stationarity term: s = 1 (``lam_scale="sum"``, the KKT conditions' multipliers) or s = 1/m
    (``lam_scale="mean"``, Haim et al.'s ``get_kkt_loss``, which divides the sum by the number of candidates
    m). The mapping between the scales: λ on the mean scale is m times λ on the sum scale, and so is
    ``lam_min`` (given on the same scale as ``lam``); the residual is then identical, the linear hinge's
    ``penalty`` maps to ``penalty / m`` and the squared hinge's to ``penalty / m²`` (tested).

    Dual-feasibility term, on λ's own scale: ``penalty_form="linear"`` (ours): penalty · Σᵢ relu(lam_min − λᵢ),
    an exact penalty (for a large enough ``penalty`` its minimisers satisfy λᵢ ≥ lam_min; zero once they
    do); ``penalty_form="squared"`` (Haim et al.'s ``get_verify_loss``, weight 5 there):
    penalty · Σᵢ relu(lam_min − λᵢ)². Haim et al.'s box term Σ relu(x − 1)² + relu(−1 − x)² is not part
    of this loss: it is the attack's :class:`~reconleak_core.attack.Box` prior.

    Batched: ``X`` of shape ``(..., m, d)``, ``lam`` of shape ``(..., m)``, ``y`` of shape ``(m,)`` or
    broadcastable to ``(..., m)``; the leading dimensions broadcast and the loss has that shape (0-dim when
    unbatched). ``lam_min`` and ``gate`` may be tensors broadcasting against the leading dimensions (one
    value per member of a batch). The K attacks on one network are one computation: a few batched matrix
    products in the closed form (TwoLayerReLU), one ``vmap`` in the generic form. Differentiable in ``X``
    and ``lam``; θ is a constant (no gradient reaches the network).

    ``gate``: ``None`` uses the exact ReLU derivative 1[z > 0]. Without a slope the gradient w.r.t. x
    ignores activation-pattern changes (the gate is piecewise constant in x), so a point never "sees" the
    neurons it could switch on or off. A slope α > 0 uses a soft gate of ``gate_form``
    (:data:`~reconleak_core.models.GATE_FORMS`); both differentiate the gate as σ(αz):

    - ``"straight_through"`` (ours): the loss *value* keeps the exact gate 1[z > 0] (at the true KKT
      conditions' residual); only the gradient w.r.t. z = wⱼ·x uses d/dz σ(αz);
    - ``"smooth"`` (Haim et al.'s, their ``ModifiedRelu`` under double backprop): σ(αz) replaces 1[z > 0]
      in the value of the W- and b-blocks (and in ∂ρ/∂z inside the v-block), so the value is a smoothed
      residual, not the KKT residual of the network.

    TwoLayerReLU (closed form, or generic through its ``forward(x, gate, gate_form)``) and HomogeneousMLP
    (generic form, through :func:`~reconleak_core.models.soft_gate_relu`) only. A first-layer bias
    (``TwoLayerReLU(bias=True)``, as Haim et al.'s networks) adds its block ‖b − s Σᵢλᵢyᵢvⱼρ′(zᵢⱼ)‖².

    ``net`` is the (homogeneous) network; ``method`` as in :func:`stationarity_sum`.
    """
    X, y, lam, gate, method = _validated(net, X, y, lam, gate=gate, gate_form=gate_form, method=method, batched=True)
    loss = KKTLoss(net, y, lam_min=lam_min, penalty=penalty, penalty_form=penalty_form, lam_scale=lam_scale,
                   gate=gate, gate_form=gate_form, method=method)(X, lam)
    return _finite(loss, "the KKT loss")


class KKTLoss:
    """:func:`kkt_loss` of one network and one label vector, validated once, then evaluated at every step.

    ``objective = KKTLoss(net, y, lam_min=..., penalty=..., penalty_form=..., lam_scale=..., gate=...,
    gate_form=..., method=...)`` checks the network (homogeneous), the method, the gate, the labels (±1,
    shape ``(m,)`` or ``(..., m)``) and the constants. ``objective(X, lam)`` then equals
    ``kkt_loss(net, X, y, lam, ...)`` and checks only what costs no pass over the data: that ``X``
    (``(..., m, d)``) and ``lam`` (``(..., m)``) are tensors of the network's dtype and device with those
    shapes. It does not scan their values for NaN (:func:`kkt_loss` does;
    :func:`reconleak_core.attack.reconstruct`, which evaluates this object at every step, scans its
    candidates' losses). Validation per call is measurable at book scale (``benchmarks/attack_step.py``).

    For TwoLayerReLU (closed form) the loss and its gradient take three m×d×width matrix products with
    the exact gate and five with a soft gate (either form), with a hand-written backward; other
    homogeneous modules use the generic ``torch.func`` form.

    ``net``, ``y``, ``lam_min``, ``penalty``, ``penalty_form``, ``lam_scale``, ``gate``, ``gate_form`` and
    ``method`` are those of :func:`kkt_loss`.
    """

    def __init__(self, net: nn.Module, y, *, lam_min=0.0, penalty: float = 1.0, penalty_form: str = "linear",
                 lam_scale: str = "sum", gate=None, gate_form: str = "straight_through", method: str = "auto"):
        self.method = _checked_method(net, gate, gate_form, method)
        self.dtype, self.device = _dtype(net), _device(net)
        self.gate, self.gate_form = _check_gate(gate, self.dtype, self.device), gate_form
        self.y = check_labels(y, dtype=self.dtype, device=self.device, batched=True)
        self.lam_min = _check_lam_min(lam_min, self.dtype, self.device)
        penalty = check_nonnegative(penalty, "penalty")
        if penalty_form not in PENALTY_FORMS:
            raise ValueError(f"penalty_form must be one of {PENALTY_FORMS}, got {penalty_form!r}")
        if lam_scale not in LAM_SCALES:
            raise ValueError(f"lam_scale must be one of {LAM_SCALES}, got {lam_scale!r}")
        self.penalty, self.penalty_form, self.lam_scale = float(penalty), penalty_form, lam_scale
        self.net, self.d = net, input_dim(net)
        self._closed = closed_form(net) if self.method == "closed" else None
        self._gates = {}
        self._lam_min_view = _member_view(self.lam_min, 1)
        self._minus_two_y = -2.0 * self.y

    def _batch(self, X, lam) -> torch.Size:
        """The checks of :meth:`__call__` (no pass over the values); the broadcast batch shape."""
        m = self.y.shape[-1]
        for name, t in (("X", X), ("lam", lam)):
            if not isinstance(t, torch.Tensor) or t.dtype != self.dtype or t.device != self.device:
                raise TypeError(f"{name} must be a {self.dtype} tensor on {self.device} (the network's); "
                                "kkt_loss() converts other inputs")
        if X.dim() < 2 or X.shape[-2] != m or (self.d is not None and X.shape[-1] != self.d):
            raise ValueError(f"X must have shape (..., {m}, {self.d}) (one point per label), got {tuple(X.shape)}")
        if lam.dim() < 1 or lam.shape[-1] != m:
            raise ValueError(f"lam must have shape (..., {m}) (one multiplier per point), got {tuple(lam.shape)}")
        shapes = [X.shape[:-2], lam.shape[:-1], self.y.shape[:-1]]
        shapes += [v.shape for v in (self.gate, self.lam_min) if isinstance(v, torch.Tensor)]
        try:
            return torch.broadcast_shapes(*shapes)
        except RuntimeError as err:
            raise ValueError(f"batch shapes of X, lam, y, gate and lam_min do not broadcast: {shapes}") from err

    def _coeff(self, lam):
        return lam * self.y / self.y.shape[-1] if self.lam_scale == "mean" else lam * self.y

    def _closed_gate(self, batch):
        """The gate slope as the closed form takes it: a float, or one slope per member of shape (*batch, 1, 1)."""
        if not isinstance(self.gate, torch.Tensor):
            return self.gate
        cached = self._gates.get(batch)
        if cached is None:
            cached = self._gates[batch] = self.gate.expand(batch).reshape(*batch, 1, 1)
        return cached

    def __call__(self, X: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        batch = self._batch(X, lam)
        m = self.y.shape[-1]
        coeff = self._coeff(lam)
        if self.method == "closed":
            loss = _ClosedFormResidual.apply(X.expand(*batch, *X.shape[-2:]), coeff.expand(*batch, m), self.net,
                                             self._closed_gate(batch), self.gate_form)
        else:
            grads, _ = _grad_sum(self.net, X.expand(*batch, *X.shape[-2:]), torch.ones_like(self.y),
                                 coeff.expand(*batch, m), gate=self.gate, gate_form=self.gate_form,
                                 method="generic")
            loss = torch.zeros(batch, dtype=X.dtype, device=X.device)
            for p, g in zip(self.net.parameters(), grads):
                loss = loss + (p.detach() - g).pow(2).reshape(*batch, -1).sum(-1)
        short = torch.relu(_member_view(self.lam_min, 1) - lam)
        if self.penalty_form == "squared":
            short = short.pow(2)
        return loss + (self.penalty * short.sum(-1)).expand(batch)

    def value_and_grad(self, X: torch.Tensor, lam: torch.Tensor, *, check: bool = True):
        """``(loss, ∂loss/∂X, ∂loss/∂lam)`` without an autograd graph (the attack's step; batched as ``__call__``).

        The gradients are those of ``loss.sum()`` (each member's own: members have no cross terms). With
        the closed form and ``X``, ``lam`` of the full batch shape, they come straight from the hand-written
        backward of the closed form (no autograd graph, no ``autograd.grad``); otherwise from autograd.
        ``check=False`` skips the shape, dtype and device checks of ``__call__``: for a caller that made them
        once for tensors it then only updates in place (the attack's step loop).
        """
        batch = self._batch(X, lam) if check else X.shape[:-2]
        if self.method != "closed" or X.shape[:-2] != batch or lam.shape[:-1] != batch:
            with torch.enable_grad():
                Xg, lg = X.detach().requires_grad_(True), lam.detach().requires_grad_(True)
                loss = self(Xg, lg)
                gX, gl = torch.autograd.grad(loss.sum(), (Xg, lg))
            return loss.detach(), gX, gl
        if torch.is_grad_enabled():
            with torch.no_grad():
                return self.value_and_grad(X, lam, check=False)
        coeff = self._coeff(lam)
        closed = self._closed
        loss, saved = closed.residual(X, coeff, self.net, self._closed_gate(batch), self.gate_form)
        dX, dc = closed.residual_grad(saved)
        dX = dX.mul_(-2.0)   # the closed form's own tensor: in place
        # (dc·(−2))·y in one product: −2y is exact, so the bits are those of the two products
        gl = dc * -2.0 / self.y.shape[-1] * self.y if self.lam_scale == "mean" else dc * self._minus_two_y
        short = torch.relu(self._lam_min_view - lam)
        if self.penalty_form == "squared":
            loss = loss + self.penalty * short.pow(2).sum(-1)
            gl = gl - self.penalty * (2 * short)
        else:
            loss = loss + self.penalty * short.sum(-1)
            gl = gl.sub_(short.sign(), alpha=self.penalty)   # sign(short) = 1[λ′ < lam_min], exactly
        return loss, dX, gl


def simplex_kkt_point(n: int, d: int | None = None, dtype: torch.dtype = torch.float64):
    """An exact KKT point of the max-margin problem, built by hand: returns ``(net, X, y, lam)``.

    Data: the n unit vertices of a regular simplex centred at 0 (xᵢ·xₖ = −1/(n−1) for i ≠ k), embedded in the
    first n coordinates of ℝᵈ (d ≥ n, default n; they span an (n−1)-dimensional subspace), labels alternating
    +1, −1, .... Network: ``TwoLayerReLU`` with one neuron per point, wᵢ = xᵢ, vᵢ = yᵢ; multipliers λᵢ = 1.

    Why it is exact: neuron j is active only on its own point (wⱼ·xₖ = −1/(n−1) < 0 for k ≠ j, strictly off
    the ReLU kink), so Φ(xₖ) = yₖ and every margin is 1; and Σₖ λₖyₖ∇_{wⱼ}Φ(xₖ) = yⱼvⱼxⱼ = wⱼ,
    Σₖ λₖyₖ∇_{vⱼ}Φ(xₖ) = yⱼ relu(1) = vⱼ. (Orthonormal data would put pre-activations on the kink.)

    ``n`` points in ``d`` dimensions, of ``dtype``.
    """
    n = check_int(n, "n", minimum=2)  # a simplex needs two vertices
    d = n if d is None else check_int(d, "d", minimum=n)
    dtype = check_float_dtype(dtype)
    check_memory(8 * (n * n + 2 * n * d), f"simplex_kkt_point(n={n}, d={d})")
    E = torch.eye(n, dtype=torch.float64) - 1.0 / n
    E = E / E.norm(dim=1, keepdim=True)
    X = torch.zeros(n, d, dtype=torch.float64)
    X[:, :n] = E
    y = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).to(torch.float64)
    net = TwoLayerReLU(d, n, dtype=torch.float64)
    with torch.no_grad():
        net.W.copy_(X)
        net.v.copy_(y)
    lam = torch.ones(n, dtype=torch.float64)
    return net.to(dtype), X.to(dtype), y.to(dtype), lam.to(dtype)


CLOSED_FORMS[TwoLayerReLU] = ClosedForm(grad_sum=_grad_sum_closed, residual=_closed_residual,
                                        residual_grad=_closed_residual_grad)
