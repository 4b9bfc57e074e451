"""Positively homogeneous networks (the setting of Haim et al. 2022 and of the paper, §2).

Interface
---------
- :class:`TwoLayerReLU` — Φ(θ; x) = Σⱼ vⱼ relu(wⱼ·x [+ bⱼ]), parameters ``W`` (width×d), optionally a
  first-layer bias ``b`` (width; ``bias=True``, as Haim et al.'s networks) and ``v`` (width), homogeneous of
  degree 2 in θ = (W, b, v), or of degree 1 in θ = (W, b) when the second layer is fixed.
- :class:`HomogeneousMLP` — a bias-free deep ReLU network with scalar output, degree = number of layers.
- :class:`SoftGated` — a user's network of plain ``nn.ReLU`` modules made gate-aware (:class:`GatedReLU`).
- :func:`soft_gate_relu` — relu whose derivative carries Haim et al.'s soft gate σ(αz), in one of two
  forms (``"straight_through"`` or ``"smooth"``, see :data:`GATE_FORMS`).
- :func:`homogeneity_degree` — the degree L of a network, verified numerically (Φ(cθ) = c^L Φ(θ)).
- :func:`network_degree` — the degree the library uses: measured once, checked against a declared ``degree``.
- :func:`input_dim` — the input dimension the library uses: the attribute ``d``, else a first ``nn.Linear``'s.
- :func:`parameter_vector` — θ flattened in ``net.parameters()`` order (the order used by ``kkt``).
- :func:`span_projector` — the orthogonal projector onto the span of given points.

The network protocol (what ``kkt`` and ``attack`` need of any network, a user's included):

- input dimension: an integer attribute ``d`` (else the ``in_features`` of the first ``nn.Linear``); the
  forward takes points of shape ``(n, d)`` (a CNN reshapes them to its ``input_shape`` itself);
- homogeneity: bias-free, positively homogeneous; the degree is measured by one probe
  (:func:`homogeneity_degree`), and an integer attribute ``degree``, when declared, must agree with it;
- the soft gate: a ``forward(x, gate=None, gate_form="straight_through")`` (as the two classes here), or
  plain ``nn.ReLU`` modules gated by wrapping the network in :class:`SoftGated`; otherwise ``gate=None``;
- optionally a closed form, registered by class in ``kkt.CLOSED_FORMS`` (``kkt.ClosedForm``; TwoLayerReLU's
  is); without one ``kkt`` uses ``torch.func`` (generic, any such module);
- optionally Clarke-gate hooks for the certificate, registered by class in ``certificate.CLARKE_FORMS``
  (``certificate.ClarkeForm``; TwoLayerReLU's are); without them the plain (autograd-derivative) certificate.

Every network maps inputs of shape ``(..., d)`` to outputs of shape ``(...,)``; a user's network ending in
``nn.Linear(k, 1)`` (outputs ``(..., 1)``) is accepted everywhere, squeezed by
:func:`reconleak_core.checks.scalar_output`, and one with several outputs per point is refused.

A user's network, complete (it runs as a doctest): a bias-free CNN of plain ``nn.ReLU`` modules, gated by
:class:`SoftGated`, declared 2-homogeneous, through the library's KKT loss:

>>> import torch
>>> from torch import nn
>>> from reconleak_core import kkt, models
>>> class TinyCNN(nn.Module):
...     d, degree = 16, 2                       # inputs (n, 16) are 4x4 images; Conv → ReLU → Linear
...     def __init__(self):
...         super().__init__()
...         self.body = nn.Sequential(nn.Conv2d(1, 3, 3, bias=False), nn.ReLU(), nn.Flatten(),
...                                   nn.Linear(12, 1, bias=False)).double()
...     def forward(self, x):
...         return self.body(x.reshape(-1, 1, 4, 4))
>>> net = models.SoftGated(TinyCNN())
>>> models.network_degree(net), models.homogeneity_degree(net)
(2, 2)
>>> X = torch.randn(5, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> y = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0], dtype=torch.float64)
>>> lam = torch.ones(5, dtype=torch.float64)
>>> soft, hard = kkt.kkt_loss(net, X, y, lam, gate=300.0), kkt.kkt_loss(net, X, y, lam)
>>> bool(torch.isfinite(soft)) and bool(soft >= 0) and bool(hard >= 0)
True

Introduced in the book's chapter "Homogeneous networks and the max-margin implicit bias".
"""

from __future__ import annotations

import copy
import math
import numbers
import weakref
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from reconleak_core.checks import (
    check_bool,
    check_float_dtype,
    check_int,
    check_network,
    check_not_meta,
    check_points,
    check_positive,
    check_seed,
    scalar_output,
)
from reconleak_core.runtime import check_memory

__all__ = ["TwoLayerReLU", "HomogeneousMLP", "SoftGated", "GatedReLU", "soft_gate_relu", "GATE_FORMS",
           "homogeneity_degree", "network_degree", "input_dim", "parameter_vector", "span_projector"]

GATE_FORMS = ("straight_through", "smooth")
"""The two forms of the soft gate, for a ReLU ρ inside a loss built from ∇θΦ (the KKT loss).

Both keep the value ρ(z) = relu(z) and take ρ''(z) = ασ′(αz) (σ the logistic sigmoid); they differ in the
*value* of the first derivative ρ′, which is the gate of the stationarity sum:

- ``"straight_through"``: ρ′(z) = 1[z > 0] exactly, differentiated as if it were σ(αz);
- ``"smooth"`` (Haim et al.'s ``ModifiedRelu``, whose backward is grad·σ(αz), under ``create_graph=True``):
  ρ′(z) = σ(αz), so the loss itself (not only its gradient) uses the sigmoid gate wherever ρ′ appears.
"""


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(check_seed(seed))


def _check_model_dtype(dtype) -> torch.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    return dtype


def span_projector(span, d: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Orthogonal projector (d×d) onto the row span of ``span`` (k×d), at numerical rank.

    Used for the in-span initialisation of Theorem 4 and to measure how far points leave the data span.

    ``d`` is the dimension of the space and ``dtype`` the projector's dtype.
    """
    span = check_points(span, "span", d=check_int(d, "d"), dtype=check_float_dtype(dtype))
    U, S, Vh = torch.linalg.svd(span, full_matrices=False)
    rank = int((S > S.max() * max(span.shape) * torch.finfo(dtype).eps).sum())
    if rank == 0:
        raise ValueError("span is all zeros: it spans no subspace")
    basis = Vh[:rank]
    return basis.T @ basis


class TwoLayerReLU(nn.Module):
    """Two-layer ReLU network Φ(x) = Σⱼ vⱼ relu(wⱼ·x) (the paper's §2 architecture), optionally with a first-layer bias.

    Parameters
    ----------
    d, width:
        Input dimension and number of hidden neurons.
    init_scale:
        Standard deviation multiplier: wⱼ ~ init_scale·N(0, I/d), vⱼ ~ init_scale·N(0, 1/width).
        Small scales start training in the "rich" regime that converges to a KKT point.
    fixed_second_layer:
        If true, v is fixed to ±1/√width (alternating signs) and stored as a buffer, so θ = W and
        the network is 1-homogeneous in its trainable parameters.
    span:
        Optional data (k×d): the rows of W are projected onto span(span rows). Gradient descent keeps
        them there (∂Φ/∂wⱼ = vⱼ 1[wⱼ·x > 0] x), the exact setting of Theorem 4.
    bias:
        If true, a first-layer bias b (width), bⱼ ~ init_scale·N(0, 1/d), drawn after W and v (so the
        bias-free net of the same seed has the same W and v): Φ(x) = Σⱼ vⱼ relu(wⱼ·x + bⱼ). Haim et al.'s
        networks have one. It keeps the net homogeneous of the same degree in θ = (W, b, v) (scaling θ by
        c scales every pre-activation by c); a bias after the first layer would not. Parameter order:
        W, b, v. Default off (the paper's bias-free setting).
    dtype, seed:
        Parameter dtype (float64 by default, for checked claims) and the seed of the initialisation
        (a private generator: global random state is untouched).
    """

    def __init__(self, d: int, width: int, init_scale: float = 1.0, *, fixed_second_layer: bool = False,
                 span=None, bias: bool = False, dtype: torch.dtype = torch.float64, seed: int = 0):
        super().__init__()
        self.d = d = check_int(d, "d")
        self.width = width = check_int(width, "width")
        init_scale = check_positive(init_scale, "init_scale")
        _check_model_dtype(dtype)
        check_memory(8 * width * (d + 2), f"TwoLayerReLU(d={d}, width={width})")
        gen = _generator(seed)
        W = torch.randn(width, d, generator=gen, dtype=torch.float64) * (init_scale / math.sqrt(d))
        if span is not None:
            W = W @ span_projector(span, d, torch.float64)
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        self.fixed_second_layer = check_bool(fixed_second_layer, "fixed_second_layer")
        self.bias = bias
        if self.fixed_second_layer:
            signs = torch.where(torch.arange(width) % 2 == 0, 1.0, -1.0).to(torch.float64)
            v = signs / math.sqrt(width)
        else:
            v = torch.randn(width, generator=gen, dtype=torch.float64) * (init_scale / math.sqrt(width))
        self.W = nn.Parameter(W.to(dtype))
        if bias:
            b = torch.randn(width, generator=gen, dtype=torch.float64) * (init_scale / math.sqrt(d))
            self.b = nn.Parameter(b.to(dtype))
        else:
            self.b = None
        if self.fixed_second_layer:
            self.register_buffer("v", v.to(dtype))
        else:
            self.v = nn.Parameter(v.to(dtype))

    @property
    def degree(self) -> int:
        """Homogeneity degree in the trainable parameters (2, or 1 with a fixed second layer)."""
        return 1 if self.fixed_second_layer else 2

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """wⱼ·x (+ bⱼ with a bias) for every neuron: shape ``(..., width)``.

        ``x`` has shape ``(..., d)``.
        """
        z = x @ self.W.T
        return z if self.b is None else z + self.b

    def activation_pattern(self, x: torch.Tensor) -> torch.Tensor:
        """Boolean pattern 1[wⱼ·x > 0]: shape ``(..., width)`` (the patterns of Lemmas 2 and 3).

        ``x`` has shape ``(..., d)``.
        """
        return self.pre_activations(x) > 0

    def forward(self, x: torch.Tensor, gate=None, gate_form: str = "straight_through") -> torch.Tensor:
        """Φ(θ; x); ``gate=α`` uses :func:`soft_gate_relu` of ``gate_form`` (same value, for the KKT loss).

        ``x`` has shape ``(..., d)``; the output has shape ``(...)``.
        """
        return soft_gate_relu(self.pre_activations(x), gate, gate_form) @ self.v

    def extra_repr(self) -> str:
        return f"d={self.d}, width={self.width}, fixed_second_layer={self.fixed_second_layer}, bias={self.bias}"


class HomogeneousMLP(nn.Module):
    """Bias-free deep ReLU network with scalar output; homogeneous of degree ``len(widths) + 1``.

    ``widths`` lists the hidden layer sizes; each layer is ``nn.Linear(bias=False)`` followed by ReLU,
    the last layer is linear. Weights are initialised N(0, init_scale²/fan_in) from ``seed``.

    ``d`` is the input dimension, ``init_scale`` the scale of the initial weights and ``dtype`` their dtype.
    """

    def __init__(self, d: int, widths, init_scale: float = 1.0, dtype: torch.dtype = torch.float64, seed: int = 0):
        super().__init__()
        self.d = d = check_int(d, "d")
        if isinstance(widths, (str, Mapping)):
            raise TypeError(f"widths must be a sequence of hidden layer sizes, got {type(widths).__name__}")
        try:
            widths = list(widths)
        except TypeError:
            raise TypeError(f"widths must be a sequence of hidden layer sizes, got {type(widths).__name__}") from None
        if not widths:
            raise ValueError("widths must list at least one hidden layer size")
        widths = [check_int(w, f"widths[{k}]") for k, w in enumerate(widths)]
        init_scale = check_positive(init_scale, "init_scale")
        _check_model_dtype(dtype)
        sizes = [d, *widths, 1]
        check_memory(8 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])), f"HomogeneousMLP(d={d}, widths={widths})")
        gen = _generator(seed)
        self.layers = nn.ModuleList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layer = nn.Linear(fan_in, fan_out, bias=False, dtype=dtype)
            with torch.no_grad():
                layer.weight.copy_(torch.randn(fan_out, fan_in, generator=gen, dtype=torch.float64)
                                   * (init_scale / math.sqrt(fan_in)))
            self.layers.append(layer)

    @property
    def degree(self) -> int:
        """Homogeneity degree, the number of linear layers."""
        return len(self.layers)

    def forward(self, x: torch.Tensor, gate=None, gate_form: str = "straight_through") -> torch.Tensor:
        """Φ(θ; x); ``gate=α`` uses :func:`soft_gate_relu` of ``gate_form`` (same value, for the KKT loss).

        ``x`` has shape ``(..., d)``; the output has shape ``(...)``.
        """
        for layer in self.layers[:-1]:
            x = soft_gate_relu(layer(x), gate, gate_form)
        return self.layers[-1](x).squeeze(-1)


def soft_gate_relu(z: torch.Tensor, alpha, form: str = "straight_through") -> torch.Tensor:
    """relu(z) whose derivatives carry the soft gate σ(αz) (``alpha=None``: plain relu), for losses built from ∇θΦ.

    With sg the stop-gradient and s = σ(αz), every form has value relu(z) at every order of autograd or
    ``torch.func`` (the added terms are exactly zero in value); see :data:`GATE_FORMS`:

    - ``"straight_through"``: relu(z) + ½(z − sg z)(s − sg s): first derivative of value 1[z > 0], second
      derivative of value ασ′(αz);
    - ``"smooth"``: the same plus (z − sg z)·sg(s − 1[z > 0]): first derivative of value σ(αz) (Haim et al.'s
      ``ModifiedRelu``: forward relu, backward grad·σ(αz)), second derivative ασ′(αz) (their backward,
      differentiated under ``create_graph=True``).

    ``alpha`` may be a tensor broadcasting against ``z`` (one slope per batch member, as the batched attack
    passes them, inside ``torch.func.vmap`` for the generic KKT loss): its values are checked where they can
    be read (not inside a ``torch.func`` transform, whose caller, ``kkt``, has checked them).

    ``form`` is one of these names.
    """
    if form not in GATE_FORMS:
        raise ValueError(f"gate form must be one of {GATE_FORMS}, got {form!r}")
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"z must be a tensor of pre-activations, got {type(z).__name__}")
    check_not_meta(z, "z")
    if z.is_complex() or z.dtype == torch.bool:
        raise TypeError(f"z must hold real numbers, got {z.dtype}")
    if alpha is None:
        return torch.relu(z)
    if isinstance(alpha, torch.Tensor) and alpha.dim() == 0 and alpha.is_floating_point() and not alpha.is_meta:
        _check_slopes(alpha)
    else:
        alpha = check_positive(alpha, "alpha")
    s = torch.sigmoid(alpha * z)
    e = z - z.detach()
    out = torch.relu(z) + 0.5 * e * (s - s.detach())
    if form == "smooth":
        out = out + e * (s - (z > 0).to(z.dtype)).detach()
    return out


def _check_slopes(alpha: torch.Tensor) -> None:
    """Positive finite values of a slope tensor, checked unless it is being transformed by ``torch.func``."""
    try:
        bad = not bool(((alpha > 0) & torch.isfinite(alpha)).all())
    except RuntimeError:   # inside torch.func.vmap the values cannot be read (a data-dependent branch)
        return
    if bad:
        raise ValueError(f"alpha must be a positive finite slope, got {alpha.item()}")


class GatedReLU(nn.Module):
    """``nn.ReLU`` whose derivatives carry the soft gate that :class:`SoftGated` sets for one call."""

    def __init__(self):
        super().__init__()
        self.alpha, self.form = None, "straight_through"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """relu(``z``) with this module's gate: ``soft_gate_relu(z, alpha, form)``."""
        return soft_gate_relu(z, self.alpha, self.form)


class SoftGated(nn.Module):
    """A network built from plain ``nn.ReLU`` modules, made gate-aware: ``forward(x, gate=None, gate_form=...)``.

    Holds a copy of ``net`` (same parameters, same order, names prefixed ``net.``) in which every ``nn.ReLU``
    module is a :class:`GatedReLU`; ``forward(x, gate=α, gate_form=form)`` sets the gate of every one of them
    for that call (the value stays relu(z); see :func:`soft_gate_relu`), so ``kkt_loss(..., gate=α)`` and the
    attack's default soft gate work for a user's ``nn.Sequential`` or CNN. ReLUs applied as functions inside a
    custom ``forward`` (``torch.relu``, ``F.relu``) are not modules and cannot be gated: such a network needs
    its own gate-aware forward. The attributes ``d``, ``input_shape`` and ``degree`` of ``net`` are kept.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        check_network(net)
        self.net = copy.deepcopy(net)
        self._gates = []
        for module in list(self.net.modules()):
            for name, child in list(module.named_children()):
                if type(child) is nn.ReLU:
                    gated = GatedReLU()
                    setattr(module, name, gated)
                    self._gates.append(gated)
        if not self._gates:
            raise ValueError(f"{type(net).__name__} has no nn.ReLU modules to gate: give it a forward(x, gate, "
                             "gate_form) or pass gate=None")
        for name in ("d", "input_shape", "degree"):
            if hasattr(net, name):
                object.__setattr__(self, name, getattr(net, name))

    def forward(self, x: torch.Tensor, gate=None, gate_form: str = "straight_through") -> torch.Tensor:
        """The wrapped network's output with ``gate`` set on every ReLU module for this call.

        ``x`` has shape ``(..., d)``; ``gate_form`` is the form of :func:`soft_gate_relu`.
        """
        for g in self._gates:
            g.alpha, g.form = gate, gate_form
        try:
            return self.net(x)
        finally:
            for g in self._gates:
                g.alpha, g.form = None, "straight_through"


_HOMOGENEOUS = (TwoLayerReLU, HomogeneousMLP, SoftGated, GatedReLU, nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ReLU,
                nn.LeakyReLU, nn.Identity, nn.Flatten, nn.Sequential, nn.ModuleList, nn.MaxPool1d, nn.MaxPool2d,
                nn.AvgPool1d, nn.AvgPool2d)


def parameter_vector(net: nn.Module) -> torch.Tensor:
    """θ: the trainable parameters flattened and concatenated in ``net.parameters()`` order.

    ``net`` is any ``torch.nn.Module``.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    params = [p.reshape(-1) for p in net.parameters()]
    for p in params:
        check_not_meta(p, "a network parameter")
    if not params:
        raise ValueError("the network has no trainable parameters")
    return torch.cat(params)


def input_dim(net: nn.Module) -> int | None:
    """The input dimension d of ``net`` as the network protocol defines it: its integer attribute ``d``, else
    the ``in_features`` of its first layer when that is an ``nn.Linear``; ``None`` when neither tells (a
    convolutional first layer, or no layer with weights). A ``d`` that is not a positive integer raises."""
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    d = getattr(net, "d", None)
    if d is not None and not isinstance(d, nn.Module):
        return check_int(d, "the network's attribute d (its input dimension)")
    first = next((m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))), None)
    return first.in_features if isinstance(first, nn.Linear) else None


def _check_structure(net: nn.Module) -> None:
    """The structural half of the homogeneity check (see :func:`homogeneity_degree`)."""
    first = True  # no layer with weights seen yet
    for name, module in net.named_modules():
        label = name or type(module).__name__
        bias = getattr(module, "bias", None)
        if isinstance(bias, torch.Tensor):
            if not first:
                raise ValueError(f"the network is not homogeneous: module '{label}' ({type(module).__name__}) has "
                                 "a bias after the first layer (a bias after the first layer breaks homogeneity)")
            raise ValueError(f"module '{label}' ({type(module).__name__}) has a bias on the first layer: that keeps "
                             "the network homogeneous, but the library supports a first-layer bias only as "
                             "TwoLayerReLU(..., bias=True)")
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            first = False
        # leaves only (a container is judged by its children); a torch.nn layer outside the homogeneous list
        # (Tanh, Sigmoid, BatchNorm, Softplus, ...) is refused by name, a user's own leaf by the probe
        if (not isinstance(module, _HOMOGENEOUS) and next(module.children(), None) is None
                and type(module).__module__.startswith("torch.")):
            raise ValueError(f"the network is not known to be homogeneous: module '{label}' of type "
                             f"{type(module).__name__} is not a bias-free linear layer or positively homogeneous "
                             "activation")


def _measure_degree(net: nn.Module, tol: float, seed: int) -> int | None:
    """The degree L measured by the probe Φ(2θ; x) = 2^L Φ(θ; x), verified at c = 3; ``None`` when the network
    outputs zero on every probe point (nothing to measure)."""
    d = input_dim(net)
    if d is None:
        raise ValueError("cannot infer the network's input dimension (a convolutional net, or no linear layer): "
                         "give it an integer attribute 'd'")
    params = dict(net.named_parameters())
    device = next(iter(params.values())).device
    x = torch.randn(64, d, generator=_generator(seed), dtype=torch.float64).to(device)
    buffers = {k: b.to(torch.float64) if b.is_floating_point() else b for k, b in net.named_buffers()}
    base = {k: p.detach().to(torch.float64) for k, p in params.items()}

    def output(scale: float) -> torch.Tensor:
        scaled = {k: p * scale for k, p in base.items()}
        with torch.no_grad():
            return scalar_output(torch.func.functional_call(net, {**scaled, **buffers}, (x,)), x)

    f1 = output(1.0)
    if not torch.isfinite(f1).all():
        raise ValueError("cannot measure the homogeneity degree: the network's output on random inputs is not finite")
    if f1.abs().max() == 0:
        return None
    mask = f1.abs() > f1.abs().max() * 1e-6
    ratio = output(2.0)[mask] / f1[mask]
    if not torch.isfinite(ratio).all() or (ratio <= 0).any():
        raise ValueError("the network is not positively homogeneous: scaling θ by 2 flipped the sign of the output "
                         "or made it infinite")
    degrees = torch.log2(ratio)
    L = int(round(degrees.mean().item()))
    if L < 1 or (degrees - L).abs().max() > tol:
        raise ValueError(f"the network is not homogeneous: measured degrees {degrees.min().item():.4g}"
                         f"..{degrees.max().item():.4g} are not one integer ≥ 1")
    if not torch.allclose(output(3.0)[mask], f1[mask] * 3.0**L, rtol=tol, atol=0):
        raise ValueError(f"the network is not homogeneous: Φ(3θ) ≠ 3^{L} Φ(θ)")
    return L


def homogeneity_degree(net: nn.Module, tol: float = 1e-6, seed: int = 0) -> int:
    """The degree L with Φ(cθ; x) = c^L Φ(θ; x) for all c > 0 (paper §2: L-homogeneous networks).

    Structural check first: a module with a bias, or a ``torch.nn`` layer that is not positively homogeneous
    (Tanh, Sigmoid, BatchNorm, Softplus, ...), raises ``ValueError`` naming the module, with two messages for
    a bias: after the first layer it breaks homogeneity (it adds a term of lower degree); on the first layer
    it does not (scaling θ by c scales Wx + b by c), but the library's KKT computations support it only as
    :class:`TwoLayerReLU` with ``bias=True`` (whose ``b`` is a parameter, not a module bias; its degree is
    ``net.degree``). Then the degree is measured in float64 on random inputs for c = 2 and verified for
    c = 3 (relative tolerance ``tol``); a user's own leaf module is judged by this probe alone.

    ``net`` is the network; ``seed`` draws the points and the scale at which the numerical check evaluates it.
    """
    check_network(net)
    tol = check_positive(tol, "tol")
    if tol >= 1:
        raise ValueError(f"tol is a relative tolerance and must be below 1, got {tol}")
    seed = check_seed(seed)
    _check_structure(net)
    L = _measure_degree(net, tol, seed)
    if L is None:
        raise ValueError("cannot measure the homogeneity degree: the network outputs zero on random inputs")
    return L


_DEGREES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""network → (declared degree, degree used): the probe of :func:`network_degree` runs once per network."""


def network_degree(net: nn.Module) -> int:
    """The homogeneity degree L of ``net`` as the network protocol defines it (see the module docstring).

    The structure is always checked (a bias after the first layer or a non-homogeneous ``torch.nn`` layer is
    refused whatever the network declares), and the degree is measured by one probe,
    Φ(cθ; x) against c^L Φ(θ; x) (:func:`homogeneity_degree`). A declared integer attribute or property
    ``degree`` (the two classes here declare theirs, e.g. 2 for :class:`TwoLayerReLU`, 1 with a fixed second
    layer) must be an integer ≥ 1 equal to the measured one (``ValueError`` naming both otherwise); it is
    used as is only when the network outputs zero on every probe point. The result is remembered per
    network object (and per declared value), so the probe runs once.
    """
    check_network(net)
    declared = getattr(net, "degree", None)
    if declared is not None:
        if isinstance(declared, (bool, np.bool_)) or not isinstance(declared, numbers.Integral):
            raise TypeError(f"the network's declared degree must be an integer, got {type(declared).__name__} "
                            f"{declared!r}")
        declared = int(declared)
        if declared < 1:
            raise ValueError(f"the network declares degree {declared}, but a homogeneity degree is an integer ≥ 1")
    known = _DEGREES.get(net)
    if known is not None and known[0] == declared:
        return known[1]
    _check_structure(net)
    measured = _measure_degree(net, 1e-6, 0)
    if measured is None and declared is None:
        raise ValueError("cannot measure the homogeneity degree: the network outputs zero on random inputs")
    if declared is not None and measured is not None and measured != declared:
        raise ValueError(f"the network declares degree {declared}, but it is homogeneous of degree {measured} "
                         f"(measured: Φ(2θ; x) = 2^{measured} Φ(θ; x)); fix its 'degree' attribute")
    degree = declared if measured is None else measured
    _DEGREES[net] = (declared, degree)
    return degree
