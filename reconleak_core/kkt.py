"""KKT conditions of the max-margin problem: margin normalisation, stationarity sum, KKT loss, certificate.

A bias-free L-homogeneous network trained by gradient descent on an exponentially-tailed loss converges
in direction to a KKT point of (Lyu & Li 2020; Ji & Telgarsky 2020; the paper's §2)

    min ½‖θ‖²  s.t.  yᵢ Φ(θ; xᵢ) ≥ 1,

i.e. θ = Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ), λᵢ ≥ 0, λᵢ (yᵢΦ(θ; xᵢ) − 1) = 0. This module measures how close a network
is to such a point, and provides the reconstruction loss of Haim et al. (2022).

Interface.

- :func:`margins` — yᵢ Φ(θ; xᵢ), shape ``(n,)``.
- :func:`normalize_margin` — a copy of the network rescaled to minimum margin exactly 1 (θ / q_min^{1/L}).
- :func:`stationarity_sum` — Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ), flattened in ``net.parameters()`` order (as
  :func:`reconleak_core.models.parameter_vector`); batched over leading dimensions of ``X`` and ``lam``.
- :func:`kkt_loss` — ‖θ − Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ)‖² + penalty · Σᵢ relu(lam_min − λᵢ), differentiable in ``X``
  and ``lam``, batched: ``X`` of shape ``(..., m, d)`` gives a loss of shape ``(...)``.
- :class:`KKTLoss` — the same loss with the network, labels and constants validated once (the attack's
  per-step objective).
- :func:`certificate` — the (ε, δ)-KKT certificate of a trained network (:class:`Certificate`).
- :func:`simplex_kkt_point` — a hand-built exact KKT point (ε = δ = 0) for tests and the book.

Two ways to compute the stationarity sum: a closed form for
:class:`~reconleak_core.models.TwoLayerReLU` (a few batched matrix products, no double backprop) and a
generic one for any homogeneous module (``torch.func``: Σᵢ cᵢ∇θΦ(θ; xᵢ) = ∇θ[Σᵢ cᵢ Φ(θ; xᵢ)], vmapped over
the batch). They agree to rounding error (``tests/test_kkt.py``). Introduced in the book's chapter
"KKT points and the reconstruction attack".
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from reconleak_core.checks import as_tensor, check_finite, check_labels, check_multipliers, check_points
from reconleak_core.models import HomogeneousMLP, TwoLayerReLU, homogeneity_degree, parameter_vector

__all__ = ["margins", "normalize_margin", "stationarity_sum", "kkt_loss", "KKTLoss", "Certificate", "certificate",
           "simplex_kkt_point"]

_METHODS = ("auto", "closed", "generic")


# ----------------------------------------------------------------------------------------------- helpers
def _check_net(net) -> nn.Module:
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    if not any(True for _ in net.parameters()):
        raise ValueError("the network has no trainable parameters")
    return net


def _degree(net: nn.Module) -> int:
    """``net.degree`` for the library's networks; otherwise :func:`homogeneity_degree` (which rejects biases)."""
    if isinstance(net, (TwoLayerReLU, HomogeneousMLP)):
        return net.degree
    return homogeneity_degree(net)


def _dtype(net: nn.Module) -> torch.dtype:
    return next(net.parameters()).dtype


def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def _input_dim(net: nn.Module) -> int | None:
    d = getattr(net, "d", None)
    if d is None:
        first = next((m for m in net.modules() if isinstance(m, nn.Linear)), None)
        d = None if first is None else first.in_features
    return d


def _inputs(net: nn.Module, X, y, batched: bool):
    """Validate ``X`` (``(n, d)``, or ``(..., n, d)`` when batched) and ``y`` (length n) in the net's dtype."""
    dtype, device = _dtype(net), _device(net)
    X = check_points(X, "X", d=_input_dim(net), dtype=dtype, device=device, batched=batched)
    y = as_tensor(y, "y", dtype=dtype, device=device)
    check_finite(y, "y")
    y = check_labels(y, dtype=dtype, device=device)
    n = X.shape[-2]
    if y.shape[-1] != n:
        raise ValueError(f"labels y have length {y.shape[-1]} but there are {n} points")
    return X, y


def _check_method(method: str, net: nn.Module, gate) -> str:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    closed_ok = isinstance(net, TwoLayerReLU)
    if method == "closed" and not closed_ok:
        raise ValueError(f"method='closed' needs a TwoLayerReLU network, got {type(net).__name__}; use method='generic'")
    if method == "auto":
        method = "closed" if closed_ok else "generic"
    if gate is not None:
        _check_gate(gate)
        if method == "generic" and not isinstance(net, HomogeneousMLP):
            raise ValueError(f"the soft gate (gate={gate!r}) needs a network whose ReLUs the library controls: "
                             f"TwoLayerReLU or HomogeneousMLP, not {type(net).__name__}; pass gate=None")
    return method


def _check_gate(gate) -> float:
    if isinstance(gate, bool) or not isinstance(gate, (int, float)) or not math.isfinite(gate) or gate <= 0:
        raise ValueError(f"gate must be None (exact ReLU derivative) or a positive finite slope α, got {gate!r}")
    return float(gate)


def _hard_gate(Z: torch.Tensor, alpha: float | None) -> torch.Tensor:
    """1[z > 0]; with a slope α, straight-through: same value, gradient of sigmoid(αz) w.r.t. z."""
    hard = (Z > 0).to(Z.dtype)
    if alpha is None:
        return hard
    soft = torch.sigmoid(alpha * Z)
    return hard + (soft - soft.detach())


def _grad_sum_closed(net: TwoLayerReLU, X: torch.Tensor, c: torch.Tensor, alpha: float | None):
    """Closed form of Σᵢ cᵢ∇θΦ(θ; xᵢ) for TwoLayerReLU: [G_W] or [G_W, G_v], batched over leading dims.

    ∂Φ/∂wⱼ = vⱼ 1[wⱼ·x > 0] x and ∂Φ/∂vⱼ = relu(wⱼ·x), so G_W = (c ⊙ gate(XWᵀ) ⊙ v)ᵀ X and G_v = relu(XWᵀ)ᵀ c.
    Differentiable by autograd (what :func:`stationarity_sum` returns); :class:`_ClosedFormResidual`
    computes the same sums for the loss, with its own backward.
    """
    W, v = net.W.detach(), net.v.detach()
    Z = X @ W.T                                                 # (..., m, width)
    coeff = c.unsqueeze(-1) * _hard_gate(Z, alpha) * v          # (..., m, width)
    G_W = coeff.transpose(-1, -2) @ X                           # (..., width, d)
    if net.fixed_second_layer:
        return [G_W]
    G_v = (torch.relu(Z) * c.unsqueeze(-1)).sum(-2)             # (..., width)
    return [G_W, G_v]


class _ClosedFormResidual(torch.autograd.Function):
    """‖W − G_W‖² (+ ‖v − G_v‖²) for TwoLayerReLU, batched, with a hand-written backward.

    With H = 1[Z > 0], Z = X Wᵀ and U = (c ⊙ H)ᵀ X (row j: Σᵢ cᵢHᵢⱼxᵢ), the sums of :func:`_grad_sum_closed` are
    G_W = v ⊙ U and G_v = relu(Z)ᵀ c = rowwise W · U (since relu(zᵢⱼ) = Hᵢⱼ wⱼ·xᵢ): two m×d×width products
    and a single elementwise pass over the m × width gate. With R_W = W − G_W, R_v = v − G_v and
    M = v ⊙ R_W + R_v ⊙ W (width × d; no R_v term for a fixed second layer), both gradients of the exact
    gate come from ONE product P = −2 H · M: ∂/∂xᵢ = cᵢ Pᵢ and ∂/∂cᵢ = xᵢ · Pᵢ (the gate is piecewise
    constant in x). Three products per loss and gradient instead of autograd's five.

    With a soft gate α (straight-through: the value keeps H, the gradient of the gate is that of
    sigmoid(αZ)) ∂/∂xᵢ gains Σⱼ Dᵢⱼ wⱼ with Dᵢⱼ = −2 α cᵢ vⱼ σ′(αzᵢⱼ) (xᵢ · R_W,j): two more products
    ((c ⊙ X) R_Wᵀ and D W), five in all, as autograd, with three elementwise passes over the gate instead
    of its nine (benchmarks/attack_step.py).
    """

    @staticmethod
    def forward(ctx, X, c, net, alpha):
        W, v = net.W.detach(), net.v.detach()
        Z = X @ W.T
        H = (Z > 0).to(X.dtype)
        U = (H * c.unsqueeze(-1)).transpose(-1, -2) @ X
        R_W = W - v.unsqueeze(-1) * U
        loss = R_W.pow(2).sum((-1, -2))
        R_v = None
        if not net.fixed_second_layer:
            R_v = v - (W * U).sum(-1)
            loss = loss + R_v.pow(2).sum(-1)
        ctx.alpha = alpha
        ctx.save_for_backward(X, c, W, v, H, None if alpha is None else Z, R_W, R_v)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        X, c, W, v, H, Z, R_W, R_v = ctx.saved_tensors
        g = (-2 * grad).reshape(*grad.shape, 1, 1)
        M = v.unsqueeze(-1) * R_W
        if R_v is not None:
            M = M + R_v.unsqueeze(-1) * W
        P = H @ (M * g)
        dX = c.unsqueeze(-1) * P
        if ctx.alpha is not None:
            scaled = (c.unsqueeze(-1) * X) @ (R_W * g * (ctx.alpha * v).unsqueeze(-1)).transpose(-1, -2)
            # sigmoid_backward(a, s) = a · s(1 − s): Dᵢⱼ in one pass over the gate
            D = torch.ops.aten.sigmoid_backward(scaled, torch.sigmoid(Z * ctx.alpha))
            dX = dX + D @ W
        return dX, (X * P).sum(-1), None, None


def _grad_sum_generic(net: nn.Module, X: torch.Tensor, c: torch.Tensor, alpha: float | None = None):
    """Σᵢ cᵢ∇θΦ(θ; xᵢ) = ∇θ[Σᵢ cᵢΦ(θ; xᵢ)] with ``torch.func``, vmapped over the batch dimensions.

    The result keeps the autograd graph to ``X`` and ``c`` (torch.func.grad composes with autograd).
    ``alpha``: the soft gate, passed to ``HomogeneousMLP.forward(x, gate=alpha)``.
    """
    names = [name for name, _ in net.named_parameters()]
    params = {name: p.detach() for name, p in net.named_parameters()}
    buffers = dict(net.named_buffers())
    kwargs = {} if alpha is None else {"gate": alpha}

    def weighted_output(theta, Xb, cb):
        return (cb * torch.func.functional_call(net, {**theta, **buffers}, (Xb,), kwargs)).sum()

    batch = X.shape[:-2]
    m, d = X.shape[-2:]
    Xf, cf = X.reshape(-1, m, d), c.reshape(-1, m)
    grads = torch.func.vmap(torch.func.grad(weighted_output), in_dims=(None, 0, 0))(params, Xf, cf)
    return [grads[name].reshape(*batch, *params[name].shape) for name in names]


def _grad_sum(net, X, y, lam, gate, method):
    """Shared core of :func:`stationarity_sum` and :func:`kkt_loss`: per-parameter sums, batched."""
    batch = torch.broadcast_shapes(X.shape[:-2], lam.shape[:-1], y.shape[:-1])
    m, d = X.shape[-2:]
    X = X.expand(*batch, m, d)
    c = (lam * y).expand(*batch, m)
    if method == "closed":
        return _grad_sum_closed(net, X, c, gate), batch
    return _grad_sum_generic(net, X, c, gate), batch


def _checked_method(net, gate, method) -> str:
    """The network's structure (bias-free, homogeneous) and the gate checked; the method resolved."""
    _check_net(net)
    if not isinstance(net, (TwoLayerReLU, HomogeneousMLP)):
        _degree(net)  # structural check: rejects biases and non-homogeneous layers
    return _check_method(method, net, gate)


def _validated(net, X, y, lam, gate, method, batched):
    method = _checked_method(net, gate, method)
    X, y = _inputs(net, X, y, batched=batched)
    lam = check_multipliers(lam, X.shape[-2], dtype=X.dtype, device=X.device)
    return X, y, lam, (None if gate is None else float(gate)), method


# ------------------------------------------------------------------------------------------- public API
def margins(net: nn.Module, X, y) -> torch.Tensor:
    """Margins qᵢ = yᵢ Φ(θ; xᵢ), shape ``(n,)`` (differentiable; in the network's dtype)."""
    _check_net(net)
    X, y = _inputs(net, X, y, batched=False)
    return y * net(X)


def normalize_margin(net: nn.Module, X, y) -> nn.Module:
    """A deep copy of ``net`` rescaled so that minᵢ yᵢΦ(θ̂; xᵢ) = 1: θ̂ = θ / q_min^{1/L}.

    Homogeneity (Φ(cθ) = c^L Φ(θ)) makes this the unique positive rescaling onto the constraint set of the
    max-margin problem; the (ε, δ)-KKT conditions of Lyu & Li (2020) are stated for θ̂.
    Raises ``ValueError`` when the network does not separate the data (q_min ≤ 0).
    """
    L = _degree(_check_net(net))
    with torch.no_grad():
        q_min = margins(net, X, y).min().item()
    if not q_min > 0:
        raise ValueError(f"the network does not separate the data: min margin = {q_min:.3g} ≤ 0; "
                         "it has no KKT normalisation")
    scaled = copy.deepcopy(net)
    factor = q_min ** (-1.0 / L)
    with torch.no_grad():
        for p in scaled.parameters():
            p.mul_(factor)
    return scaled


def stationarity_sum(net: nn.Module, X, y, lam, *, gate: float | None = None, method: str = "auto") -> torch.Tensor:
    """Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ), flattened in ``net.parameters()`` order (the order of ``parameter_vector``).

    ``X`` may be batched, ``(..., n, d)`` with ``lam`` of shape ``(..., n)`` (broadcast against each other);
    the result then has shape ``(..., P)``. θ is treated as a constant. ``method``: ``"closed"`` (TwoLayerReLU
    only), ``"generic"`` (``torch.func``, any homogeneous module) or ``"auto"`` (closed when possible).
    ``gate``: see :func:`kkt_loss`. At a KKT point θ = stationarity_sum(θ, X, y, λ) (paper §2, Eq. KKT).
    """
    X, y, lam, gate, method = _validated(net, X, y, lam, gate, method, batched=True)
    grads, batch = _grad_sum(net, X, y, lam, gate, method)
    return torch.cat([g.reshape(*batch, -1) for g in grads], dim=-1)


def kkt_loss(net: nn.Module, X, y, lam, *, lam_min: float = 0.0, penalty: float = 1.0, gate: float | None = None,
             method: str = "auto") -> torch.Tensor:
    """The reconstruction loss of Haim et al. (2022): ‖θ − Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ)‖² + penalty · Σᵢ relu(lam_min − λᵢ).

    The dual-feasibility term is Haim et al.'s *linear* hinge Σᵢ relu(lam_min − λᵢ) (an exact penalty: for a
    large enough ``penalty`` its minimisers satisfy λᵢ ≥ lam_min; it is zero once they do).

    Batched: ``X`` of shape ``(..., m, d)``, ``lam`` of shape ``(..., m)``, ``y`` of shape ``(m,)`` or
    broadcastable to ``(..., m)``; the leading dimensions broadcast and the loss has that shape (0-dim when
    unbatched). The K attacks on one network are one computation: a few batched matrix products in the
    closed form (TwoLayerReLU), one ``vmap`` in the generic form. Differentiable in ``X`` and ``lam``; θ is
    a constant (no gradient reaches the network).

    ``gate``: ``None`` uses the exact ReLU derivative 1[z > 0]. A slope α > 0 uses Haim et al.'s soft gate
    as a straight-through estimator: the loss *value* still uses the hard gate exactly, but its gradient
    with respect to the pre-activation z = wⱼ·x uses d/dz sigmoid(αz). Without it, the gradient w.r.t. x
    ignores activation-pattern changes (the gate is piecewise constant in x), so a point never "sees" the
    neurons it could switch on or off. TwoLayerReLU (closed form) and HomogeneousMLP (generic form, through
    :func:`~reconleak_core.models.soft_gate_relu`) only.
    """
    X, y, lam, gate, method = _validated(net, X, y, lam, gate, method, batched=True)
    return KKTLoss(net, y, lam_min=lam_min, penalty=penalty, gate=gate, method=method)(X, lam)


class KKTLoss:
    """:func:`kkt_loss` of one network and one label vector, validated once, then evaluated at every step.

    ``objective = KKTLoss(net, y, lam_min=..., penalty=..., gate=..., method=...)`` checks the network
    (bias-free, homogeneous), the method, the gate, the labels (±1, shape ``(m,)`` or ``(..., m)``) and the
    constants. ``objective(X, lam)`` then equals ``kkt_loss(net, X, y, lam, ...)`` and checks only what
    costs no pass over the data: that ``X`` (``(..., m, d)``) and ``lam`` (``(..., m)``) are tensors of the
    network's dtype and device with those shapes. It does not scan their values for NaN (:func:`kkt_loss`
    does; :func:`reconleak_core.attack.reconstruct`, which evaluates this object at every step, scans its
    candidates after every update). Validating on every call cost about a third of a book-scale step
    (``benchmarks/attack_step.py``).

    For TwoLayerReLU (closed form) the loss and its gradient take three m×d×width matrix products with
    the exact gate and five with a soft gate, with a hand-written backward; other homogeneous modules
    use the generic ``torch.func`` form.
    """

    def __init__(self, net: nn.Module, y, *, lam_min: float = 0.0, penalty: float = 1.0,
                 gate: float | None = None, method: str = "auto"):
        self.method = _checked_method(net, gate, method)
        self.gate = None if gate is None else float(gate)
        self.dtype, self.device = _dtype(net), _device(net)
        y = check_finite(as_tensor(y, "y", dtype=self.dtype, device=self.device), "y")
        self.y = check_labels(y, dtype=self.dtype, device=self.device)
        if not (isinstance(lam_min, (int, float)) and math.isfinite(lam_min)):
            raise ValueError(f"lam_min must be a finite number, got {lam_min!r}")
        if not (isinstance(penalty, (int, float)) and math.isfinite(penalty) and penalty >= 0):
            raise ValueError(f"penalty must be a non-negative finite number, got {penalty!r}")
        self.lam_min, self.penalty = float(lam_min), float(penalty)
        self.net, self.d = net, _input_dim(net)

    def __call__(self, X: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        m = self.y.shape[-1]
        for name, t in (("X", X), ("lam", lam)):
            if not isinstance(t, torch.Tensor) or t.dtype != self.dtype or t.device != self.device:
                raise TypeError(f"{name} must be a {self.dtype} tensor on {self.device} (the network's); "
                                "kkt_loss() converts other inputs")
        if X.dim() < 2 or X.shape[-2] != m or (self.d is not None and X.shape[-1] != self.d):
            raise ValueError(f"X must have shape (..., {m}, {self.d}) (one point per label), got {tuple(X.shape)}")
        if lam.dim() < 1 or lam.shape[-1] != m:
            raise ValueError(f"lam must have shape (..., {m}) (one multiplier per point), got {tuple(lam.shape)}")
        batch = torch.broadcast_shapes(X.shape[:-2], lam.shape[:-1], self.y.shape[:-1])
        if self.method == "closed":
            c = (lam * self.y).expand(*batch, m)
            loss = _ClosedFormResidual.apply(X.expand(*batch, *X.shape[-2:]), c, self.net, self.gate)
        else:
            grads, _ = _grad_sum(self.net, X, self.y, lam, self.gate, "generic")
            loss = torch.zeros(batch, dtype=X.dtype, device=X.device)
            for p, g in zip(self.net.parameters(), grads):
                loss = loss + (p.detach() - g).pow(2).reshape(*batch, -1).sum(-1)
        return loss + self.penalty * torch.relu(self.lam_min - lam).sum(-1).expand(batch)


@dataclass(frozen=True)
class Certificate:
    """(ε, δ)-KKT certificate of a network on its training set (Lyu & Li 2020, Definition of (ε,δ)-KKT).

    All quantities refer to the margin-normalised network θ̂ = θ / q_min^{1/L} (min margin exactly 1):

    - ``eps``: ‖θ̂ − Σᵢ λᵢ yᵢ ∇θΦ(θ̂; xᵢ)‖ (stationarity residual), ``eps_rel`` = eps / ‖θ̂‖;
    - ``delta``: Σᵢ λᵢ (yᵢΦ(θ̂; xᵢ) − 1) ≥ 0 (complementary slackness, summed as in Lyu & Li);
    - ``lam``: the multipliers, the non-negative least-squares fit of θ̂ by the columns yᵢ∇θΦ(θ̂; xᵢ);
    - ``support``: indices i with λᵢ > ``support_tol`` · max λ (the points the network "remembers");
    - ``margins``: yᵢΦ(θ̂; xᵢ) (min exactly 1); ``norm``: ‖θ̂‖; ``degree``: L;
    - ``kinks``: number of (point, neuron) pairs given a Clarke gate in [0, 1] (see :func:`certificate`).
    """

    eps: float
    eps_rel: float
    delta: float
    lam: np.ndarray
    support: np.ndarray
    margins: np.ndarray
    norm: float
    degree: int
    kinks: int = 0


def _kinks(net: nn.Module, X: torch.Tensor, kink_tol: float) -> torch.Tensor:
    """Boolean (n, width): point i lies on neuron j's kink, ∣wⱼ·xᵢ∣ ≤ kink_tol·‖wⱼ‖‖xᵢ‖ (TwoLayerReLU only)."""
    if kink_tol == 0 or not isinstance(net, TwoLayerReLU):
        return torch.zeros(X.shape[0], getattr(net, "width", 0), dtype=torch.bool, device=X.device)
    Z = X @ net.W.detach().T
    scale = X.norm(dim=1, keepdim=True) * net.W.detach().norm(dim=1)
    return Z.abs() <= kink_tol * scale


def _jacobian_gram(net: nn.Module, X: torch.Tensor, y: torch.Tensor, kinks: torch.Tensor):
    """Gram matrix and Jᵀθ of the certificate's columns (float64, NumPy), without forming J for TwoLayerReLU.

    Columns: Jᵢ = yᵢ∇θΦ(θ; xᵢ) with the gate of every kink pair (i, j) set to 0, then one column
    B_(i,j) = yᵢvⱼxᵢ (in wⱼ's block) per kink pair, whose coefficient μᵢⱼ ∈ [0, λᵢ] is λᵢ times a Clarke
    gate in [0, 1]. Up to ``_DENSE_GRAM_LIMIT`` columns the Gram matrix is a dense array; above it (a
    paper-scale network can have 10⁵ kink pairs, whose dense Gram matrix would take 92 GB) it is a
    :class:`_ClarkeGram`, which applies JᵀJ through n × width matrices and never forms a kink block.
    """
    with torch.no_grad():
        if isinstance(net, TwoLayerReLU):
            W, v = net.W.detach(), net.v.detach()
            Z = X @ W.T
            A = ((Z > 0) & ~kinks).to(X.dtype) * v                # vⱼ gᵢⱼ
            XX = X @ X.T
            R = None if net.fixed_second_layer else torch.relu(Z)
            gram = (A @ A.T) * XX
            rhs = (A * Z).sum(1)
            if R is not None:
                gram = gram + R @ R.T
                rhs = rhs + R @ v
            ii, jj = kinks.nonzero(as_tuple=True)
            if len(ii):
                rhs = torch.cat([rhs, v[jj] * Z[ii, jj]])
                yk = torch.cat([y, y[ii]])
                if len(yk) > _DENSE_GRAM_LIMIT:
                    top_left = gram * torch.outer(y, y)
                    return _ClarkeGram(top_left, XX, A, R, y, ii, jj, v), (rhs * yk).cpu().numpy()
                AB = A[:, jj] * v[jj] * XX[:, ii]
                BB = (jj[:, None] == jj[None, :]).to(X.dtype) * (v[jj] ** 2)[:, None] * XX[ii][:, ii]
                gram = torch.cat([torch.cat([gram, AB], 1), torch.cat([AB.T, BB], 1)], 0)
                y = yk
            return (gram * torch.outer(y, y)).cpu().numpy(), (rhs * y).cpu().numpy()
    names = [name for name, _ in net.named_parameters()]
    params = {name: p.detach() for name, p in net.named_parameters()}
    buffers = dict(net.named_buffers())

    def output(theta, x):
        return torch.func.functional_call(net, {**theta, **buffers}, (x.unsqueeze(0),)).squeeze(0)

    per_sample = torch.func.vmap(torch.func.grad(output), in_dims=(None, 0))(params, X)
    J = torch.cat([per_sample[name].reshape(X.shape[0], -1) for name in names], dim=1) * y.unsqueeze(1)
    theta = parameter_vector(net).detach()
    return (J @ J.T).cpu().numpy(), (J @ theta).cpu().numpy()


_DENSE_GRAM_LIMIT = 8000  # certificate columns (points + kink pairs) up to which the Gram matrix is dense


class _ClarkeGram:
    """The certificate's Gram matrix JᵀJ over (λ, μ) as an operator: ``gram @ z`` in O(n²·width), no kink block.

    With z = (λ, μ), Jz is the stationarity sum of the coefficient matrix C (n × width, in the W block):
    Cᵢⱼ = yᵢ(λᵢ gᵢⱼ + μᵢⱼ) vⱼ (μ nonzero only on kink pairs, where gᵢⱼ = 0), i.e. G_W = Cᵀ X, plus
    G_v = relu(Z)ᵀ(λ ⊙ y) for a trainable second layer. Hence, with T = (X Xᵀ) C (one n × n × width product),
    (JᵀJz)_λᵢ = yᵢ Σⱼ vⱼgᵢⱼ Tᵢⱼ (+ yᵢ (relu(Z) relu(Z)ᵀ(λ ⊙ y))ᵢ) and (JᵀJz)_μ(i,j) = yᵢ vⱼ Tᵢⱼ. The dense
    form would hold (n + k)² entries (92 GB for n = 500 and k = 10⁵ kink pairs, measured on the
    ``gpu_scale.py --quick`` network); this one holds a few n × width matrices.
    Supports what :func:`_clarke_multipliers` needs: ``gram @ z``, ``top_left`` (the dense n × n block of the
    points, for the NNLS start) and ``largest_eigenvalue``.
    """

    def __init__(self, top_left, XX, A, R, y, ii, jj, v):
        self.top_left = top_left.cpu().numpy()
        self.XX, self.A = XX.cpu().numpy(), A.cpu().numpy()
        self.R = None if R is None else R.cpu().numpy()
        self.y = y.cpu().numpy()
        self.ii, self.jj = ii.cpu().numpy(), jj.cpu().numpy()
        self.kink_scale = self.y[self.ii] * v.cpu().numpy()[self.jj]   # yᵢvⱼ of each kink pair
        self.n = len(self.y)
        self.shape = (self.n + len(self.ii),) * 2

    def __matmul__(self, z: np.ndarray) -> np.ndarray:
        n = self.n
        ly = z[:n] * self.y
        C = ly[:, None] * self.A
        C[self.ii, self.jj] = z[n:] * self.kink_scale
        T = self.XX @ C
        out_lam = np.einsum("ij,ij->i", self.A, T)
        if self.R is not None:
            out_lam += self.R @ (self.R.T @ ly)
        return np.concatenate([self.y * out_lam, self.kink_scale * T[self.ii, self.jj]])

    def largest_eigenvalue(self) -> float:
        from scipy.sparse.linalg import LinearOperator, eigsh

        operator = LinearOperator(self.shape, matvec=self.__matmul__, dtype=np.float64)
        return float(eigsh(operator, k=1, which="LA", return_eigenvectors=False)[0])


def _nnls_gram(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """argmin_{λ ≥ 0} ‖Jλ − θ‖² given only Jᵀ J and Jᵀ θ.

    With JᵀJ = U S Uᵀ, ‖Jλ − θ‖² = ‖S^{1/2}Uᵀλ − S^{-1/2}Uᵀ(Jᵀθ)‖² + const (Jᵀθ lies in the range of JᵀJ), so
    this is scipy's NNLS on an n×n square root instead of the P×n Jacobian (P can be millions).
    """
    from scipy.optimize import nnls

    s, U = np.linalg.eigh(gram)
    keep = s > s.max() * gram.shape[0] * np.finfo(np.float64).eps
    root = np.sqrt(s[keep])[:, None] * U[:, keep].T
    target = (U[:, keep].T @ rhs) / np.sqrt(s[keep])
    lam, _ = nnls(root, target, maxiter=50 * gram.shape[0])
    return lam


def _project_clarke(z: np.ndarray, n: int, owner: np.ndarray, slot: np.ndarray, kmax: int) -> np.ndarray:
    """Euclidean projection onto {λ ≥ 0, 0 ≤ μₖ ≤ λ_owner(k)} (exact, vectorised over points).

    For one point: μⱼ = clip(bⱼ, 0, λ), and λ = max(0, maxₘ (a + Σ_{t≤m} b₍ₜ₎)/(1 + m)) over the m largest bⱼ
    (the root of the increasing piecewise-linear optimality condition is the largest candidate).
    """
    a, b = z[:n], z[n:]
    padded = np.full((n, kmax), -np.inf)
    padded[owner, slot] = b
    ordered = -np.sort(-padded, axis=1)
    finite = np.isfinite(ordered)
    candidates = (a[:, None] + np.cumsum(np.where(finite, ordered, 0.0), axis=1)) / (2.0 + np.arange(kmax))
    lam = np.maximum(np.maximum(a, np.where(finite, candidates, -np.inf).max(axis=1)), 0.0)
    return np.concatenate([lam, np.clip(b, 0.0, lam[owner])])


def _clarke_multipliers(gram: np.ndarray, rhs: np.ndarray, n: int, owner: np.ndarray, iters: int) -> np.ndarray:
    """min ½zᵀGz − rhsᵀz over z = (λ, μ) with λ ≥ 0, 0 ≤ μₖ ≤ λ_owner(k): NNLS start, then FISTA with restarts.

    Returns the best iterate found (never worse than the NNLS start, which has all kink gates 0); any
    feasible z gives a valid certificate, so stopping early only makes ε larger, never wrong.
    """
    dense = isinstance(gram, np.ndarray)
    lam0 = _nnls_gram(gram[:n, :n] if dense else gram.top_left, rhs[:n])
    z = np.concatenate([lam0, np.zeros(len(owner))])
    if len(owner) == 0 or iters == 0:
        return z
    counts = np.bincount(owner, minlength=n)
    order = np.argsort(owner, kind="stable")
    slot = np.empty(len(owner), dtype=int)
    slot[order] = np.arange(len(owner)) - np.concatenate([[0], np.cumsum(counts)[:-1]])[owner[order]]
    step = 1.0 / (np.linalg.eigvalsh(gram)[-1] if dense else gram.largest_eigenvalue())

    def value(u):
        return (0.5 * u @ gram @ u if dense else 0.5 * u @ (gram @ u)) - rhs @ u

    x, yk, t = z.copy(), z.copy(), 1.0
    for _ in range(iters):
        x_new = _project_clarke(yk - step * (gram @ yk - rhs), n, owner, slot, counts.max())
        if (yk - x_new) @ (x_new - x) > 0:  # gradient-based restart (O'Donoghue & Candès 2015)
            yk, t = x.copy(), 1.0
            continue
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        yk = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
    return x if value(x) < value(z) else z


def certificate(net: nn.Module, X, y, *, kink_tol: float = 1e-4, support_tol: float = 1e-9,
                max_iter: int = 3000) -> Certificate:
    """The (ε, δ)-KKT certificate of ``net`` on ``(X, y)`` (Lyu & Li 2020; the paper's approximate KKT points).

    Steps, in float64: normalise the margin (θ̂ = θ / q_min^{1/L}); fit multipliers λ ≥ 0 by non-negative
    least squares of θ̂ on the columns yᵢ∇θΦ(θ̂; xᵢ) (scipy NNLS, solved on the n×n Gram matrix so that
    paper-scale networks fit in memory); report ε = ‖θ̂ − Σᵢλᵢyᵢhᵢ‖ computed directly, and
    δ = Σᵢ λᵢ(yᵢΦ(θ̂; xᵢ) − 1). An exact KKT point gives ε = δ = 0 (see :func:`simplex_kkt_point`); a network
    trained longer toward the max-margin direction gives smaller ε_rel. λ minimises stationarity only, so
    δ is the slackness *of that λ* (it is not separately minimised).

    Clarke gates (TwoLayerReLU). The KKT conditions of a ReLU network use the Clarke subdifferential
    (Lyu & Li 2020): where wⱼ·xᵢ = 0 the gate 1[wⱼ·xᵢ > 0] may be any sᵢⱼ ∈ [0, 1]. Gradient descent really
    does converge with many points exactly on neurons' kinks (∣wⱼ·xᵢ∣ ~ 1e-6‖wⱼ‖‖xᵢ‖ after training); the
    hard gate then misses them and ε_rel stalls near 0.2 however long one trains. Pairs with
    ∣wⱼ·xᵢ∣ ≤ ``kink_tol``·‖wⱼ‖‖xᵢ‖ therefore get a free gate sᵢⱼ ∈ [0, 1], fitted jointly with λ (a convex
    QP in (λ, μ = λs), solved from the NNLS start by ``max_iter`` projected accelerated-gradient steps
    (a paper-scale network can have 10⁵ kink pairs: the QP's matrix is then applied as an operator through
    n × width matrices, never stored);
    any feasible point is a valid certificate, so fewer iterations can only overstate ε). The certificate
    then holds for the network with those pre-activations moved onto the kink (a relative change of at
    most ``kink_tol``). ``kink_tol=0`` gives the hard-gate certificate; ``kinks`` reports the pair count.
    Other networks use autograd's derivative (relu'(0) = 0) and no kink pairs.
    Raises ``ValueError`` on a network that does not separate the data.
    """
    _check_net(net)
    if not (isinstance(support_tol, (int, float)) and 0 <= support_tol < 1):
        raise ValueError(f"support_tol must be a number in [0, 1), got {support_tol!r}")
    if not (isinstance(kink_tol, (int, float)) and 0 <= kink_tol < 1):
        raise ValueError(f"kink_tol must be a number in [0, 1), got {kink_tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 0:
        raise ValueError(f"max_iter must be a non-negative integer, got {max_iter!r}")
    L = _degree(net)
    net64 = copy.deepcopy(net).to(torch.float64)
    X, y = _inputs(net64, X, y, batched=False)
    hat = normalize_margin(net64, X, y)
    n = X.shape[0]
    kinks = _kinks(hat, X, kink_tol)
    ii, jj = kinks.nonzero(as_tuple=True)
    gram, rhs = _jacobian_gram(hat, X, y, kinks)
    z = _clarke_multipliers(gram, rhs, n, ii.cpu().numpy(), max_iter)
    lam = z[:n]
    lam_t = torch.as_tensor(lam, dtype=torch.float64, device=X.device)
    with torch.no_grad():
        theta = parameter_vector(hat).detach()
        if isinstance(hat, TwoLayerReLU):
            Z = X @ hat.W.T
            coeff = ((Z > 0) & ~kinks).to(X.dtype) * (lam_t * y)[:, None]
            coeff[ii, jj] = torch.as_tensor(z[n:], dtype=X.dtype, device=X.device) * y[ii]
            grads = [(coeff * hat.v).T @ X] + ([] if hat.fixed_second_layer else [torch.relu(Z).T @ (lam_t * y)])
            residual = theta - torch.cat([g.reshape(-1) for g in grads])
        else:
            residual = theta - stationarity_sum(hat, X, y, lam_t)
        q = margins(hat, X, y)
    eps = residual.norm().item()
    norm = theta.norm().item()
    q_np = q.cpu().numpy()
    support = np.flatnonzero(lam > support_tol * lam.max()) if lam.max() > 0 else np.array([], dtype=int)
    return Certificate(eps=eps, eps_rel=eps / norm, delta=float(np.sum(lam * (q_np - 1.0))), lam=lam,
                       support=support, margins=q_np, norm=norm, degree=L, kinks=len(ii))


def simplex_kkt_point(n: int, d: int | None = None, dtype: torch.dtype = torch.float64):
    """An exact KKT point of the max-margin problem, built by hand: returns ``(net, X, y, lam)``.

    Data: the n unit vertices of a regular simplex centred at 0 (xᵢ·xₖ = −1/(n−1) for i ≠ k), embedded in the
    first n coordinates of ℝᵈ (d ≥ n, default n; they span an (n−1)-dimensional subspace), labels alternating
    +1, −1, .... Network: ``TwoLayerReLU`` with one neuron per point, wᵢ = xᵢ, vᵢ = yᵢ; multipliers λᵢ = 1.

    Why it is exact: neuron j is active only on its own point (wⱼ·xₖ = −1/(n−1) < 0 for k ≠ j, strictly off
    the ReLU kink), so Φ(xₖ) = yₖ and every margin is 1; and Σₖ λₖyₖ∇_{wⱼ}Φ(xₖ) = yⱼvⱼxⱼ = wⱼ,
    Σₖ λₖyₖ∇_{vⱼ}Φ(xₖ) = yⱼ relu(1) = vⱼ. (Orthonormal data would put pre-activations on the kink.)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer ≥ 2 (a simplex needs two vertices), got {n!r}")
    d = n if d is None else d
    if isinstance(d, bool) or not isinstance(d, int) or d < n:
        raise ValueError(f"d must be an integer ≥ n = {n}, got {d!r}")
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
