"""Input validation shared by every public function of the library.

Each helper either returns a clean value or raises an error whose message names the argument and the
problem (wrong shape, labels not ±1, NaN, ...): ``TypeError`` for a value of the wrong kind (a string, a
boolean or a complex number where a real is meant, an integer dtype where a floating one is meant),
``ValueError`` for a value of the right kind out of range. Nothing is silently clipped or coerced beyond
dtype. Scalars: Python and NumPy numbers are accepted alike (``np.int64(3)`` is an integer, ``np.float32``
a real), booleans never count as numbers. Networks: :func:`check_network` (NaN weights named as such) and
:func:`scalar_output` (the one place where an ``(n, 1)`` network output becomes the scalar output ``(n,)``).
Per-member settings of a batched attack: :func:`is_sequence` tells a sequence of values from one value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["as_tensor", "check_finite", "check_points", "check_labels", "check_multipliers", "check_positive",
           "check_real", "check_reals", "check_nonnegative", "check_fraction", "check_int", "check_seed", "check_bool",
           "check_float_dtype", "check_network", "check_not_meta", "scalar_output", "check_image_shape", "is_sequence",
           "set_frozen", "SEED_MAX"]

SEED_MAX = 2**63 - 1
"""The largest seed accepted (torch generators take a signed 64-bit integer)."""


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_real(value, name: str, allow_inf: bool = False) -> float:
    """``value`` as a float: a real number (Python or NumPy; not a bool, string or complex), not NaN,
    finite unless ``allow_inf``. A 0-dim real tensor counts as a number.

    ``name`` names the value in error messages.
    """
    check_not_meta(value, name)
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not (value.is_complex() or value.dtype == torch.bool):
        value = value.item()
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be a {'' if allow_inf else 'finite '}number, got {value}")
    return value


def check_positive(value, name: str, allow_inf: bool = False) -> float:
    """Return ``value`` as a float after checking it is a positive (finite unless ``allow_inf``) real number.

    ``name`` names the value in error messages.
    """
    value = check_real(value, name, allow_inf=True)
    if value <= 0 or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be a positive{'' if allow_inf else ' finite'} number, got {value}")
    return value


def check_reals(values, name: str, positive: bool = False) -> tuple:
    """A non-empty sequence of finite real numbers (positive ones with ``positive``) as a tuple of floats.

    ``values`` is the sequence; ``name`` names it in error messages.
    """
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of numbers, got a string")
    try:
        values = tuple(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from None
    if not values:
        raise ValueError(f"{name} must hold at least one value")
    check = check_positive if positive else check_real
    return tuple(check(v, f"{name}[{k}]") for k, v in enumerate(values))


def check_nonnegative(value, name: str) -> float:
    """Return ``value`` as a float after checking it is a finite real number ≥ 0.

    ``name`` names the value in error messages.
    """
    value = check_real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value}")
    return value


def check_fraction(value, name: str) -> float:
    """Return ``value`` as a float after checking it is a real number in [0, 1).

    ``name`` names the value in error messages.
    """
    value = check_real(value, name)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value}")
    return value


def check_int(value, name: str, minimum: int | None = 1, maximum: int | None = None,
              allow_none: bool = False) -> int | None:
    """``value`` as an ``int``: a Python or NumPy integer (not a bool, float or string) in
    [``minimum``, ``maximum``]; ``None`` passes through when ``allow_none``.

    ``name`` names the value in error messages.
    """
    if value is None and allow_none:
        return None
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        kind = "None or an integer" if allow_none else "an integer"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer ≥ {minimum}")
        else:
            wanted = f"an integer in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be {'None or ' if allow_none else ''}{wanted}, got {value}")
    return value


def check_seed(value, name: str = "seed") -> int:
    """A seed: an integer in [0, :data:`SEED_MAX`].

    ``value`` is the seed; ``name`` names it in error messages.
    """
    return check_int(value, name, minimum=0, maximum=SEED_MAX)


def check_bool(value, name: str) -> bool:
    """``value`` as a ``bool``: only ``True``/``False`` (or a NumPy bool), never 0/1 or a string.

    ``name`` names the value in error messages.
    """
    if not _is_bool(value):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_float_dtype(dtype, name: str = "dtype") -> torch.dtype:
    """A floating torch dtype (``torch.float64``...); integer, bool and complex dtypes are refused.

    ``dtype`` is the dtype to check; ``name`` names it in error messages.
    """
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"{name} must be a floating torch.dtype such as torch.float64, got {dtype!r}")
    return dtype


def as_tensor(value, name: str, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """Convert ``value`` (tensor, array or nested list of real numbers) to a floating tensor, naming it in errors.

    Complex and boolean values are refused (``TypeError``), as is a non-floating ``dtype``.

    ``name`` names the value in error messages; ``dtype`` and ``device``, when given, are those of the result.
    """
    if dtype is not None:
        check_float_dtype(dtype)
    if isinstance(value, str):
        raise TypeError(f"{name} must be a tensor or array of numbers, got a string")
    check_not_meta(value, name)
    try:
        tensor = torch.as_tensor(value, device=device)
    except Exception as exc:  # noqa: BLE001 - re-raised with the argument's name
        raise TypeError(f"{name} must be a tensor or array of numbers, got {type(value).__name__}") from exc
    if tensor.is_complex():
        raise TypeError(f"{name} must be real, got complex values ({tensor.dtype})")
    if tensor.dtype == torch.bool:
        raise TypeError(f"{name} must hold numbers, got booleans")
    if dtype is not None:
        tensor = tensor.to(dtype)
    elif not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


def check_not_meta(value, name: str) -> None:
    """Refuse a tensor on PyTorch's ``meta`` device (shapes without values: nothing can be computed from it).

    ``value`` is any value (only tensors are checked); ``name`` names it in error messages.
    """
    if isinstance(value, torch.Tensor) and value.is_meta:
        raise ValueError(f"{name} is a tensor on the 'meta' device: it has a shape but no values; "
                         "materialise it (e.g. .to_empty(device='cpu') and fill it) first")


def check_finite(tensor: torch.Tensor, name: str, step: int | None = None) -> torch.Tensor:
    """Raise ``ValueError`` if ``tensor`` holds NaN or infinity ("NaN found in X at step k").

    ``name`` names the tensor in the message; ``step`` (optional) is the iteration at which it was computed.
    """
    if not torch.isfinite(tensor).all():
        kind = "NaN" if torch.isnan(tensor).any() else "infinite value"
        where = f" at step {step}" if step is not None else ""
        raise ValueError(f"{kind} found in {name}{where}")
    return tensor


def check_points(X, name: str = "X", d: int | None = None, dtype=None, device=None,
                 batched: bool = False) -> torch.Tensor:
    """Validate a point set: shape ``(n, d)`` (or ``(..., n, d)`` when ``batched``), finite, n ≥ 1.

    ``d`` (when given) is the input dimension the network expects.

    ``X`` is the point set; ``name`` names it in error messages; ``dtype`` and ``device``, when given, are those of
    the result (a floating dtype).
    """
    X = as_tensor(X, name, dtype=dtype, device=device)
    if batched:
        if X.dim() < 2:
            raise ValueError(f"{name} must have shape (..., n, d), got shape {tuple(X.shape)}")
    elif X.dim() != 2:
        raise ValueError(f"{name} must have shape (n, d), got shape {tuple(X.shape)}")
    if X.shape[-2] == 0:
        raise ValueError(f"{name} is empty: it needs at least one point")
    if d is not None and X.shape[-1] != d:
        raise ValueError(f"{name} has points of dimension {X.shape[-1]} but the network expects dimension {d}")
    return check_finite(X, name)


def check_labels(y, n: int | None = None, dtype=None, device=None, batched: bool = False) -> torch.Tensor:
    """Validate labels: a 1-D tensor of values in {-1, +1} (length ``n`` when given); with ``batched``
    any shape ``(..., n)``.

    ``y`` holds the labels; ``dtype`` and ``device``, when given, are those of the result.
    """
    y = as_tensor(y, "y", dtype=dtype, device=device)
    if y.dim() < 1 or (y.dim() > 1 and not batched):
        raise ValueError(f"labels y must be a 1-D tensor{' (or batched (..., n))' if batched else ''}, "
                         f"got shape {tuple(y.shape)}")
    if n is not None and y.shape[-1] != n:
        raise ValueError(f"labels y have length {y.shape[-1]} but there are {n} points")
    if y.shape[-1] == 0:
        raise ValueError("labels y are empty: there must be at least one label")
    check_finite(y, "y")
    bad = ~((y == 1) | (y == -1))
    if bad.any():
        found = sorted({float(v) for v in y[bad].flatten()[:5].tolist()})
        raise ValueError(f"labels must be ±1; found values {found}")
    return y


def check_multipliers(lam, n: int, dtype=None, device=None, nonnegative: bool = False) -> torch.Tensor:
    """Validate KKT multipliers λ: last dimension ``n``, finite, and ≥ 0 when ``nonnegative``.

    ``lam`` holds the multipliers; ``dtype`` and ``device``, when given, are those of the result.
    """
    lam = as_tensor(lam, "lam", dtype=dtype, device=device)
    if lam.dim() < 1 or lam.shape[-1] != n:
        raise ValueError(f"multipliers lam must have last dimension {n} (one per point), got shape {tuple(lam.shape)}")
    check_finite(lam, "lam")
    if nonnegative and (lam < 0).any():
        raise ValueError(f"multipliers lam must be non-negative; smallest is {lam.min().item():.3g}")
    return lam


def check_network(net, name: str = "net") -> nn.Module:
    """A ``torch.nn.Module`` with trainable parameters, all finite ("network parameters contain NaN").

    ``net`` is the network; ``name`` names it in error messages.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(net).__name__}")
    params = list(net.parameters())
    if not params:
        raise ValueError("the network has no trainable parameters")
    for p in params:
        check_not_meta(p, "a network parameter")
        if p.is_complex():
            raise TypeError(f"network parameters must be real, got {p.dtype}")
        if not torch.isfinite(p.detach()).all():
            kind = "NaN" if torch.isnan(p.detach()).any() else "infinite values"
            raise ValueError(f"network parameters contain {kind}: the network is unusable (did its training diverge?)")
    return net


def scalar_output(output: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The network's scalar output Φ(θ; x) for the points ``X`` (shape ``(..., d)``): shape ``X.shape[:-1]``.

    The library's networks return ``(...,)``; an ``nn.Sequential`` ending in ``Linear(k, 1)`` returns
    ``(..., 1)``, squeezed here (without it ``y * net(X)`` would broadcast to an (n, n) matrix). Any other
    shape (several outputs per point) raises ``ValueError``. Every function that evaluates a network calls this.

    ``output`` is ``net(X)`` as the network returned it.
    """
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"the network must return a tensor, got {type(output).__name__}")
    batch = X.shape[:-1]
    if output.shape == batch:
        return output
    if output.shape == (*batch, 1):
        return output.squeeze(-1)
    raise ValueError(f"the network must output one number per point: for inputs of shape {tuple(X.shape)} "
                     f"it returned shape {tuple(output.shape)}, expected {tuple(batch)} or {(*batch, 1)}")


def check_image_shape(image_shape, dim: int) -> tuple:
    """``image_shape`` as a tuple (C, H, W) of positive integers whose product is the points' dimension ``dim``."""
    if not is_sequence(image_shape):
        raise TypeError(f"image_shape must be a sequence of three positive integers (C, H, W), got "
                        f"{type(image_shape).__name__} {image_shape!r}")
    shape = tuple(image_shape)
    if len(shape) != 3 or any(_is_bool(v) or not isinstance(v, numbers.Integral) or v < 1 for v in shape):
        raise ValueError(f"image_shape must be three positive integers (C, H, W), got {image_shape!r}")
    shape = tuple(int(v) for v in shape)
    if shape[0] * shape[1] * shape[2] != dim:
        raise ValueError(f"image_shape {shape} has {shape[0] * shape[1] * shape[2]} pixels but the points have "
                         f"dimension {dim}")
    return shape


def set_frozen(obj, **values) -> None:
    """Store checked, normalised ``values`` on a frozen dataclass ``obj`` (for ``__post_init__``: a tuple
    of floats in place of the list a caller passed, say)."""
    for key, value in values.items():
        object.__setattr__(obj, key, value)


def is_sequence(value) -> bool:
    """Whether ``value`` is a sequence of per-member settings (one entry per member of a batched attack).

    True for a list, tuple or other ``collections.abc.Sequence`` except a string, and for a 1-dim tensor or
    array; False for a scalar, a 0-dim tensor or array, a string, and a tensor or array of 2 or more
    dimensions (a single value such as a point set, not a list of them). Used by
    ``attack.reconstruct_batch`` to tell per-member values from shared ones, and by ``sweep`` to split
    them between tasks.
    """
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.ndim == 1
    return isinstance(value, Sequence) and not isinstance(value, str)
