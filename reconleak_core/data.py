"""Data sets of the book: sphere data (the paper's §5 synthetic setting), digits, CIFAR-10, the secret shift.

Every loader returns ``(X, y)`` with ``X`` of shape ``(n, d)`` (float64 unless stated) and labels
``y`` in {-1, +1}. Nothing here downloads at import or test time.
"""

from __future__ import annotations

import math

import torch

__all__ = ["sphere"]


def _int_arg(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return value


def sphere(n: int, d: int, subspace_dim: int | None = None, radius: float = 1.0, seed: int = 0,
           dtype: torch.dtype = torch.float64):
    """``n`` points uniform on the sphere of ``radius`` in ℝᵈ, or inside a random subspace of it.

    With ``subspace_dim = k < d`` the points are uniform on the radius-sphere of a random
    k-dimensional subspace (an orthonormal basis drawn from ``seed``): the data then do not span ℝᵈ,
    the hypothesis of Theorem 4. Labels are balanced and deterministic: yᵢ = +1 for even i, −1 for
    odd i (the points are i.i.d., so this is a random labelling of a random sample).

    Returns ``(X, y)``: ``X`` of shape (n, d), ``y`` of shape (n,), both of ``dtype``.
    """
    n = _int_arg(n, "n")
    d = _int_arg(d, "d")
    k = d if subspace_dim is None else _int_arg(subspace_dim, "subspace_dim")
    if k > d:
        raise ValueError(f"subspace_dim must be at most d={d}, got {k}")
    if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive finite number, got {radius!r}")
    gen = torch.Generator().manual_seed(_int_arg(seed, "seed", 0))
    Z = torch.randn(n, k, generator=gen, dtype=torch.float64)
    Z = Z / Z.norm(dim=1, keepdim=True) * radius
    if k < d:
        basis, _ = torch.linalg.qr(torch.randn(d, k, generator=gen, dtype=torch.float64))
        X = Z @ basis.T
    else:
        X = Z
    y = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).to(torch.float64)
    return X.to(dtype), y.to(dtype)
