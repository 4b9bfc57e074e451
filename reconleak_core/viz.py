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
- :func:`plot_curves` — several labelled curves on one axis (certificate ε against training steps, ...).
- :func:`image_grid` — rows of images (e.g. reconstructions beside their nearest training images).
- :func:`scrub_animation` — a precomputed, scrubbable slider (``FuncAnimation.to_jshtml``) that works in
  static HTML with no kernel; returns an ``IPython.display.HTML`` object.
- :func:`static_slider` — one or two real range sliders over precomputed frames (every grid point drawn
  once, stored as compact PNG, switched by a few lines of plain JavaScript): the static-page counterpart
  of a live ``interact`` slider, e.g. secret offset × attacker's guess.
- ``plot_<experiment>`` (:func:`plot_init_radius`, :func:`plot_secret_shift`, ...) — the headline figure of each
  result of :mod:`reconleak_core.experiments`, which its ``plot()`` method draws (the CLI's ``<experiment>.png``).

Sizes: the book's content column is about 690 px wide and a notebook figure is rendered at 100 dpi, so a
figure :data:`COLUMN_INCHES` wide shows at its natural size and its 10-pt labels come out about 14 px; a
wider figure is shrunk (a 13-inch one to about half, its labels below 8 px) unless its cell is tagged
``full-width``. The defaults below fit the column.

Every function returns the matplotlib ``Figure`` it drew on (or the ``HTML``) and never calls
``plt.show()``: a notebook cell ends with ``plt.show()`` (or ``;``), a script saves the figure. Functions
that take ``ax`` draw on it and return its figure. matplotlib is imported lazily; no global rcParams are
changed.
"""

from __future__ import annotations

import numbers
import re

import torch

from reconleak_core.checks import as_tensor, check_labels, check_points, check_positive

__all__ = ["plane_basis", "side_basis", "plot_points_2d", "plot_activation_regions", "plot_curves", "image_grid",
           "scrub_animation", "static_slider", "COLUMN_INCHES"]

COLUMN_INCHES = 6.8
"""Width (inches) of a figure that fills the book's ~690 px content column at the inline backend's 100 dpi."""

_LABEL_COLOURS = {1.0: "tab:blue", -1.0: "tab:red"}

# to_jshtml draws its buttons with Font Awesome icons fetched from a CDN; offline (and in a book served
# without network) the buttons would be blank, so they are replaced by plain Unicode glyphs.
_FONT_AWESOME_LINK = re.compile(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">')
_BUTTON_GLYPHS = {"fa fa-minus": "\u2212", "fa fa-fast-backward": "|\u25c0", "fa fa-step-backward": "\u2039",
                  "fa fa-play fa-flip-horizontal": "\u25c0", "fa fa-pause": "\u275a\u275a", "fa fa-play": "\u25b6",
                  "fa fa-step-forward": "\u203a", "fa fa-fast-forward": "\u25b6|", "fa fa-plus": "+"}


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _axes(ax, figsize):
    """``(fig, ax)``: a new figure when ``ax`` is None, else the figure ``ax`` belongs to."""
    if ax is None:
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
        raise ValueError(f"basis must have shape (2, {d}) (two directions in the input space), got {tuple(basis.shape)}")
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
    ax:
        Draw on this Axes instead of a new figure.
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
    ax.legend(loc="best", fontsize="small")
    return fig


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
    """
    if not hasattr(net, "activation_pattern") or not hasattr(net, "W"):
        raise TypeError(f"net must be a two-layer network with activation_pattern (TwoLayerReLU), got {type(net).__name__}")
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
        ax.clabel(contours, fmt=lambda v: f"Φ={v:g}", fontsize="x-small")
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
    """
    x = as_tensor(x, "x", dtype=torch.float64).reshape(-1)
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
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if len(curves) > 1:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def _as_image(img, image_shape, where: str):
    """An image as a NumPy array (H, W) or (H, W, C) with values as given."""
    img = as_tensor(img, where, dtype=torch.float64).detach().cpu()
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
            img = _as_image(row[c], image_shape, f"rows[{r}][{c}]")
            if normalize:
                span = img.max() - img.min()
                img = (img - img.min()) / span if span > 0 else img * 0
            ax.imshow(img, cmap=cmap if img.ndim == 2 else None, vmin=0 if normalize else None,
                      vmax=1 if normalize else None)
            if titles is not None and titles[r][c]:
                ax.set_title(titles[r][c], fontsize="small")
        if row_titles is not None:
            axes[r][0].set_ylabel(str(row_titles[r]), fontsize="small")


def image_grid(rows, *, titles=None, row_titles=None, image_shape=None, normalize: bool = True,
               cmap: str = "gray", scale: float = 1.4):
    """Show ``rows`` (a sequence of rows, each a sequence of images) as a grid.

    Images are tensors or arrays of shape (H, W), (H, W, 3), (3, H, W), or flat vectors with
    ``image_shape``. With ``normalize`` each image is rescaled to [0, 1] for display only (min–max), so
    reconstructions of any range can be compared by shape. ``titles`` is a matching nested sequence of
    strings (or None), ``row_titles`` labels each row on the left. Each image is ``scale`` inches square, less
    when the row would be wider than the book's column (:data:`COLUMN_INCHES`). Returns the ``Figure``.
    """
    rows = _check_rows(rows, titles, row_titles)
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    scale = check_positive(scale, "scale")
    scale = min(scale, COLUMN_INCHES / (n_cols + (0.4 if row_titles is not None else 0.0)))
    fig = _pyplot().figure(figsize=(scale * n_cols, scale * n_rows))
    _draw_rows(fig, rows, titles=titles, row_titles=row_titles, image_shape=image_shape, normalize=normalize, cmap=cmap)
    fig.tight_layout()
    return fig


def scrub_animation(draw_frame, values, *, figsize=(COLUMN_INCHES, 3.5), interval: int = 500, default_mode: str = "once"):
    """A precomputed scrubbable slider over ``values`` that works in static HTML (no kernel).

    ``draw_frame(fig, value)`` draws one frame on an empty ``fig`` (it is cleared before each call);
    compute the expensive part for all values beforehand (batched) and only draw here. The frames are
    rendered with ``matplotlib.animation.FuncAnimation(...).to_jshtml(default_mode=default_mode)``
    (``"once"``, ``"loop"`` or ``"reflect"``) and the figure is closed so it is not shown twice.

    The player's Font Awesome button icons (fetched from a CDN) are replaced by Unicode glyphs, so the
    HTML is self-contained and its buttons show offline.

    Returns an ``IPython.display.HTML`` object (its ``.data`` is the HTML text, for a script to save).
    The HTML embeds random element ids: tag its notebook cell ``nbval-ignore-output``.
    """
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    if not callable(draw_frame):
        raise TypeError(f"draw_frame must be callable as draw_frame(fig, value), got {type(draw_frame).__name__}")
    values = list(values)
    if not values:
        raise ValueError("values must hold at least one frame value")
    if default_mode not in ("once", "loop", "reflect"):
        raise ValueError(f"default_mode must be 'once', 'loop' or 'reflect', got {default_mode!r}")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ValueError(f"interval must be a positive integer (milliseconds), got {interval!r}")
    plt = _pyplot()
    fig = plt.figure(figsize=figsize)

    def update(k):
        fig.clear()
        draw_frame(fig, values[k])
        return []

    try:
        anim = FuncAnimation(fig, update, frames=len(values), interval=interval, blit=False, repeat=False)
        html = anim.to_jshtml(default_mode=default_mode)
    finally:
        plt.close(fig)
    html = _FONT_AWESOME_LINK.sub("", html)
    for icon, glyph in _BUTTON_GLYPHS.items():
        html = html.replace(f'<i class="{icon}"></i>', glyph)
    return HTML(html)


# Plain JavaScript of static_slider: no library, no network. ``root`` is the widget's own <div>; the grid
# cell of the sliders' positions (row-major) picks a frame; duplicate frames are stored once.
_SLIDER_JS = """(function () {
  var root = document.getElementById("%(uid)s");
  var frames = %(frames)s, index = %(index)s, values = %(values)s;
  var img = root.querySelector("img"), inputs = root.querySelectorAll("input[type=range]"),
      outputs = root.querySelectorAll("output");
  function show() {
    var cell = 0;
    for (var s = 0; s < inputs.length; s++) {
      var k = Number(inputs[s].value);
      cell = cell * values[s].length + k;
      outputs[s].textContent = values[s][k];
      inputs[s].setAttribute("aria-valuetext", values[s][k]);
    }
    img.src = "data:image/png;base64," + frames[index[cell]];
    root.setAttribute("data-frame", String(cell));
  }
  for (var s = 0; s < inputs.length; s++) { inputs[s].addEventListener("input", show); }
  show();
})();"""


def _format_values(values, spec, label: str) -> list[str]:
    if callable(spec):
        return [str(spec(v)) for v in values]
    if not isinstance(spec, str):
        raise TypeError(f"value_format for slider {label!r} must be a format string or a callable, got "
                        f"{type(spec).__name__}")
    out = []
    for v in values:
        if isinstance(v, numbers.Real) and not isinstance(v, bool):
            out.append(spec.format(v))
        else:
            out.append(str(v))
    return out


def _png(fig, colors: int | None) -> bytes:
    """The figure as PNG bytes; with ``colors`` an adaptive palette of that many colours (no dithering), which
    keeps line plots and grey images sharp at a third of the size."""
    import io

    import numpy as np
    from PIL import Image

    fig.canvas.draw()
    image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
    if colors is not None:
        image = image.quantize(colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    image.save(buffer, format="png", optimize=True)
    return buffer.getvalue()


def static_slider(draw_frame, sliders, *, initial=None, value_format="{:.3g}", figsize=(COLUMN_INCHES, 3.6),
                  dpi: int = 100, colors: int | None = 256, max_bytes: int = 1_500_000, alt: str = ""):
    """One or two range sliders over precomputed frames, as self-contained HTML that works on a static page.

    The static-page counterpart of a live ``interact`` slider: every combination of slider values is drawn
    once, here, and the page only switches between the stored pictures, so the sliders move in the built
    book (no kernel, no network, no CDN) as well as in Jupyter and Colab.

    Parameters
    ----------
    draw_frame:
        ``draw_frame(fig, value)`` (one slider) or ``draw_frame(fig, value_1, value_2)`` (two) draws one frame
        on an empty matplotlib ``Figure`` (a fresh one for every frame, never shown by pyplot). Compute the
        expensive part for the whole grid beforehand (one batched experiment) and only draw here.
    sliders:
        A mapping ``{label: values}`` with one or two entries, in slider order (e.g.
        ``{"secret offset s": offsets, "attacker's guess g": guesses}``); each ``values`` a non-empty sequence.
        The values are passed to ``draw_frame`` as given (indices, numbers, strings).
    initial:
        The values shown first, one per slider (default: the first value of each); each must be one of
        that slider's values.
    value_format:
        How a slider's current value is printed beside it: a format string applied to numbers (others are
        printed with ``str``), a callable ``value → text``, or a tuple of either, one per slider.
    figsize, dpi:
        Size of every frame. The default fills the ~690 px content column at its natural size (labels of
        10 pt render at about 14 px); keep ``figsize[0] * dpi`` near 690 for legible labels.
    colors:
        Frames are stored as PNG with an adaptive palette of ``colors`` colours (2–256), about three times
        smaller than full colour; ``None`` stores full-colour PNG. Identical frames are stored once.
    max_bytes:
        Refuse (``ValueError``) to emit more than this many bytes of HTML, so a chapter page stays small
        (the book aims at under 3 MB a page): lower ``dpi``, ``figsize`` or the number of values instead.
    alt:
        Text alternative of the picture (for screen readers).

    Returns
    -------
    IPython.display.HTML
        Its ``.data`` is the HTML text: a ``<div class="reconleak-slider">`` holding the ``<img>`` (showing the
        initial frame even with JavaScript off), one ``<input type="range">`` and ``<output>`` per slider, and
        a short script. Element ids are random, so two sliders never clash on one page; tag the cell
        ``nbval-ignore-output`` (the frames also differ between CPUs).

    Example
    -------
    A chapter's cell, after the batched experiment that made its figure (chapter "Shifted images")::

        def draw(fig, k):
            draw_image_rows(fig, [list(result.recon[k]), list(result.nearest[k])],
                            image_shape=data.DIGITS_IMAGE_SHAPE, row_titles=["reconstruction", "training"])

        static_slider(draw, {"secret offset s": range(len(result.offsets))},
                      value_format=lambda k: f"{result.offsets[k]:.3g}", figsize=(COLUMN_INCHES, 2.4))
    """
    import base64
    import html as html_lib
    import json
    import uuid

    from IPython.display import HTML
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not callable(draw_frame):
        raise TypeError(f"draw_frame must be callable as draw_frame(fig, *values), got {type(draw_frame).__name__}")
    if not hasattr(sliders, "items") or not 1 <= len(sliders) <= 2:
        raise ValueError(f"sliders must be a mapping {{label: values}} with one or two entries, got {sliders!r}")
    labels = [str(label) for label in sliders]
    grids = [list(values) for values in sliders.values()]
    for label, values in zip(labels, grids):
        if not values:
            raise ValueError(f"slider {label!r} has no values")
    specs = tuple(value_format) if isinstance(value_format, (tuple, list)) else (value_format,) * len(grids)
    if len(specs) != len(grids):
        raise ValueError(f"value_format gives {len(specs)} formats for {len(grids)} sliders")
    texts = [_format_values(values, spec, label) for values, spec, label in zip(grids, specs, labels)]
    if initial is None:
        start = [0] * len(grids)
    else:
        initial = tuple(initial) if isinstance(initial, (tuple, list)) else (initial,)
        if len(initial) != len(grids):
            raise ValueError(f"initial gives {len(initial)} values for {len(grids)} sliders")
        start = []
        for label, values, value in zip(labels, grids, initial):
            matches = [k for k, v in enumerate(values) if v is value or v == value]
            if not matches:
                raise ValueError(f"initial value {value!r} is not one of slider {label!r}'s values")
            start.append(matches[0])
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 20 <= dpi <= 400:
        raise ValueError(f"dpi must be an integer in 20..400, got {dpi!r}")
    if colors is not None and (isinstance(colors, bool) or not isinstance(colors, int) or not 2 <= colors <= 256):
        raise ValueError(f"colors must be an integer in 2..256 or None, got {colors!r}")
    if len(figsize) != 2 or not all(isinstance(v, numbers.Real) and v > 0 for v in figsize):
        raise ValueError(f"figsize must be two positive sizes in inches, got {figsize!r}")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")

    cells = [(a,) for a in grids[0]] if len(grids) == 1 else [(a, b) for a in grids[0] for b in grids[1]]
    frames, index, seen = [], [], {}
    for cell in cells:
        fig = Figure(figsize=tuple(float(v) for v in figsize), dpi=dpi, facecolor="white")
        FigureCanvasAgg(fig)
        draw_frame(fig, *cell)
        data = base64.b64encode(_png(fig, colors)).decode("ascii")
        if data not in seen:
            seen[data] = len(frames)
            frames.append(data)
        index.append(seen[data])
    first = 0
    for k, size in zip(start, [len(v) for v in grids]):
        first = first * size + k

    uid = f"reconleak-slider-{uuid.uuid4().hex[:12]}"
    width, height = round(figsize[0] * dpi), round(figsize[1] * dpi)
    css_width = round(figsize[0] * 100)  # 100 CSS px per inch, like the inline backend's figures
    controls = []
    for s, (label, values) in enumerate(zip(labels, texts)):
        control_id = f"{uid}-{s}"
        controls.append(
            f'<div style="display:flex;align-items:center;gap:0.6em;margin:0.2em 0">'
            f'<label for="{control_id}" style="min-width:9em">{html_lib.escape(label)}</label>'
            f'<input type="range" id="{control_id}" min="0" max="{len(values) - 1}" step="1" value="{start[s]}" '
            f'style="flex:1;max-width:24em">'
            f'<output for="{control_id}" style="min-width:4em">{html_lib.escape(values[start[s]])}</output></div>')
    script = _SLIDER_JS % {"uid": uid, "frames": json.dumps(frames), "index": json.dumps(index),
                           "values": json.dumps(texts, ensure_ascii=False)}
    text = (f'<div class="reconleak-slider" id="{uid}" data-frame="{first}" style="max-width:100%">'
            f'<img src="data:image/png;base64,{frames[index[first]]}" width="{css_width}" '
            f'height="{round(css_width * height / width)}" data-natural-scale="{dpi / 100:g}" '
            f'alt="{html_lib.escape(alt)}" style="max-width:100%;height:auto;display:block">'
            + "".join(controls) + f"<script>{script}</script></div>")
    if len(text) > max_bytes:
        raise ValueError(f"the slider's HTML would take {len(text) / 1e6:.2f} MB ({len(frames)} distinct frames of "
                         f"{len(cells)}), more than max_bytes = {max_bytes / 1e6:.2f} MB: lower dpi or figsize, use "
                         "fewer slider values, or raise max_bytes")
    return HTML(text)


_FULL_WIDTH_THREE_PANELS = (9.3, 3.3)


def _per_x(values, n: int):
    """Mean over everything but the first axis (e.g. over attack seeds), as a 1-D tensor of length n."""
    values = as_tensor(values, "values", dtype=torch.float64)
    return values.reshape(n, -1).mean(dim=1)


def _two_panels():
    """A figure of two panels side by side filling the book's column (:data:`COLUMN_INCHES` wide)."""
    return _pyplot().subplots(1, 2, figsize=(COLUMN_INCHES, 3.2))


def _finish(fig):
    fig.tight_layout()
    return fig


def plot_init_radius(result):
    """``experiments.init_radius`` (paper Fig. 2a): final KKT loss and reconstruction distances against the
    attack's init radius, means over the attack seeds. Returns the ``Figure``."""
    r = result.radii
    fig, axes = _two_panels()
    plot_curves(r, {"KKT loss": _per_x(result.kkt, len(r))}, xlabel="attack init radius", ylabel="final KKT loss",
                title="the attack's objective", logx=True, logy=True, ax=axes[0])
    plot_curves(r, {"nearest": _per_x(result.nearest, len(r)), "matched": _per_x(result.matched, len(r))},
                xlabel="attack init radius", ylabel="distance to the training set",
                title="reconstruction quality", logx=True, logy=True, ax=axes[1])
    return _finish(fig)


def plot_secret_shift(result):
    """``experiments.secret_shift`` (paper Fig. 2b): median best SSIM and final KKT loss against the secret
    offset, for the uninformed box [0, 1] and the informed box [s, 1 + s]. Returns the ``Figure``."""
    o = result.offsets
    fig, axes = _two_panels()
    plot_curves(o, {"box [0, 1]": result.median[:, 0], "box [s, 1 + s]": result.median[:, 1]},
                xlabel="secret offset s", ylabel="median best SSIM", title="reconstruction quality", ax=axes[0])
    plot_curves(o, {"box [0, 1]": result.kkt[:, 0], "box [s, 1 + s]": result.kkt[:, 1]}, xlabel="secret offset s",
                ylabel="final KKT loss", title="the attack's objective", logy=True, ax=axes[1])
    return _finish(fig)


def plot_shift_guess(result):
    """``experiments.shift_guess``: median best SSIM and "average-ness" (training images sharing their best
    candidate) against the secret offset s, for the guess g = 0 (uninformed) and g = s (informed); both
    must be on the result's grid of guesses. Returns the ``Figure``."""
    offsets = [float(o) for o in result.offsets]
    zero = result.at(offsets[0], 0.0)[1]
    diagonal = [result.at(o, o) for o in offsets]
    fig, axes = _two_panels()
    for ax, values, ylabel, title in ((axes[0], result.median, "median best SSIM", "reconstruction quality"),
                                      (axes[1], result.shared, "images sharing a candidate", "average-ness")):
        curves = {"guess g = 0": values[:, zero], "guess g = s": torch.stack([values[i, j] for i, j in diagonal])}
        plot_curves(offsets, curves, xlabel="secret offset s", ylabel=ylabel, title=title, ax=ax)
    return _finish(fig)


def plot_digit_leak(result):
    """``experiments.digit_leak``: every training image above its best pooled candidate, with the median SSIM
    in the title. Returns the ``Figure``."""
    fig = image_grid([list(result.images), list(result.best)], row_titles=["training", "best candidate"],
                     image_shape=tuple(result.image_shape), normalize=False, scale=0.8)
    fig.suptitle(f"median SSIM {result.median:.3g}, {result.fraction:.0%} of the images ≥ 0.7", fontsize="medium")
    return _finish(fig)


def plot_training_length(result, *, figsize=_FULL_WIDTH_THREE_PANELS):
    """``experiments.training_length``: certificate ε against steps, split distance and attack distances
    against ε (longer training to the right). Three panels, by default 9.3 inches wide for a notebook cell
    tagged ``full-width`` (about 935 px in a 1280 px window); ``figsize=(COLUMN_INCHES, 2.8)`` fits the
    column. Returns the ``Figure``."""
    fig, axes = _pyplot().subplots(1, 3, figsize=figsize)
    plot_curves(result.steps, {"ε / ‖θ̂‖": result.eps_rel}, xlabel="training steps", ylabel="relative ε",
                title="certificate", logx=True, logy=True, ax=axes[0])
    plot_curves(result.eps_rel, {"split distance": result.split_distance}, xlabel="relative ε",
                ylabel="distance", title="far KKT sets", logx=True, logy=True, ax=axes[1])
    plot_curves(result.eps_rel, {"nearest": result.nearest, "matched": result.matched}, xlabel="relative ε",
                ylabel="distance", title="attack without a prior", logx=True, ax=axes[2])
    for ax in axes[1:]:
        ax.invert_xaxis()
    return _finish(fig)


def plot_training_leak(result):
    """``experiments.training_leak``: the share of training points recovered and their median distance to the
    nearest pooled candidate against the checkpoint's certificate ε_rel (better trained to the right).
    Returns the ``Figure``."""
    fig, axes = _two_panels()
    plot_curves(result.eps_rel, {"recovered": result.fraction}, xlabel="relative ε (certificate)",
                ylabel=f"share within {result.config.threshold:g}", title="leakage", logx=True, ax=axes[0])
    plot_curves(result.eps_rel, {"median distance": result.median}, xlabel="relative ε (certificate)",
                ylabel="distance", title="reconstruction quality", logx=True, ax=axes[1])
    for ax in axes:
        ax.invert_xaxis()
    return _finish(fig)


def plot_infer_shift(result):
    """``experiments.infer_shift``: the estimated against the true offset, and the KKT loss against the trial
    shift. Returns the ``Figure``."""
    o = result.offsets
    fig, axes = _two_panels()
    plot_curves(o, {"estimate": result.estimate, "true offset": o}, xlabel="true offset",
                ylabel="offset", title="inferring the secret shift", ax=axes[0])
    loss = as_tensor(result.loss, "loss", dtype=torch.float64)
    plot_curves(result.trials, {f"offset {float(v):.3g}": row for v, row in zip(o, loss)},
                xlabel="trial shift", ylabel="final KKT loss", title="loss per trial", logy=True, ax=axes[1])
    return _finish(fig)


__all__ += ["plot_init_radius", "plot_secret_shift", "plot_shift_guess", "plot_digit_leak", "plot_training_length",
            "plot_training_leak", "plot_infer_shift", "plot_bias_shift"]


def plot_bias_shift(result, axes=None):
    """``experiments.bias_shift``: median pooled SSIM (uninformed box) and KKT residual against the offset, one
    curve per bias setting, the medians over draws with their range as a band (chapter "Open questions")."""
    own = axes is None
    fig, axes = _two_panels() if own else (axes[0].figure, axes)
    o = as_tensor(result.offsets, "offsets", dtype=torch.float64)
    for ax, values, ylabel in ((axes[0], result.median, "median best SSIM"), (axes[1], result.eps_rel, "ε_rel")):
        for j, bias in enumerate(result.biases):
            v = as_tensor(values, "values", dtype=torch.float64)[:, :, j]
            label = "first-layer bias" if bool(bias) else "no bias"
            line, = ax.plot(o, v.quantile(0.5, dim=0), marker="o", label=label)
            ax.fill_between(o, v.amin(dim=0), v.amax(dim=0), color=line.get_color(), alpha=0.2)
        ax.set_xlabel("secret offset s")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small")
    axes[0].set_title("uninformed box [0, 1]")
    axes[1].set_title("KKT residual (NNLS, hard gate)")
    return _finish(fig) if own else fig


def plot_shift_reconstructions(result, show: int = 4, figsize=None):
    """Paper Fig. 2b's images from an ``experiments.SecretShiftResult``: one row per secret offset with its
    ``show`` best reconstructions of the uninformed attack (box [0, 1]), each beside its nearest training image (every image min–max scaled for
    display, as they are scored). The default size fills the book's column (:data:`COLUMN_INCHES`).
    Returns the ``Figure``."""
    offsets = [float(o) for o in result.offsets]
    show = min(int(show), result.recon.shape[2])
    if show < 1:
        raise ValueError(f"show must be a positive integer, got {show!r}")
    plt = _pyplot()
    cell = COLUMN_INCHES / (2 * show + 0.4)
    fig, axes = plt.subplots(len(offsets), 2 * show, squeeze=False,
                             figsize=figsize or (COLUMN_INCHES, 0.45 + 1.1 * cell * len(offsets)))
    for r, offset in enumerate(offsets):
        for c in range(show):
            for k, (images, what) in enumerate(((result.recon[:, 0], "rec."), (result.nearest[:, 0], "nearest"))):
                ax = axes[r][2 * c + k]
                img = _as_image(images[r][c], tuple(result.image_shape), "image")
                span = img.max() - img.min()
                ax.imshow((img - img.min()) / span if span > 0 else img * 0, cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(what, fontsize="small")
        axes[r][0].set_ylabel(f"s = {offset:g}", fontsize="small")
    fig.tight_layout()
    return fig


__all__ += ["plot_shift_reconstructions"]


def draw_image_rows(fig, rows, *, row_titles=None, image_shape=None, title: str | None = None, cmap: str = "gray"):
    """Draw ``rows`` (rows of images) on the existing, empty figure ``fig``, each image min–max scaled for display.

    The frame-drawing counterpart of :func:`image_grid` for :func:`scrub_animation` (whose ``draw_frame`` gets a
    cleared figure): e.g. a secret offset's best reconstructions above their nearest training images (chapter
    "Shifted images"). Images as in :func:`image_grid` (flat vectors need ``image_shape``); ``row_titles`` labels
    each row, ``title`` the figure. Returns ``fig``.
    """
    if not hasattr(fig, "subplots") or not hasattr(fig, "suptitle"):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    rows = _check_rows(rows, None, row_titles)
    _draw_rows(fig, rows, titles=None, row_titles=row_titles, image_shape=image_shape, normalize=True, cmap=cmap)
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


__all__ += ["draw_image_rows"]
