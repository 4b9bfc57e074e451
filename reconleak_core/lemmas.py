"""Merging and splitting KKT points (Lemmas 2, 3) and far KKT sets (Theorems 4, 5, 8, 9).

Setting: :class:`~reconleak_core.models.TwoLayerReLU`, Φ(x) = Σⱼ vⱼ relu(wⱼ·x), with a free or a fixed
second layer (other networks raise ``TypeError``; a first-layer bias, ``TwoLayerReLU(bias=True)``, raises
``ValueError``: the budgets below are stated for the bias-free pre-activations wⱼ·x). A *KKT set* for θ
is ``(X, y, lam)`` with θ = Σᵢ λᵢ yᵢ ∇θΦ(θ; xᵢ), λ ≥ 0, yᵢΦ(xᵢ) ≥ 1 and λᵢ(yᵢΦ(xᵢ) − 1) = 0. Everything here rests on
one fact: inside one *activation region* (the points with the same pattern 1[wⱼ·x > 0]) both Φ and the
parameter gradient are linear in x,

    ∇_{wⱼ}Φ(x) = vⱼ 1[wⱼ·x > 0] x,    ∇_{vⱼ}Φ(x) = relu(wⱼ·x) = 1[wⱼ·x > 0] wⱼ·x,
    Φ(x) = u·x  with  u = Σ_{j active} vⱼwⱼ  (the gradient of Φ in x in that region),

so replacing a point by a weighted family with the same total multiplier and the same weighted mean,
all in the point's region, leaves the stationarity sum Σᵢ λᵢyᵢ∇θΦ(xᵢ) unchanged *exactly*.

Interface (all tensors in the network's dtype; use float64 for checked claims).

- :func:`mergeable_pairs` — the pairs of points that satisfy Lemma 2's hypotheses.
- :func:`merge` — Lemma 2: two same-label, same-pattern points → their λ-weighted mean.
- :func:`split` — Lemma 3: xᵢ → xᵢ + αν, xᵢ − βν with multipliers in ratio β : α.
- :func:`split_budget` — how far x can move along ±ν (or one side) before its pattern changes.
- :func:`splitting_directions` — orthonormal directions that keep a point on its margin (ν ⟂ u).
- :func:`far_kkt_set` — Theorem 4: a KKT set farther than r from every training point (a :class:`KKTSet`).
- :func:`achievable_split_distance` — Theorems 5, 8, 9: how far a split-based KKT set can get when the
  budget is finite (data near a subspace, approximate KKT points); a :class:`SplitReach`.
- :func:`split_kkt_set` — builds that set; :func:`kkt_residuals` — its (ε, δ) next to the original's.

Introduced in the book's chapters "Merging and splitting" (Lemmas 2, 3), "Infinitely many far solutions"
(Theorem 4) and "Approximate KKT and training time" (Theorems 5, 8, 9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linprog

from reconleak_core.certificate import certificate
from reconleak_core.checks import (
    as_tensor,
    check_bool,
    check_finite,
    check_fraction,
    check_int,
    check_labels,
    check_multipliers,
    check_network,
    check_points,
    check_positive,
)
from reconleak_core.kkt import margins, stationarity_sum
from reconleak_core.models import TwoLayerReLU, parameter_vector
from reconleak_core.runtime import progress_bar

__all__ = ["mergeable_pairs", "merge", "split", "split_budget", "splitting_directions", "KKTSet", "far_kkt_set",
           "SplitReach", "achievable_split_distance", "split_kkt_set", "kkt_residuals"]

_SIDES = ("both", "plus", "minus")


# ----------------------------------------------------------------------------------------------- helpers
def _check_net(net) -> TwoLayerReLU:
    """A bias-free :class:`TwoLayerReLU`: the lemmas' regions, budgets and far sets are stated for the
    pre-activations wⱼ·x of the paper's bias-free setting; a first-layer bias (wⱼ·x + bⱼ) is refused."""
    if not isinstance(net, TwoLayerReLU):
        raise TypeError("the merging/splitting lemmas are implemented for reconleak_core.models.TwoLayerReLU "
                        f"(the paper's two-layer setting), got {type(net).__name__}")
    if net.b is not None:
        raise ValueError("the merging/splitting lemmas (Lemmas 2, 3; Theorems 4, 5, 8, 9) are implemented for the "
                         "paper's bias-free TwoLayerReLU: this network has a first-layer bias (bias=True), whose "
                         "pre-activations wⱼ·x + bⱼ the split budgets and far sets do not model")
    return check_network(net)


def _weights(net: TwoLayerReLU):
    return net.W.detach(), net.v.detach()


def _check_set(net: TwoLayerReLU, X, y, lam=None):
    """Validate a point set (and multipliers, non-negative) in the network's dtype and device."""
    W = net.W
    X = check_points(X, "X", d=net.d, dtype=W.dtype, device=W.device)
    y = check_labels(y, n=X.shape[0], dtype=W.dtype, device=W.device)
    if y.dim() != 1:
        raise ValueError(f"labels y must be a 1-D tensor, got shape {tuple(y.shape)}")
    if lam is None:
        return X, y
    lam = check_multipliers(lam, X.shape[0], dtype=W.dtype, device=W.device, nonnegative=True)
    if lam.dim() != 1:
        raise ValueError(f"multipliers lam must be a 1-D tensor, got shape {tuple(lam.shape)}")
    return X, y, lam


def _check_index(i, n: int, name: str = "i") -> int:
    i = check_int(i, name, minimum=None)
    if not 0 <= i < n:
        raise ValueError(f"{name} = {i} is out of range: there are {n} points (valid indices 0..{n - 1})")
    return i


def _check_vector(value, name: str, net: TwoLayerReLU, nonzero: bool = False) -> torch.Tensor:
    vec = as_tensor(value, name, dtype=net.W.dtype, device=net.W.device)
    if vec.shape != (net.d,):
        raise ValueError(f"{name} must be a vector of shape ({net.d},), got shape {tuple(vec.shape)}")
    check_finite(vec, name)
    if nonzero and not (vec != 0).any():
        raise ValueError(f"{name} is the zero vector: a splitting direction must be non-zero")
    return vec


def _input_gradient(net: TwoLayerReLU, x: torch.Tensor) -> torch.Tensor:
    """u = Σ_{j active at x} vⱼwⱼ: Φ(z) = u·z for every z in x's activation region (shape (..., d))."""
    W, v = _weights(net)
    return ((x @ W.T > 0).to(W.dtype) * v) @ W


def _budgets(z: torch.Tensor, g: torch.Tensor, side: str) -> torch.Tensor:
    """Budget for pre-activations ``z`` (..., width) moving at rates ``g`` = W·ν: see :func:`split_budget`."""
    if side == "both":
        binding = g != 0
    elif side == "plus":
        binding = ((z > 0) & (g < 0)) | ((z <= 0) & (g > 0))
    else:
        binding = ((z > 0) & (g > 0)) | ((z <= 0) & (g < 0))
    ratio = z.abs() / torch.where(binding, g.abs(), torch.ones_like(g))
    ratio = torch.where(binding, ratio, torch.full_like(ratio, math.inf))
    return ratio.amin(dim=-1)


def _null_space(C: torch.Tensor, d: int) -> torch.Tensor:
    """Orthonormal basis (k×d) of {ν : Cν = 0}; the whole space when C has no rows or is zero."""
    if C.shape[0] == 0:
        return torch.eye(d, dtype=C.dtype, device=C.device)
    _, S, Vh = torch.linalg.svd(C, full_matrices=True)
    rank = int((S > S.max() * max(C.shape) * torch.finfo(C.dtype).eps).sum()) if S.numel() and S.max() > 0 else 0
    return Vh[rank:]


def _same_pattern(net: TwoLayerReLU, points: torch.Tensor, pattern: torch.Tensor) -> torch.Tensor:
    """Boolean per point: does it have exactly ``pattern``?"""
    with torch.no_grad():
        return (net.activation_pattern(points) == pattern).all(dim=-1)


# --------------------------------------------------------------------------------------------- Lemma 2
def mergeable_pairs(net: TwoLayerReLU, X, y) -> list[tuple[int, int]]:
    """Lemma 2's hypotheses: the pairs (i, j), i < j, with yᵢ = yⱼ and identical activation patterns.

    Every pair returned can be passed to :func:`merge` (which checks the same conditions and says which one
    fails); ascending order of (i, j). Data that crowd toward a line (shifted images, Theorem 5) produce
    many such pairs. Book chapters "Merging and splitting" and "Shifted images".

    ``net`` is the :class:`~reconleak_core.models.TwoLayerReLU`, ``X`` (n, d) the points and ``y`` (n,) their ±1
    labels.
    """
    _check_net(net)
    X, y = _check_set(net, X, y)
    with torch.no_grad():
        pattern = net.activation_pattern(X)
    same = (pattern[:, None] == pattern[None]).all(-1) & (y[:, None] == y[None])
    ii, jj = torch.triu_indices(len(X), len(X), offset=1, device=X.device)
    keep = same[ii, jj]
    return list(zip(ii[keep].tolist(), jj[keep].tolist()))


def merge(net: TwoLayerReLU, X, y, lam, i: int, j: int):
    """Lemma 2 (merging): replace points i and j by x̄ = (λᵢxᵢ + λⱼxⱼ)/(λᵢ + λⱼ) with multiplier λᵢ + λⱼ.

    Requires yᵢ = yⱼ and identical activation patterns 1[W xᵢ > 0] = 1[W xⱼ > 0]; otherwise ``ValueError``
    names the failed condition (and the neurons where the patterns differ). Multipliers must be ≥ 0.

    Guarantee (book chapter "Merging and splitting"): the stationarity sum Σₖ λₖyₖ∇θΦ(xₖ) is unchanged
    exactly, up to rounding. Why: the activation region of xᵢ and xⱼ is convex (an intersection of
    half-spaces), so x̄ lies in it; there ∇θΦ is linear in x, hence
    λᵢ∇θΦ(xᵢ) + λⱼ∇θΦ(xⱼ) = (λᵢ + λⱼ)∇θΦ(x̄), and the labels agree. Margins: Φ(x) = u·x is linear in the
    region, so yΦ(x̄) is the λ-weighted average of the two margins. If both points are on the margin
    (yΦ = 1), so is x̄; in general x̄'s margin is ≥ the smaller one (feasibility is kept) and the
    complementary-slackness sum is kept too: (λᵢ + λⱼ)(q̄ − 1) = λᵢ(qᵢ − 1) + λⱼ(qⱼ − 1).
    When λᵢ = λⱼ = 0, x̄ is the midpoint (any convex combination keeps a zero-multiplier point feasible).

    Returns ``(X', y', lam')`` with n − 1 points: x̄ takes the place of point min(i, j), point max(i, j)
    is removed, and all other points keep their relative order.

    ``net`` is the :class:`~reconleak_core.models.TwoLayerReLU`, ``X`` (n, d) the points and ``y`` (n,) their ±1
    labels, ``lam`` (n,) their multipliers; ``i`` and ``j`` the two points to merge.
    """
    _check_net(net)
    X, y, lam = _check_set(net, X, y, lam)
    n = X.shape[0]
    i, j = _check_index(i, n, "i"), _check_index(j, n, "j")
    if i == j:
        raise ValueError(f"cannot merge point {i} with itself: i and j must differ")
    if y[i] != y[j]:
        raise ValueError(f"cannot merge points {i} and {j}: their labels differ (y[{i}] = {y[i].item():+g}, "
                         f"y[{j}] = {y[j].item():+g}); Lemma 2 needs equal labels")
    with torch.no_grad():
        pattern = net.activation_pattern(X[[i, j]])
    differ = torch.nonzero(pattern[0] != pattern[1]).flatten().tolist()
    if differ:
        shown = differ[:10]
        more = f" and {len(differ) - 10} more" if len(differ) > 10 else ""
        raise ValueError(f"cannot merge points {i} and {j}: their activation patterns differ at neurons "
                         f"{shown}{more} ({len(differ)} of {net.width}); Lemma 2 needs identical patterns")
    total = lam[i] + lam[j]
    if total > 0:
        x_bar = (lam[i] * X[i] + lam[j] * X[j]) / total
    else:
        x_bar = 0.5 * (X[i] + X[j])
    if not _same_pattern(net, x_bar, pattern[0]):
        raise ValueError(f"merging points {i} and {j}: rounding put the weighted mean on a ReLU kink "
                         "(its pattern differs); the two points lie on the boundary of their region")
    lo, hi = min(i, j), max(i, j)
    keep = [k for k in range(n) if k != hi]
    X_new, y_new, lam_new = X.clone(), y.clone(), lam.clone()
    X_new[lo], lam_new[lo] = x_bar, total
    return X_new[keep], y_new[keep], lam_new[keep]


# --------------------------------------------------------------------------------------------- Lemma 3
def split_budget(net: TwoLayerReLU, x, nu, side: str = "both") -> float:
    """The largest t such that x + sν (``side="plus"``), x − sν (``"minus"``) or both (``"both"``, the
    default) keep x's activation pattern for every 0 ≤ s < t. Lemma 3's admissible steps are α, β < t.

    With zⱼ = wⱼ·x and gⱼ = wⱼ·ν, neuron j's pre-activation along the line is zⱼ ± s gⱼ, so
    t = min over the neurons that move toward the kink of ∣zⱼ∣/∣gⱼ∣ (``"both"``: every j with gⱼ ≠ 0),
    and ``math.inf`` when no neuron does (e.g. gⱼ = 0 for all j: ν ⟂ every row of W, Theorem 4's case).
    For a unit ν, t is a distance. The bound is exact: at s = t an active neuron reaches 0 and switches
    off; an inactive one reaches 0 and switches on for any s > t.

    Ties and kinks: patterns use 1[z > 0], so a neuron with wⱼ·x = 0 exactly counts as inactive. If
    such a neuron has gⱼ ≠ 0, the side that raises it switches it on at once: the budget of that side
    (and of ``"both"``) is 0. Rounding: a ν orthogonal to W's rows only up to rounding gives a huge
    finite budget (~1e15), not ``math.inf``; nothing is clipped to zero.

    ``net`` is the :class:`~reconleak_core.models.TwoLayerReLU`, ``x`` (d,) the point and ``nu`` (d,) the direction
    ν.
    """
    _check_net(net)
    if side not in _SIDES:
        raise ValueError(f"side must be one of {_SIDES}, got {side!r}")
    x = _check_vector(x, "x", net)
    nu = _check_vector(nu, "nu", net, nonzero=True)
    W, _ = _weights(net)
    return float(_budgets(W @ x, W @ nu, side))


def split(net: TwoLayerReLU, X, y, lam, i: int, nu, *, alpha: float, beta: float, keep_margin: bool = True,
          margin_tol: float = 1e-9):
    """Lemma 3 (splitting): replace xᵢ by z₁ = xᵢ + αν and z₂ = xᵢ − βν with multipliers
    λᵢβ/(α + β) and λᵢα/(α + β).

    Requires α, β > 0 (finite), ν ≠ 0, and both new points in xᵢ's activation region, i.e.
    α < ``split_budget(net, xᵢ, ν, "plus")`` and β < ``split_budget(net, xᵢ, ν, "minus")``; otherwise
    ``ValueError`` says which step leaves the region and by how much it exceeds the budget. With
    ``keep_margin`` (default) ν must also be orthogonal to u = Σ_{j active} vⱼwⱼ (relative tolerance
    ``margin_tol``), the condition that keeps both points on xᵢ's margin: use :func:`splitting_directions`.

    Guarantee (book chapter "Merging and splitting"): the multipliers sum to λᵢ and their weighted mean
    is λᵢβ/(α+β)·(xᵢ + αν) + λᵢα/(α+β)·(xᵢ − βν) = λᵢxᵢ; inside the region ∇θΦ is linear in x, so the
    stationarity sum is unchanged exactly (up to rounding). Margins: Φ(zₖ) = Φ(xᵢ) ± (step)·u·ν, so for
    ν ⟂ u both keep xᵢ's margin exactly; for other ν (``keep_margin=False``) the weighted slackness
    Σλ(q − 1) is still unchanged but one of the two points drops below xᵢ's margin.

    Returns ``(X', y', lam')`` with n + 1 points: z₁ takes the place of point i and z₂ is appended at
    the end, so the indices of all original points stay valid for further splits.

    ``net`` is the :class:`~reconleak_core.models.TwoLayerReLU`, ``X`` (n, d) the points and ``y`` (n,) their ±1
    labels, ``lam`` (n,) their multipliers; ``i`` is the point to split, ``nu`` (d,) the direction ν, ``alpha`` and
    ``beta`` the steps α and β.
    """
    _check_net(net)
    X, y, lam = _check_set(net, X, y, lam)
    i = _check_index(i, X.shape[0])
    nu = _check_vector(nu, "nu", net, nonzero=True)
    alpha, beta = check_positive(alpha, "alpha"), check_positive(beta, "beta")
    margin_tol = check_fraction(margin_tol, "margin_tol")
    keep_margin = check_bool(keep_margin, "keep_margin")
    W, _ = _weights(net)
    z, g = W @ X[i], W @ nu
    for step, name, side, sign in ((alpha, "alpha", "plus", "+"), (beta, "beta", "minus", "−")):
        budget = float(_budgets(z, g, side))
        if step >= budget:
            raise ValueError(f"the step {name} = {step:.6g} along {sign}ν changes the activation pattern of "
                             f"point {i}: its one-sided split budget is {budget:.6g}, exceeded by "
                             f"{step - budget:.3g} (Lemma 3 needs both new points in the same region)")
    if keep_margin:
        u = _input_gradient(net, X[i])
        scale = u.norm() * nu.norm()
        cosine = (u @ nu).abs() / scale if scale > 0 else torch.zeros((), dtype=u.dtype)
        if cosine > margin_tol:
            shift = (u @ nu).item() * y[i].item()
            raise ValueError(f"ν is not margin-preserving for point {i}: |u·ν|/(‖u‖‖ν‖) = {cosine.item():.3g} > "
                             f"margin_tol = {margin_tol:g}, with u = Σ_(active j) vⱼwⱼ; the new margins would move by "
                             f"{alpha * shift:+.3g} and {-beta * shift:+.3g}. "
                             "Use splitting_directions(...) or pass keep_margin=False")
    z1, z2 = X[i] + alpha * nu, X[i] - beta * nu
    with torch.no_grad():
        pattern = net.activation_pattern(X[i])
    if not (_same_pattern(net, z1, pattern) and _same_pattern(net, z2, pattern)):
        raise ValueError(f"splitting point {i}: a step within the budget changed the pattern through rounding "
                         "(a pre-activation lands on a ReLU kink); take a slightly smaller step")
    lam1, lam2 = lam[i] * beta / (alpha + beta), lam[i] * alpha / (alpha + beta)
    X_new, lam_new = X.clone(), lam.clone()
    X_new[i], lam_new[i] = z1, lam1
    return (torch.cat([X_new, z2.unsqueeze(0)]), torch.cat([y, y[i:i + 1]]),
            torch.cat([lam_new, lam2.reshape(1)]))


def splitting_directions(net: TwoLayerReLU, X, y, i: int) -> torch.Tensor:
    """Orthonormal basis (k×d, rows) of the directions ν ⟂ u, u = Σ_{j active at xᵢ} vⱼwⱼ = ∇ₓΦ(xᵢ).

    Lemma 3's margin condition (book chapter "Merging and splitting"): Φ(z) = u·z in xᵢ's activation
    region, so for every such ν and every step within :func:`split_budget` Φ(xᵢ ± sν) = Φ(xᵢ): the split
    points keep xᵢ's margin exactly. k = d − 1 (k = d when u = 0). The basis does not take the budget
    into account: a direction can still be blocked by a nearby kink.

    ``net`` is the :class:`~reconleak_core.models.TwoLayerReLU`, ``X`` (n, d) the points and ``y`` (n,) their ±1
    labels; ``i`` is the point.
    """
    _check_net(net)
    X, y = _check_set(net, X, y)
    i = _check_index(i, X.shape[0])
    u = _input_gradient(net, X[i])
    return _null_space(u.unsqueeze(0), net.d)


# ------------------------------------------------------------------------------------ far KKT sets
@dataclass(frozen=True)
class KKTSet:
    """A KKT set built from a training set by splitting (and moving zero-multiplier points).

    - ``X``, ``y``, ``lam``: the new points, labels and multipliers (unpacks as ``X, y, lam = kkt_set``);
    - ``parent``: for each new point, the index of the training point it came from;
    - ``steps``: per training point, how far it was moved (the split step, or the move of a
      zero-multiplier point); ``directions``: per training point, the unit direction used (n×d);
    - ``min_distance``: the smallest distance from a new point to any training point (measured).
    """

    X: torch.Tensor
    y: torch.Tensor
    lam: torch.Tensor
    parent: torch.Tensor
    steps: torch.Tensor
    directions: torch.Tensor
    min_distance: float

    def __iter__(self):
        return iter((self.X, self.y, self.lam))


def _build_split_set(net, X, y, lam, *, directions, steps, moves_only) -> KKTSet:
    """Support points: α = β = stepᵢ along ±directionᵢ; the others (``moves_only``): one point at +stepᵢ."""
    support = ~moves_only
    plus = X + steps.unsqueeze(1) * directions
    minus = (X - steps.unsqueeze(1) * directions)[support]
    X_new = torch.cat([plus, minus])
    y_new = torch.cat([y, y[support]])
    lam_new = torch.cat([torch.where(support, lam / 2, lam), lam[support] / 2])
    parent = torch.cat([torch.arange(X.shape[0]), torch.nonzero(support).flatten()]).to(X.device)
    with torch.no_grad():
        pattern = net.activation_pattern(X)
    ok = _same_pattern(net, X_new, pattern[parent])
    if not ok.all():
        bad = sorted(set(parent[~ok].tolist()))[:10]
        raise ValueError(f"the moved copies of training points {bad} changed activation pattern (a step at the "
                         "edge of its budget, or rounding onto a ReLU kink); take a smaller step")
    min_distance = torch.cdist(X_new, X).min().item()
    return KKTSet(X=X_new, y=y_new, lam=lam_new, parent=parent, steps=steps, directions=directions,
                  min_distance=min_distance)


def far_kkt_set(net: TwoLayerReLU, X, y, lam, r: float) -> KKTSet:
    """Theorem 4 (book chapter "Infinitely many far solutions"): a KKT set every point of which lies
    farther than ``r`` from every training point, with the same stationarity sum and the same margins.

    Construction. Take the unit ν ⟂ span(X) with the smallest ‖Wν‖ (the smallest right singular vector
    of W restricted to the orthogonal complement of the data). For a network trained from an in-span
    initialisation W's rows stay in span(X) (gradient descent only adds multiples of data points), so
    Wν = 0 up to rounding: moving along ν changes no pre-activation, the split budget is infinite and
    ν ⟂ u for every point. Each support point (λᵢ > 0) is split (Lemma 3) with α = β = s into xᵢ ± sν
    with λᵢ/2 each; each zero-multiplier point moves to xᵢ + sν (it keeps Φ, hence its margin, and
    contributes nothing to the sum). Since ν ⟂ span(X), ‖xᵢ ± sν − xₖ‖² = ‖xᵢ − xₖ‖² + s² ≥ s²: the set
    is at distance ≥ s. The step is s = 2r, or halfway between r and the budget T when 2r ≥ T.

    Guarantees: stationarity sum unchanged exactly (up to rounding, relative ~1e-16·s/‖x‖); every new
    point has its parent's margin (so a KKT point for the margin-normalised net gives margins ≥ 1 and
    support points exactly on the margin); ``min_distance`` > r (measured and returned).

    Raises ``ValueError`` when it cannot: the data span ℝᵈ (no ν ⟂ data; the message gives the distance
    :func:`achievable_split_distance` reaches instead), or the budget T along ν is finite and ≤ r (W has
    a component outside the data span, e.g. from an initialisation outside it; the message gives T).

    ``net`` is the :class:`~reconleak_core.models.TwoLayerReLU`, ``X`` (n, d) the points and ``y`` (n,) their ±1
    labels, ``lam`` (n,) their multipliers.
    """
    _check_net(net)
    X, y, lam = _check_set(net, X, y, lam)
    r = check_positive(r, "r")
    W, _ = _weights(net)
    _, S, Vh = torch.linalg.svd(X, full_matrices=True)
    rank = int((S > S.max() * max(X.shape) * torch.finfo(X.dtype).eps).sum())
    if rank == net.d:
        message = f"the data span ℝ^{net.d} (rank {rank}): Theorem 4 needs data in a proper subspace"
        if (lam > 0).any():
            reach = achievable_split_distance(net, X, y, lam)
            message += (f". Split-based KKT sets can still reach distance {reach.distance:.4g} from the training "
                        "set (achievable_split_distance, Theorems 5, 8, 9)")
        raise ValueError(message)
    Q = Vh[rank:]                                         # orthonormal basis of span(X)^⟂, (d - rank) × d
    _, _, Vb = torch.linalg.svd(W @ Q.T, full_matrices=True)
    nu = Q.T @ Vb[-1]
    nu = nu / nu.norm()
    support = lam > 0
    Z, g = X @ W.T, W @ nu
    budget = torch.where(support, _budgets(Z, g, "both"), _budgets(Z, g, "plus")).min().item()
    if budget <= r:
        raise ValueError(f"the split budget is finite: along the best direction ν ⟂ data "
                         f"(‖Wν‖ = {(W @ nu).norm().item():.3g}, W has a component outside the data span) the KKT "
                         f"set can reach distance {budget:.4g} only, not r = {r:g}. achievable_split_distance "
                         "gives the best per-point distance")
    step = 2 * r if 2 * r < budget else (r + budget) / 2
    n = X.shape[0]
    steps = torch.full((n,), step, dtype=X.dtype, device=X.device)
    return _build_split_set(net, X, y, lam, directions=nu.expand(n, -1).clone(), steps=steps, moves_only=~support)


@dataclass(frozen=True)
class SplitReach:
    """How far split-based KKT sets get from the training set (:func:`achievable_split_distance`).

    - ``distance``: for every r < distance there is a split-based KKT set (with the given multipliers)
      at distance > r from the training set: min over support points of the distance from xᵢ ± tᵢνᵢ to
      the nearest training point. A *lower bound* on the best split-based distance.
    - ``reach``: min over support points of the budget tᵢ (the distance of the split points from their
      own parent; ≥ ``distance``).
    - ``line_upper``: an upper bound on ``reach`` over all two-point splits along straight lines
      (min over support points of ``budget_bounds``); ``math.inf`` when a direction has an infinite budget.
    - ``budgets``, ``directions``, ``budget_bounds``: per training point, tᵢ, the unit νᵢ, and √mᵢ/σᵢ, an
      upper bound on the two-sided budget of *every* margin-preserving direction at xᵢ (see
      :func:`achievable_split_distance`); ``inf``, zeros and ``inf`` for zero-multiplier points, which never
      limit the distance. ``support``: boolean mask λᵢ > 0; ``lam``: the multipliers used.
    """

    distance: float
    reach: float
    line_upper: float
    budgets: torch.Tensor
    directions: torch.Tensor
    budget_bounds: torch.Tensor
    support: torch.Tensor
    lam: torch.Tensor


def _line_candidate(W: torch.Tensor, z: torch.Tensor, C: torch.Tensor, refine_steps: int):
    """Best two-sided line split among unit ν ⟂ rows of C: (ν, its exact budget, √m/σ ≥ every such ν's budget)."""
    Q = _null_space(C, W.shape[1])
    if Q.shape[0] == 0:
        return torch.zeros(W.shape[1], dtype=W.dtype, device=W.device), 0.0, 0.0
    moving = z != 0
    B = (W[moving] / z[moving].abs().unsqueeze(1)) @ Q.T       # budget(ν) = 1 / ‖B b‖_∞ for ν = Qᵀb
    if B.shape[0] == 0:
        return Q[0], math.inf, math.inf
    _, S, Vh = torch.linalg.svd(B, full_matrices=True)
    sigma = S[-1].item() if B.shape[0] >= B.shape[1] else 0.0
    b = Vh[-1]
    upper = math.sqrt(B.shape[0]) / sigma if sigma > 0 else math.inf
    if refine_steps and sigma > 0:
        b = _refine_lp(B, b, refine_steps)
    nu = Q.T @ b
    nu = nu / nu.norm()
    return nu, float(_budgets(z, W @ nu, "both")), upper


def _best_line(net: TwoLayerReLU, x: torch.Tensor, refine_steps: int, kink_tol: float):
    """Best two-sided line split at x among unit ν ⟂ u: returns (ν, budget, upper bound on any ν's budget).

    Two candidates, the larger budget wins: ν ⟂ u and the neurons exactly on a kink (whose bound is the
    upper bound for every admissible ν), and ν additionally ⟂ the neurons *nearly* on a kink
    (∣wⱼ·x∣ ≤ kink_tol·‖wⱼ‖‖x‖), which then keep their pre-activation along the whole line.
    """
    W, _ = _weights(net)
    z = W @ x
    live = (W != 0).any(dim=1)
    u = _input_gradient(net, x).unsqueeze(0)
    exact = (z == 0) & live
    nu, t, upper = _line_candidate(W, z, torch.cat([u, W[exact]]), refine_steps)
    if kink_tol > 0:
        near = (z.abs() <= kink_tol * W.norm(dim=1) * x.norm()) & live
        if (near & ~exact).any():
            nu2, t2, _ = _line_candidate(W, z, torch.cat([u, W[near]]), refine_steps)
            if t2 > t:
                nu, t = nu2, t2
    return nu, t, upper


def _refine_lp(B: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """Ascent on max ‖b‖ s.t. ‖Bb‖_∞ ≤ 1 by linearisation: each LP max b₀·b over the polytope gives
    ‖b‖² ≥ 2b₀·b − ‖b₀‖² > ‖b₀‖² whenever it improves, so the budget never decreases."""
    Bn = B.cpu().numpy()
    A_ub = np.vstack([Bn, -Bn])
    b_ub = np.ones(A_ub.shape[0])

    def budget(vec):
        return np.linalg.norm(vec) / np.abs(Bn @ vec).max()

    cur = b.cpu().numpy() / np.abs(Bn @ b.cpu().numpy()).max()
    for _ in range(steps):
        res = linprog(-cur, A_ub=A_ub, b_ub=b_ub, bounds=(None, None), method="highs")
        if res.status != 0 or budget(res.x) <= budget(cur) * (1 + 1e-12):
            break                                   # no further ascent (or an unbounded/failed LP)
        cur = res.x / np.abs(Bn @ res.x).max()
    return torch.as_tensor(cur, dtype=B.dtype, device=B.device)


def achievable_split_distance(net: TwoLayerReLU, X, y, lam=None, *, refine_steps: int = 5, kink_tol: float = 1e-3,
                              progress: bool = False) -> SplitReach:
    """Theorems 5, 8, 9 (book chapter "Approximate KKT and training time"): how far from the training set
    a KKT set built by splitting can get when the split budget is finite.

    When the data lie only *near* a subspace, or θ is only an approximate KKT point (e.g. W keeps a
    component of its initialisation outside the data span), no direction keeps every pre-activation
    fixed, so each support point can only be split within its activation region. For each support
    point xᵢ (λᵢ > 0) this finds a unit νᵢ ⟂ uᵢ (margin-preserving, and ⟂ every neuron exactly on a
    kink) with a large two-sided budget tᵢ = min_j ∣zⱼ∣/∣wⱼ·νᵢ∣ = 1/‖Bᵢbᵢ‖_∞, where zⱼ = wⱼ·xᵢ,
    Bᵢ = diag(1/∣z∣) W Qᵢᵀ and Qᵢ is an orthonormal basis of the admissible directions:

    1. the ℓ2 relaxation: bᵢ = the smallest right singular vector of Bᵢ (σᵢ the smallest singular value);
       since ‖·‖_∞ ≥ ‖·‖₂/√mᵢ (mᵢ neurons with zⱼ ≠ 0), *no* line split at xᵢ has a budget above
       √mᵢ/σᵢ, and this νᵢ has a budget ≥ 1/σᵢ: within a factor √mᵢ of the best line;
    2. ``refine_steps`` rounds of a linear-programming ascent on the exact ∞-norm problem
       (max ‖b‖ s.t. ‖Bᵢb‖_∞ ≤ 1; each round never lowers the budget; 0 disables it). The exact
       maximum is a norm maximisation over a polytope (NP-hard in general), hence the bounds;
    3. near-kink neurons: near convergence some neurons' hyperplanes pass almost through support
       points (∣wⱼ·xᵢ∣ ~ 1e-6 relative), and such a neuron would cap the budget at ∣wⱼ·xᵢ∣/∣wⱼ·ν∣.
       Steps 1–2 are repeated with ν also ⟂ every neuron with ∣wⱼ·xᵢ∣ ≤ ``kink_tol``·‖wⱼ‖‖xᵢ‖ (those
       then keep their pre-activation along the whole line), and the larger exact budget is kept
       (``kink_tol=0`` disables this). Every reported budget is the exact one of the returned νᵢ.

    Splitting xᵢ into xᵢ ± sνᵢ (α = β = s < tᵢ, multipliers λᵢ/2) keeps the stationarity sum and the
    margins exactly (Lemma 3), so the new set has the original's (ε, δ) — check with
    :func:`split_kkt_set` and :func:`kkt_residuals`. Zero-multiplier points never limit the distance:
    scaling one to cxᵢ (c > 1) keeps its pattern and raises its margin, and goes arbitrarily far.

    What is a lower bound: ``distance`` is achieved (for any r < distance, steps s → tᵢ give a set at
    distance > r) and so bounds the best split-based distance from below; splits into more than two
    points, repeated splits, or using slack in approximate complementary slackness may reach further.
    ``line_upper`` bounds only two-point line splits.

    Caveat: the exact-pattern budget is a minimum over *all* neurons, so a neuron whose pre-activation
    at a support point is close to its kink can bind even when its weights are negligible (step 3
    removes the worst cases, not all), and the distance is a noisy function of the network. A component
    of W outside the data span (from an initialisation outside it) is frozen by training (gradient steps
    add multiples of data points only), so longer training does not remove what it limits. How the
    distance behaves on book-scale nets (against training length and the data's off-subspace noise) is
    recorded in ``benchmarks/RESULTS.md`` ("Measurements quoted by the library").

    All quantities are invariant to rescaling θ, so
    the raw or the margin-normalised network give the same numbers. ``lam=None`` takes the multipliers
    of :func:`reconleak_core.certificate.certificate` (the support is what matters, not the values).

    ``net`` is the :class:`~reconleak_core.models.TwoLayerReLU`, ``X`` (n, d) the points and ``y`` (n,) their ±1
    labels (a training set); ``progress`` shows a progress bar over the support points.
    """
    _check_net(net)
    X, y = _check_set(net, X, y)
    refine_steps = check_int(refine_steps, "refine_steps", minimum=0)
    kink_tol = check_fraction(kink_tol, "kink_tol")
    if lam is None:

        lam = certificate(net, X, y).lam
    lam = _check_set(net, X, y, lam)[2]
    support = lam > 0
    if not support.any():
        raise ValueError("no support point: every multiplier is 0, so there is nothing to split "
                         "(the stationarity sum is 0)")
    n = X.shape[0]
    budgets = torch.full((n,), math.inf, dtype=X.dtype, device=X.device)
    directions = torch.zeros_like(X)
    bounds = torch.full((n,), math.inf, dtype=X.dtype, device=X.device)
    for i in progress_bar(torch.nonzero(support).flatten().tolist(), desc="split directions", enabled=progress):
        nu, t, upper = _best_line(net, X[i], refine_steps, kink_tol)
        budgets[i], directions[i], bounds[i] = t, nu, upper
    reach = budgets[support].min().item()
    idx = torch.nonzero(support).flatten()
    if math.isinf(reach):
        distance = math.inf
    else:
        steps = budgets[idx].unsqueeze(1)
        ends = torch.cat([X[idx] + steps * directions[idx], X[idx] - steps * directions[idx]])
        distance = torch.cdist(ends, X).amin(dim=1).reshape(2, -1).amin(dim=0).min().item()
    return SplitReach(distance=distance, reach=reach, line_upper=bounds[support].min().item(), budgets=budgets,
                      directions=directions, budget_bounds=bounds, support=support, lam=lam)


def split_kkt_set(net: TwoLayerReLU, X, y, lam=None, *, fraction: float = 0.99, reach: SplitReach | None = None,
                  refine_steps: int = 5, kink_tol: float = 1e-3) -> KKTSet:
    """The split-based KKT set behind :func:`achievable_split_distance` (Theorems 5, 8, 9).

    Each support point xᵢ is split into xᵢ ± sᵢνᵢ with sᵢ = ``fraction``·tᵢ (0 < fraction < 1: strictly
    inside its budget) and multipliers λᵢ/2; each zero-multiplier point is scaled to cxᵢ (c > 1, the same
    pattern, margin c·qᵢ ≥ qᵢ for qᵢ > 0) far enough to be no closer to the training set than the split points.
    Stationarity sum and support margins are unchanged exactly (Lemma 3), so :func:`kkt_residuals` of the
    new set equals that of the original set. Pass a precomputed ``reach`` to avoid recomputing the
    directions. Raises ``ValueError`` when some budget is infinite (use :func:`far_kkt_set`, which reaches
    any distance) or 0.

    ``net`` is the :class:`~reconleak_core.models.TwoLayerReLU`, ``X`` (n, d) the points and ``y`` (n,) their ±1
    labels, ``lam`` (n,) their multipliers (default: the certificate's); ``refine_steps`` and ``kink_tol`` are those
    of :func:`achievable_split_distance` (when ``reach`` is not given).
    """
    _check_net(net)
    X, y = _check_set(net, X, y)
    fraction = check_positive(fraction, "fraction")
    if fraction >= 1:
        raise ValueError(f"fraction must be in (0, 1) (a step strictly inside the budget), got {fraction}")
    if reach is None:
        reach = achievable_split_distance(net, X, y, lam, refine_steps=refine_steps, kink_tol=kink_tol)
    elif not isinstance(reach, SplitReach):
        raise TypeError(f"reach must be a SplitReach from achievable_split_distance, got {type(reach).__name__}")
    lam = reach.lam if lam is None else _check_set(net, X, y, lam)[2]
    if reach.lam.shape != lam.shape or not torch.equal(reach.lam > 0, lam > 0):
        raise ValueError("reach was computed for other multipliers: its support differs from lam's")
    support = reach.support
    if math.isinf(reach.reach) or torch.isinf(reach.budgets[support]).any():
        raise ValueError("a support point has an infinite split budget: use far_kkt_set, which reaches any r")
    if reach.reach == 0:
        raise ValueError("a support point has split budget 0 (it sits on a ReLU kink): no split is possible")
    steps = torch.where(support, fraction * reach.budgets, torch.zeros_like(reach.budgets))
    directions = reach.directions.clone()
    if (~support).any():
        # zero-multiplier points: x → c·x with ‖c·xᵢ − xₖ‖ ≥ c‖xᵢ‖ − max‖xₖ‖ ≥ the split points' largest step
        norms = X.norm(dim=1)
        target = steps.max() + norms.max()
        c = torch.clamp(target / norms, min=1.0) * 1.01
        rest = ~support
        directions[rest] = X[rest] / norms[rest].unsqueeze(1)
        steps = torch.where(rest, (c - 1) * norms, steps)
    return _build_split_set(net, X, y, lam, directions=directions, steps=steps, moves_only=~support)


def kkt_residuals(net: TwoLayerReLU, X, y, lam) -> dict:
    """KKT quality of a set *with the given multipliers* on ``net`` as given (no renormalisation):
    ``eps`` = ‖θ − Σᵢλᵢyᵢ∇θΦ(θ; xᵢ)‖, ``eps_rel`` = eps/‖θ‖, ``delta`` = Σᵢλᵢ(yᵢΦ(xᵢ) − 1),
    ``min_margin`` = minᵢ yᵢΦ(xᵢ). Pass the margin-normalised network (:func:`reconleak_core.kkt.normalize_margin`
    on the training set) to read them as the (ε, δ) of Lyu & Li (2020). Splitting and merging leave
    ``eps`` and ``delta`` unchanged (Lemmas 2, 3), so a far set from :func:`split_kkt_set` or
    :func:`far_kkt_set` is exactly as good a KKT set as the training set itself.

    ``X`` (n, d), ``y`` (n,) and ``lam`` (n,) are the set and its multipliers.
    """

    _check_net(net)
    X, y, lam = _check_set(net, X, y, lam)
    with torch.no_grad():
        theta = parameter_vector(net).detach()
        eps = (theta - stationarity_sum(net, X, y, lam)).norm().item()
        q = margins(net, X, y)
    return {"eps": eps, "eps_rel": eps / theta.norm().item(), "delta": (lam * (q - 1)).sum().item(),
            "min_margin": q.min().item()}
