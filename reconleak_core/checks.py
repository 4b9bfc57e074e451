"""Input validation shared by every public function of the library.

Each helper either returns a clean tensor or raises an error whose message names the problem
(wrong shape, labels not ±1, NaN, ...). Nothing is silently clipped or coerced beyond dtype.
"""

from __future__ import annotations

import math

import torch

__all__ = ["as_tensor", "check_finite", "check_points", "check_labels", "check_multipliers", "check_positive"]


def as_tensor(value, name: str, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """Convert ``value`` (tensor, array or nested list) to a floating tensor, naming it in errors."""
    try:
        tensor = torch.as_tensor(value, device=device)
    except Exception as exc:  # noqa: BLE001 - re-raised with the argument's name
        raise TypeError(f"{name} must be a tensor or array of numbers, got {type(value).__name__}") from exc
    if dtype is not None:
        tensor = tensor.to(dtype)
    elif not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


def check_finite(tensor: torch.Tensor, name: str, step: int | None = None) -> torch.Tensor:
    """Raise ``ValueError`` if ``tensor`` holds NaN or infinity ("NaN found in X at step k")."""
    if not torch.isfinite(tensor).all():
        kind = "NaN" if torch.isnan(tensor).any() else "infinite value"
        where = f" at step {step}" if step is not None else ""
        raise ValueError(f"{kind} found in {name}{where}")
    return tensor


def check_points(X, name: str = "X", d: int | None = None, dtype=None, device=None, batched: bool = False) -> torch.Tensor:
    """Validate a point set: shape ``(n, d)`` (or ``(..., n, d)`` when ``batched``), finite, n ≥ 1.

    ``d`` (when given) is the input dimension the network expects.
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


def check_labels(y, n: int | None = None, dtype=None, device=None) -> torch.Tensor:
    """Validate labels: a 1-D tensor of values in {-1, +1} (length ``n`` when given)."""
    y = as_tensor(y, "y", dtype=dtype, device=device)
    if y.dim() < 1:
        raise ValueError(f"labels y must be a 1-D tensor, got shape {tuple(y.shape)}")
    if n is not None and y.shape[-1] != n:
        raise ValueError(f"labels y have length {y.shape[-1]} but there are {n} points")
    bad = ~((y == 1) | (y == -1))
    if bad.any():
        found = sorted({float(v) for v in y[bad].flatten()[:5].tolist()})
        raise ValueError(f"labels must be ±1; found values {found}")
    return y


def check_multipliers(lam, n: int, dtype=None, device=None, nonnegative: bool = False) -> torch.Tensor:
    """Validate KKT multipliers λ: last dimension ``n``, finite, and ≥ 0 when ``nonnegative``."""
    lam = as_tensor(lam, "lam", dtype=dtype, device=device)
    if lam.dim() < 1 or lam.shape[-1] != n:
        raise ValueError(f"multipliers lam must have last dimension {n} (one per point), got shape {tuple(lam.shape)}")
    check_finite(lam, "lam")
    if nonnegative and (lam < 0).any():
        raise ValueError(f"multipliers lam must be non-negative; smallest is {lam.min().item():.3g}")
    return lam


def check_positive(value, name: str, allow_inf: bool = False) -> float:
    """Return ``value`` as a float after checking it is a positive (finite unless ``allow_inf``) number."""
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number, got {type(value).__name__}") from exc
    if math.isnan(value) or value <= 0 or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be a positive{'' if allow_inf else ' finite'} number, got {value}")
    return value
