"""Plotting helpers shared by the book's chapters and the command line.

Interface.

- :func:`plane_basis` — an orthonormal 2×d basis of the plane that best fits a point set (top singular
  directions, through the origin: the natural view of data in a subspace, Theorem 4).
- :func:`side_basis` — a side view: the data's main direction against the direction in which candidates leave
  the data's span (far KKT sets).
- :func:`plot_points_2d` — training points beside candidate points (a reconstruction, a merged or split
  KKT set, a far KKT set), projected on a plane, coloured by label, optionally linked pairwise.
- :func:`plot_activation_regions` — the activation-pattern regions of a two-layer net on a plane: the cones
  inside which Lemmas 2 and 3 may move points.
- :func:`plot_curves` — several labelled curves on one axis (certificate ε against training steps, ...);
  :func:`log_tick_labels` labels a log axis without overlapping tick labels.
- :func:`image_grid` — rows of images (e.g. reconstructions beside their nearest training images);
  :func:`draw_image_rows` draws them on a given figure (a slider's frame); :func:`as_image` reads one image.
- :func:`subplots` and :func:`two_panels` — matplotlib figures of the book's sizes (pyplot imported lazily).

The sliders that work on a static page are in :mod:`reconleak_core.sliders`; the headline figure of each
experiment lives beside its computation, in its module of :mod:`reconleak_core.experiments`.

Sizes: the book's content column is about 690 px wide and a notebook figure is rendered at 100 dpi, so a
figure :data:`COLUMN_INCHES` wide shows at its natural size and its 10-pt labels come out about 14 px; a
wider figure is shrunk (a 13-inch one to about half, its labels below 8 px) unless its cell is tagged
``full-width``. The defaults below fit the column. Legibility is measured, not assumed:
``tests/test_figures.py`` draws every figure of this module and of the experiments and checks with
matplotlib's renderer that every text is at least 9 px as displayed, that no two tick labels overlap
and that no legend hides data; hence horizontal row titles, log axes labelled by :func:`log_tick_labels`
and legends of grey markers (the colours stand for the labels).

Every function returns the matplotlib ``Figure`` it drew on (or the ``HTML``) and never calls
``plt.show()``: a notebook cell ends with ``plt.show()`` (or ``;``), a script saves the figure. Functions
that take ``ax`` draw on it and return its figure. matplotlib is imported lazily; no global rcParams are
changed.
"""

from __future__ import annotations

import numpy as np
import torch

from reconleak_core.checks import (
    as_tensor,
    check_finite,
    check_labels,
    check_points,
    check_positive,
    check_reals,
    is_sequence,
)

__all__ = ["plane_basis", "side_basis", "plot_points_2d", "plot_activation_regions", "plot_curves", "image_grid",
           "draw_image_rows", "as_image", "log_tick_labels", "subplots", "two_panels", "COLUMN_INCHES"]

COLUMN_INCHES = 6.8
"""Width (inches) of a figure that fills the book's ~690 px content column at the inline backend's 100 dpi."""

_LABEL_COLOURS = {1.0: "tab:blue", -1.0: "tab:red"}


def _pyplot():
    import matplotlib.pyplot as plt  # lazy: a script picks its backend before pyplot is first imported

    return plt


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots(*args, **kwargs)``, with pyplot imported at the first call."""
    return _pyplot().subplots(*args, **kwargs)


def two_panels():
    """``(fig, axes)``: two panels side by side filling the book's column (:data:`COLUMN_INCHES` wide)."""
    return subplots(1, 2, figsize=(COLUMN_INCHES, 3.2))


def _axes(ax, figsize):
    """``(fig, ax)``: a new figure when ``ax`` is None, else the figure ``ax`` belongs to."""
    if ax is None:
        if not is_sequence(figsize) or len(figsize) != 2:
            raise TypeError(f"figsize must be (width, height) in inches, got {figsize!r}")
        figsize = check_reals(figsize, "figsize", positive=True)
        fig, ax = _pyplot().subplots(figsize=figsize)
        return fig, ax
    if not hasattr(ax, "figure") or not hasattr(ax, "scatter"):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    return ax.figure, ax


def plane_basis(X, which=(0, 1)) -> torch.Tensor:
    """Orthonormal basis (2×d, float64) of a plane through the origin spanned by principal directions of ``X``.

    The rows are the right-singular vectors of ``X`` number ``which`` (in decreasing order of singular
    value; no centring: the subspaces of Theorems 4 and 5 pass through the origin). The default (0, 1) is
    the plane closest to the points; for data in a k-dimensional subspace, ``which=(0, k)`` gives a side
    view, one in-subspace direction against one orthogonal to the data.
    """
    X = check_points(X, "X", dtype=torch.float64)
    d = X.shape[1]
    if d < 2:
        raise ValueError(f"points must have dimension at least 2 to be drawn on a plane, got {d}")
    if len(which) != 2 or len(set(which)) != 2 or not all(isinstance(k, int) and 0 <= k < d for k in which):
        raise ValueError(f"which must be two different direction indices in 0..{d - 1}, got {which!r}")
    _, S, Vh = torch.linalg.svd(X, full_matrices=True)
    if S[0] == 0:
        raise ValueError("X is all zeros: it has no principal directions")
    return Vh[list(which)].clone()


def side_basis(train, candidates) -> torch.Tensor:
    """A side view (2×d, orthonormal rows) showing how far ``candidates`` leave the span of ``train``.

    Row 0 is the top principal direction of ``train``; row 1 the top principal direction of the
    candidates' components orthogonal to span(train) (the direction in which far KKT sets of Theorems 4,
    5, 8, 9 move away from the data). When the candidates lie in that span, row 1 falls back to the
    second principal direction of ``train``.
    """
    train = check_points(train, "train", dtype=torch.float64)
    candidates = check_points(candidates, "candidates", d=train.shape[1], dtype=torch.float64)
    d = train.shape[1]
    if d < 2:
        raise ValueError(f"points must have dimension at least 2 to be drawn on a plane, got {d}")
    _, S, Vh = torch.linalg.svd(train, full_matrices=True)
    if S[0] == 0:
        raise ValueError("train is all zeros: it has no principal directions")
    rank = int((S > S[0] * max(train.shape) * torch.finfo(torch.float64).eps).sum())
    outside = candidates - candidates @ Vh[:rank].T @ Vh[:rank]
    scale = candidates.abs().max().clamp_min(1e-300)
    if outside.abs().max() <= 1e-12 * scale:
        return Vh[:2].clone()
    _, _, Vo = torch.linalg.svd(outside, full_matrices=False)
    second = Vo[0] - (Vo[0] @ Vh[0]) * Vh[0]
    return torch.stack([Vh[0], second / second.norm()])


def _check_basis(basis, d: int) -> torch.Tensor:
    basis = as_tensor(basis, "basis", dtype=torch.float64)
    if basis.shape != (2, d):
        raise ValueError(f"basis must have shape (2, {d}) (two directions in the input space), "
                         f"got {tuple(basis.shape)}")
    gram = basis @ basis.T
    if not torch.allclose(gram, torch.eye(2, dtype=torch.float64), atol=1e-8):
        raise ValueError("basis rows must be orthonormal")
    return basis


def _label_colours(y, n: int, name: str):
    if y is None:
        return ["0.35"] * n
    y = check_labels(y, n=n)
    if y.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor of ±1 labels, got shape {tuple(y.shape)}")
    return [_LABEL_COLOURS[float(v)] for v in y.tolist()]


def plot_points_2d(train, candidates=None, *, y=None, candidate_y=None, basis=None, links=None, ax=None,
                   title: str | None = None, train_label: str = "training points",
                   candidate_label: str = "candidates", axis_labels=("direction 1", "direction 2"),
                   equal_aspect: bool = True, figsize=(5.0, 4.5)):
    """Scatter training points (filled circles) and candidate points (crosses) on a plane.

    Parameters
    ----------
    train, candidates:
        Point sets of shapes (n, d) and (m, d) (``candidates`` optional), projected orthogonally on
        ``basis`` (2×d, orthonormal rows). Default: the standard axes for d = 2 (so the picture overlays
        :func:`plot_activation_regions`), else :func:`plane_basis` of ``train`` (exact when the data lie
        in a plane, as in Theorem 4).
    y, candidate_y:
        ±1 labels colouring the points (blue +1, red −1); grey when omitted.
    links:
        Optional pairs ``(i, j)`` drawn as dashed segments from ``train[i]`` to ``candidates[j]`` (which
        point a merge, split or far set came from).
    ax, figsize:
        Draw on this Axes instead of a new figure of size ``figsize`` (inches).
    title, axis_labels:
        The axes' title (none by default) and its two axis labels.
    train_label, candidate_label:
        The legend's names of the two point sets (its markers are grey: the colours stand for the labels).
    equal_aspect:
        Same scale on both axes (default); turn it off for side views whose two directions have very
        different ranges.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    train = check_points(train, "train", dtype=torch.float64)
    d = train.shape[1]
    if candidates is not None:
        candidates = check_points(candidates, "candidates", d=d, dtype=torch.float64)
    if d == 1:
        raise ValueError("points of dimension 1 cannot be drawn on a plane")
    if basis is None:
        basis = torch.eye(2, dtype=torch.float64) if d == 2 else plane_basis(train)
    basis = _check_basis(basis, d)
    fig, ax = _axes(ax, figsize)
    P = train @ basis.T
    ax.scatter(P[:, 0], P[:, 1], c=_label_colours(y, len(train), "y"), marker="o", s=36, alpha=0.8,
               edgecolors="k", linewidths=0.5, label=train_label, zorder=3)
    if candidates is not None:
        Q = candidates @ basis.T
        ax.scatter(Q[:, 0], Q[:, 1], c=_label_colours(candidate_y, len(candidates), "candidate_y"), marker="x",
                   s=60, linewidths=2, label=candidate_label, zorder=4)
    if links is not None:
        if candidates is None:
            raise ValueError("links need candidates: each link joins train[i] to candidates[j]")
        for pair in links:
            if len(pair) != 2:
                raise ValueError(f"each link must be a pair (i, j), got {pair!r}")
            i, j = int(pair[0]), int(pair[1])
            if not (0 <= i < len(train) and 0 <= j < len(candidates)):
                raise ValueError(f"link {(i, j)} is out of range for {len(train)} training points and "
                                 f"{len(candidates)} candidates")
            ax.plot([P[i, 0], Q[j, 0]], [P[i, 1], Q[j, 1]], ls="--", c="0.5", lw=1, zorder=2)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    if equal_aspect:
        ax.set_aspect("equal", adjustable="box")
    if title:
        ax.set_title(title)
    _neutral_legend(ax, train_label, candidate_label if candidates is not None else None)
    return fig


def _neutral_legend(ax, train_label: str, candidate_label: str | None) -> None:
    """A legend of the marker shapes only, in grey: the colours stand for the labels, not for the point sets."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="none", marker="o", ms=6, mfc="0.6", mec="k", mew=0.5, label=train_label)]
    if candidate_label is not None:
        handles.append(Line2D([], [], ls="none", marker="x", ms=7, mew=2, color="0.35", label=candidate_label))
    ax.legend(handles=handles, loc="best", fontsize="small")


def plot_activation_regions(net, *, basis=None, extent: float = 1.5, resolution: int = 301, levels=None,
                            ax=None, title: str | None = None, figsize=(5.0, 4.5)):
    """Shade the activation-pattern regions of a two-layer net on a plane through the origin.

    Points ``a·basis[0] + b·basis[1]`` with ∣a∣, ∣b∣ ≤ ``extent`` are coloured by their pattern
    1[wⱼ·x > 0] (``net.activation_pattern``); each neuron's boundary wⱼ·x = 0 is a line through the origin,
    so the regions are cones. Lemma 2 merges and Lemma 3 splits points only inside one cone.
    ``basis`` (2×d, orthonormal rows) defaults to the standard plane for d = 2 and must be given otherwise.
    ``levels`` (e.g. ``(-1, 0, 1)``) adds the level lines Φ = level: the decision boundary and, for a
    margin-normalised net, the two margins on which the support points lie.

    The result is the ``Figure``.

    ``net`` is a :class:`~reconleak_core.models.TwoLayerReLU`; ``resolution`` the number of grid points per side;
    ``ax`` an Axes to draw on instead of a new figure of size ``figsize``; ``title`` the axes' title.
    """
    if not hasattr(net, "activation_pattern") or not hasattr(net, "W"):
        raise TypeError(f"net must be a two-layer network with activation_pattern (TwoLayerReLU), "
                        f"got {type(net).__name__}")
    d = net.W.shape[1]
    if basis is None:
        if d != 2:
            raise ValueError(f"the net has input dimension {d}: give the plane to draw as basis (2×{d})")
        basis = torch.eye(2, dtype=torch.float64)
    basis = _check_basis(basis, d)
    extent = float(extent)
    if not extent > 0:
        raise ValueError(f"extent must be positive, got {extent}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an integer ≥ 2, got {resolution!r}")
    grid = torch.linspace(-extent, extent, resolution, dtype=torch.float64)
    A, B = torch.meshgrid(grid, grid, indexing="xy")
    points = A.reshape(-1, 1) * basis[0] + B.reshape(-1, 1) * basis[1]
    with torch.no_grad():
        pattern = net.activation_pattern(points.to(net.W.dtype))
        values = net(points.to(net.W.dtype)) if levels is not None else None
    _, region = torch.unique(pattern, dim=0, return_inverse=True)
    fig, ax = _axes(ax, figsize)
    ax.imshow(region.reshape(resolution, resolution).numpy() % 20, origin="lower", cmap="tab20", alpha=0.25,
              extent=(-extent, extent, -extent, extent), interpolation="nearest", zorder=0)
    if levels is not None:
        levels = sorted(float(v) for v in levels)
        contours = ax.contour(A.numpy(), B.numpy(), values.detach().reshape(resolution, resolution).cpu().numpy(),
                              levels=levels, colors="k", linewidths=0.8,
                              linestyles=["-" if v == 0 else ":" for v in levels], zorder=1)
        ax.clabel(contours, fmt=lambda v: f"Φ = {v:g}", fontsize="small")
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    if title:
        ax.set_title(title)
    return fig


def plot_curves(x, curves, *, xlabel: str, ylabel: str, title: str | None = None, logx: bool = False,
                logy: bool = False, ax=None, figsize=(5.0, 3.5), marker: str = "o", spread=None):
    """Draw ``curves`` (a mapping label → values, each as long as ``x``) against ``x`` on one axis.

    ``spread``: optional mapping label → (low, high), each as long as ``x`` (e.g. the range over seeds or
    data draws of a curve of medians), drawn as a shaded band around that curve. The result is the ``Figure``.

    ``xlabel``, ``ylabel`` and ``title`` label the axes; ``logx`` and ``logy`` make them logarithmic (labelled by
    :func:`log_tick_labels`); ``ax`` is an Axes to draw on instead of a new figure of size ``figsize``; ``marker``
    the curves' marker (``""`` for none).
    Non-finite values (an infinite split distance, say) and, on a log axis, values ≤ 0 leave gaps in their line.
    """
    x = as_tensor(x, "x", dtype=torch.float64)
    if x.dim() > 1:
        raise ValueError(f"x must be one-dimensional, got shape {tuple(x.shape)}")
    x = x.reshape(-1)
    for label, name in ((xlabel, "xlabel"), (ylabel, "ylabel")):
        if not isinstance(label, str):
            raise TypeError(f"{name} must be a string, got {type(label).__name__}")
    if not hasattr(curves, "items") or not curves:
        raise ValueError("curves must be a non-empty mapping from label to values")
    if spread is not None and not (hasattr(spread, "items") and set(spread) <= set(curves)):
        raise ValueError("spread must map labels of curves to (low, high); unknown: "
                         f"{sorted(set(spread) - set(curves)) if hasattr(spread, 'items') else spread!r}")
    fig, ax = _axes(ax, figsize)
    for label, values in curves.items():
        values = as_tensor(values, f"curves[{label!r}]", dtype=torch.float64).reshape(-1)
        if values.shape != x.shape:
            raise ValueError(f"curve {label!r} has {values.numel()} values but x has {x.numel()}")
        line, = ax.plot(x.numpy(), values.numpy(), marker=marker, label=str(label))
        if spread is not None and label in spread:
            low, high = (as_tensor(v, f"spread[{label!r}]", dtype=torch.float64).reshape(-1) for v in spread[label])
            if low.shape != x.shape or high.shape != x.shape:
                raise ValueError(f"spread of {label!r} must hold two sequences as long as x ({x.numel()})")
            ax.fill_between(x.numpy(), low.numpy(), high.numpy(), color=line.get_color(), alpha=0.2, lw=0)
    if logx:
        ax.set_xscale("log")
        log_tick_labels(ax.xaxis)
    if logy:
        ax.set_yscale("log")
        log_tick_labels(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if len(curves) > 1:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def _tick_text(v: float) -> str:
    """A tick value as short text: plain below 10⁵ and from 10⁻³, else m×10ᵏ (mathtext)."""
    if 1e-3 <= abs(v) < 1e5:
        return f"{v:g}"
    exponent = int(np.floor(np.log10(abs(v)) + 1e-9))
    mantissa = round(v / 10.0 ** exponent, 6)
    return f"$10^{{{exponent}}}$" if mantissa == 1 else f"${mantissa:g}\\times10^{{{exponent}}}$"


class _LogTickLabels:
    """Labels of a log axis that never crowd (a ``FuncFormatter``'s function, for major and minor ticks).

    Of the tick sets "every integer mantissa", "mantissas 1, 2, 5", "1, 3" and "powers of ten only", the
    richest whose labels fit side by side on the axis' current length is labelled (at least the powers
    of ten); values are short plain numbers (``3000``, ``0.02``) rather than ``3×10³``.
    """

    _SETS = (tuple(range(1, 10)), (1, 2, 5), (1, 3), (1,))

    def __init__(self, axis, minor: bool):
        self.axis, self.minor = axis, minor

    def _keep(self) -> tuple:
        low, high = sorted(self.axis.get_view_interval())
        if not (low > 0 and high > low):
            return (1,)
        decades = np.log10(high / low)
        box = self.axis.axes.get_window_extent()
        horizontal = self.axis.axis_name == "x"
        length = box.width if horizontal else box.height
        size = self.axis.majorTicks[0].label1.get_fontsize() * self.axis.axes.figure.dpi / 72
        for keep in self._SETS:
            ticks = [m * 10.0 ** e for e in range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
                     for m in keep if low <= m * 10.0 ** e <= high]
            if len(ticks) < 2:
                continue
            texts = [_tick_text(t).strip("$") for t in ticks]
            need = (max(len(t) for t in texts) * 0.62 * size + 0.5 * size) if horizontal else 1.4 * size
            gap = min(np.diff(np.log10(ticks))) / decades * length
            if gap >= need:
                return keep
        return (1,)

    def __call__(self, value, pos=None) -> str:
        if not value > 0:
            return ""
        exponent = np.floor(np.log10(value) + 1e-9)
        mantissa = round(value / 10.0 ** exponent, 6)
        keep = self._keep()
        if self.minor and keep == (1,):   # many decades: the major ticks (every k-th decade) alone are labelled
            return ""
        return _tick_text(value) if mantissa in keep else ""


def log_tick_labels(axis) -> None:
    """Label a log-scaled ``axis`` (``ax.xaxis`` or ``ax.yaxis``) so that its tick labels never overlap.

    matplotlib labels the minor ticks of a log axis that spans less than a decade in wide mathtext
    (``3×10³ 4×10³ 6×10³``), which overlap in a narrow panel. Here, at every draw, the ticks labelled are
    the richest of: every integer mantissa, mantissas 1, 2 and 5, 1 and 3, powers of ten only, whose
    labels fit side by side on the axis' length; as short numbers (``3000``, ``0.02``).
    :func:`plot_curves` applies it to its log axes.
    """
    from matplotlib.ticker import FuncFormatter

    if not hasattr(axis, "set_major_formatter") or axis.get_scale() != "log":
        raise ValueError("axis must be a log-scaled matplotlib Axis (ax.xaxis or ax.yaxis after set_xscale('log'))")
    axis.set_major_formatter(FuncFormatter(_LogTickLabels(axis, minor=False)))
    axis.set_minor_formatter(FuncFormatter(_LogTickLabels(axis, minor=True)))


def as_image(img, image_shape=None, where: str = "image"):
    """An image as a NumPy array (H, W) or (H, W, C) with values as given: a tensor or array of shape (H, W),
    (H, W, 3), (3, H, W), or a flat vector with ``image_shape``; ``where`` names it in error messages.

    ``img`` is the image.
    """
    img = as_tensor(img, where, dtype=torch.float64).detach().cpu()
    img = check_finite(as_tensor(img, where, dtype=torch.float64).detach().cpu(), where)
    if image_shape is not None:
        if img.numel() != int(torch.tensor(image_shape).prod()):
            raise ValueError(f"{where} has {img.numel()} values, which do not fit image_shape {tuple(image_shape)}")
        img = img.reshape(tuple(image_shape))
    if img.dim() == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.permute(1, 2, 0)
    if img.dim() == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.dim() not in (2, 3) or (img.dim() == 3 and img.shape[-1] != 3):
        raise ValueError(f"{where} must be an image (H, W), (H, W, 3) or (3, H, W); got shape {tuple(img.shape)} "
                         "(give image_shape for flattened images)")
    return img.numpy()


def _check_rows(rows, titles, row_titles) -> list:
    rows = [list(r) for r in rows]
    if not rows or any(not r for r in rows):
        raise ValueError("rows must be a non-empty sequence of non-empty rows of images")
    if titles is not None and (len(titles) != len(rows) or any(len(t) != len(r) for t, r in zip(titles, rows))):
        raise ValueError("titles must have the same nested shape as rows")
    if row_titles is not None and len(row_titles) != len(rows):
        raise ValueError(f"row_titles must have one entry per row ({len(rows)}), got {len(row_titles)}")
    return rows


def _draw_rows(fig, rows, *, titles, row_titles, image_shape, normalize: bool, cmap: str) -> None:
    """Draw checked ``rows`` on an empty ``fig``: one axis per image, blank axes where a row is short."""
    axes = fig.subplots(len(rows), max(len(r) for r in rows), squeeze=False)
    for r, row in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row):
                ax.axis("off")
                continue
            img = as_image(row[c], image_shape, f"rows[{r}][{c}]")
            if normalize:
                span = img.max() - img.min()
                img = (img - img.min()) / span if span > 0 else img * 0
            ax.imshow(img, cmap=cmap if img.ndim == 2 else None, vmin=0 if normalize else None,
                      vmax=1 if normalize else None)
            if titles is not None and titles[r][c]:
                ax.set_title(titles[r][c], fontsize="small")
        if row_titles is not None:   # horizontal, at the text size: rotated small labels are hard to read
            axes[r][0].set_ylabel(str(row_titles[r]), rotation=0, ha="right", va="center", labelpad=6)


def _row_title_inches(row_titles) -> float:
    """The width (inches) that horizontal row titles of 10 pt take beside a grid (0 without titles)."""
    if row_titles is None:
        return 0.0
    return 0.15 + 0.075 * max(len(str(t)) for t in row_titles)


def image_grid(rows, *, titles=None, row_titles=None, image_shape=None, normalize: bool = True,
               cmap: str = "gray", scale: float = 1.4):
    """Show ``rows`` (a sequence of rows, each a sequence of images) as a grid.

    Images are tensors or arrays of shape (H, W), (H, W, 3), (3, H, W), or flat vectors with
    ``image_shape``. With ``normalize`` each image is rescaled to [0, 1] for display only (min–max), so
    reconstructions of any range can be compared by shape. ``titles`` is a matching nested sequence of
    strings (or None), ``row_titles`` labels each row on the left. Each image is ``scale`` inches square, less
    when the row would be wider than the book's column (:data:`COLUMN_INCHES`). Returns the ``Figure``.

    ``cmap`` is the colour map of grey images.
    """
    rows = _check_rows(rows, titles, row_titles)
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    scale = check_positive(scale, "scale")
    labels = _row_title_inches(row_titles)
    scale = min(scale, (COLUMN_INCHES - labels) / n_cols)
    titled = 0 if titles is None else sum(any(t) for t in titles)   # rows with titles above their images
    fig = _pyplot().figure(figsize=(scale * n_cols + labels, scale * n_rows + 0.2 * titled))
    _draw_rows(fig, rows, titles=titles, row_titles=row_titles, image_shape=image_shape, normalize=normalize, cmap=cmap)
    fig.tight_layout()
    return fig



def draw_image_rows(fig, rows, *, row_titles=None, image_shape=None, title: str | None = None, cmap: str = "gray"):
    """Draw ``rows`` (rows of images) on the existing, empty figure ``fig``, each image min–max scaled for display.

    The frame-drawing counterpart of :func:`image_grid` for ``sliders.static_slider`` (whose ``draw_frame`` gets
    an empty figure): e.g. a secret offset's best reconstructions above their nearest training images (chapter
    "Shifted images"). Images as in :func:`image_grid` (flat vectors need ``image_shape``); ``row_titles`` labels
    each row, ``title`` the figure. Returns ``fig``.

    ``cmap`` is the colour map of grey images.
    """
    if not hasattr(fig, "subplots") or not hasattr(fig, "suptitle"):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    rows = _check_rows(rows, None, row_titles)
    _draw_rows(fig, rows, titles=None, row_titles=row_titles, image_shape=image_shape, normalize=True, cmap=cmap)
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout(pad=0.4)
    return fig
