"""Claims about legibility: every figure the library draws is readable at the size the book shows it.

A figure is measured with matplotlib's own renderer (``fig.canvas.draw()``, then each text's size and
``get_window_extent()``), at the size the page shows it: a notebook figure is saved at 100 dpi with
``bbox_inches="tight"`` and shown at its natural width, shrunk to the column when wider
(``viz.COLUMN_INCHES`` × 100 px, or about 935 px in a cell tagged ``full-width``; see ``.ci/check_book.py``);
a static slider's frame is shown at its pixel size, likewise shrunk to the column. Then

- every visible text is at least ``MIN_TEXT_PX`` pixels (its font size in displayed pixels);
- no two tick labels of one axis overlap;
- a legend does not hide the data drawn under it.

The figures are built from small fake results (no training), as ``tests/test_viz.py`` does.
"""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from reconleak_core import experiments, models, sliders, viz  # noqa: E402

MIN_TEXT_PX = 9.0
COLUMN_PX = round(viz.COLUMN_INCHES * 100)
FULL_WIDTH_PX = 930
INLINE_DPI = 100
INLINE_PAD_INCHES = 0.1   # savefig's pad_inches with bbox_inches="tight", as the inline backend saves


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _drawn_tick_labels(ax):
    """The tick labels of ``ax`` that the renderer draws: the axes is on, the label visible and not empty."""
    if not ax.get_visible() or not ax.axison:
        return {}
    out = {}
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        if not axis.get_visible():
            continue
        low, high = sorted(axis.get_view_interval())
        slack = 1e-9 * max(abs(low), abs(high), 1e-300)
        labels = [t for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text().strip()
                  and low - slack <= t.get_position()[0 if name == "x" else 1] <= high + slack]
        out[name] = labels
    return out


def _drawn_texts(fig):
    """Every ``Text`` of ``fig`` that the renderer draws (visible, not empty, on a visible axes' part)."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            parts = [axis.label, axis.offsetText] + [t for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                                                      for t in (tick.label1, tick.label2)]
            drawn = {id(t) for labels in _drawn_tick_labels(ax).values() for t in labels}
            for t in parts:
                if id(t) in drawn:
                    continue
                if t in (axis.label, axis.offsetText) and ax.get_visible() and ax.axison and axis.get_visible():
                    continue
                hidden.add(id(t))
        if not ax.get_visible():
            hidden.update(id(t) for t in ax.findobj(Text))
    return [t for t in fig.findobj(Text, include_self=False)
            if id(t) not in hidden and t.get_visible() and t.get_text().strip()]


def displayed_scale(fig, *, column_px: float = COLUMN_PX, tight: bool = True) -> float:
    """Displayed pixels per pixel of the saved image: 1, or less when the image is wider than the column."""
    renderer = fig.canvas.get_renderer()
    width_in = (fig.get_tightbbox(renderer).width + 2 * INLINE_PAD_INCHES) if tight else fig.get_figwidth()
    return min(1.0, column_px / (width_in * fig.dpi))


def legibility_problems(fig, *, column_px: float = COLUMN_PX, dpi: float = INLINE_DPI, tight: bool = True) -> list:
    """What makes ``fig`` hard to read at the size the book shows it (an empty list when nothing does).

    ``dpi``: the resolution the figure is saved at (100 for a notebook's inline figure, a static slider's
    ``dpi`` for its frames); ``tight``: saved with ``bbox_inches="tight"`` (inline) or whole (a slider frame).
    """
    fig.set_dpi(dpi)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    scale = displayed_scale(fig, column_px=column_px, tight=tight)
    problems = []
    for text in _drawn_texts(fig):
        px = text.get_fontsize() * dpi / 72 * scale
        if px < MIN_TEXT_PX - 1e-6:
            problems.append(f"text {text.get_text()!r} is {px:.1f} px as displayed (minimum {MIN_TEXT_PX:g})")
    for k, ax in enumerate(fig.axes):
        for name, labels in _drawn_tick_labels(ax).items():
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    (a, box_a), (b, box_b) = boxes[i], boxes[j]
                    dx = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
                    dy = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
                    if dx > 0.5 and dy > 0.5:
                        problems.append(f"axes {k}: {name} tick labels {a!r} and {b!r} overlap")
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            box = legend.get_window_extent(renderer)
            covered = 0
            for line in ax.get_lines():
                xy = line.get_transform().transform(np.column_stack([line.get_xdata(), line.get_ydata()]))
                covered += int(np.sum(box.contains_points(xy)) if hasattr(box, "contains_points") else sum(
                    box.contains(*p) for p in xy))
            for coll in ax.collections:
                offsets = coll.get_offsets()
                if len(offsets):
                    xy = coll.get_offset_transform().transform(offsets)
                    covered += sum(bool(box.contains(*p)) for p in xy)
            if covered:
                problems.append(f"axes {k}: the legend covers {covered} data point(s)")
    return problems


# --------------------------------------------------------------------------------------------- the helpers


def _t(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_measurement_flags_small_text_overlapping_ticks_and_a_covering_legend():
    fig, ax = plt.subplots(figsize=(viz.COLUMN_INCHES, 3))
    grid = np.stack(np.meshgrid(np.arange(20), np.arange(10)), -1).reshape(-1, 2)
    ax.plot(grid[:, 0], grid[:, 1], "o", label="points")
    ax.set_xticks(np.arange(20), [f"label {k}" for k in range(20)])
    ax.set_title("tiny", fontsize=5)
    ax.legend(loc="upper left")
    problems = " | ".join(legibility_problems(fig))
    assert "'tiny'" in problems and "overlap" in problems and "legend covers" in problems
    fig, ax = plt.subplots(figsize=(13, 3))        # shrunk to the column: 10-pt labels at about 7 px
    ax.plot([0, 1])
    assert any("px as displayed" in p for p in legibility_problems(fig))
    fig, ax = plt.subplots(figsize=(viz.COLUMN_INCHES, 3))
    ax.plot([1, 2, 3], [1, 3, 2], label="curve")
    ax.legend(loc="best")
    assert legibility_problems(fig) == []


def test_plot_curves_on_log_axes_labels_only_major_ticks_without_overlap():
    # chapter 5's certificate panel: a log x axis over less than a decade labelled every minor tick
    fig, axes = plt.subplots(1, 3, figsize=(viz.COLUMN_INCHES, 2.8))
    viz.plot_curves([3000, 4000, 6000, 10000], {"ε": [0.5, 0.3, 0.2, 0.1]}, xlabel="training steps",
                    ylabel="relative ε", logx=True, logy=True, ax=axes[0], title="certificate")
    viz.plot_curves([0.02, 0.5], {"a": [1.0, 2.0], "b": [2.0, 1.0]}, xlabel="ε", ylabel="d", logx=True, ax=axes[1])
    viz.plot_curves([1, 1e4], {"a": [1e-14, 2.0]}, xlabel="x", ylabel="y", logx=True, logy=True, ax=axes[2])
    fig.tight_layout()
    assert legibility_problems(fig) == []
    assert all(t.get_text() for t in axes[0].xaxis.get_ticklabels())   # the major ticks stay labelled


def test_points_regions_and_levels_are_legible_with_a_legend_of_grey_markers():
    net = models.TwoLayerReLU(2, 6, seed=1)
    X = torch.tensor([[1.0, 0.2], [-0.8, 0.5], [0.3, -1.0], [-0.2, -0.9]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    fig = viz.plot_activation_regions(net, levels=(-1, 0, 1), extent=1.6, title="regions and margins")
    viz.plot_points_2d(X, X[:2] * 1.1, y=y, candidate_y=y[:2], links=[(0, 0), (1, 1)], ax=fig.axes[0])
    assert legibility_problems(fig) == []
    handles = fig.axes[0].get_legend().legend_handles
    grey = {matplotlib.colors.to_hex(h.get_markerfacecolor() if h.get_marker() == "o" else h.get_color())
            for h in handles}
    assert len(handles) == 2 and grey <= {"#999999", "#595959"}   # markers in grey: no colour claims a label
    for text in fig.axes[0].texts:                          # Φ = level labels
        assert text.get_fontsize() * INLINE_DPI / 72 >= MIN_TEXT_PX


def test_image_grid_of_twenty_digits_is_legible_with_its_row_titles():
    rng = torch.Generator().manual_seed(0)
    images = torch.rand(20, 64, generator=rng, dtype=torch.float64)
    marks = [f"✓ {k / 20:.2f}" for k in range(10)]
    fig = viz.image_grid([images[:10], images[10:], images[:10], images[10:]], image_shape=(8, 8),
                         row_titles=["training", "best cand.", "training", "best cand."],
                         titles=[[""] * 10, marks, [""] * 10, marks])
    assert legibility_problems(fig) == []


@pytest.mark.parametrize("figsize,dpi", [((viz.COLUMN_INCHES, 2.6), 90), ((viz.COLUMN_INCHES, 2.6), 100)])
def test_draw_image_rows_in_a_static_slider_frame_is_legible(figsize, dpi):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    images = torch.rand(2, 8, 64, dtype=torch.float64)
    viz.draw_image_rows(fig, [list(images[0]), list(images[1])], row_titles=["reconstruction", "training"],
                        image_shape=(8, 8), title="s = 1, guess g = 0: median SSIM 0.52, shared 3")
    assert legibility_problems(fig, dpi=dpi, tight=False) == []


def test_static_slider_shows_its_frames_at_their_natural_size():
    import re

    def draw(fig, k):
        fig.add_subplot().plot([0, k])

    for dpi in (72, 90, 100):
        html = sliders.static_slider(draw, {"k": [1, 2]}, figsize=(viz.COLUMN_INCHES, 2.6), dpi=dpi).data
        width = int(re.search(r'<img [^>]*width="(\d+)"', html).group(1))
        assert width == round(viz.COLUMN_INCHES * dpi)        # CSS px = image px: never stretched, never blurred


# ------------------------------------------------------------------------------- every experiment's figure


def _fake_results():
    """``{name: (result, plot options, column px)}``: a small fake result per experiment figure."""
    o = _t(0.0, 0.5, 1.0, 2.0)
    D = 3
    rng = np.random.default_rng(0)
    images = torch.rand(20, 64, dtype=torch.float64)
    return {
        "training_length": (SimpleNamespace(steps=_t(3000, 4000, 6000, 10000), eps_rel=_t(0.5, 0.3, 0.2, 0.1),
                                            split_distance=_t(0.1, 0.5, 1.0, 2.0), split_median=_t(1.0, 1.5, 2.0, 4.0),
                                            nearest=_t(0.3, 0.4, 0.5, 0.6), matched=_t(0.4, 0.5, 0.6, 0.7)), {},
                            FULL_WIDTH_PX),
        "training_length_column": (SimpleNamespace(steps=_t(3000, 4000, 6000, 10000), eps_rel=_t(0.5, 0.3, 0.2, 0.1),
                                                   split_distance=_t(0.1, 0.5, 1.0, 2.0),
                                                   split_median=_t(1.0, 1.5, 2.0, 4.0),
                                                   nearest=_t(0.3, 0.4, 0.5, 0.6), matched=_t(0.4, 0.5, 0.6, 0.7)),
                                   {"figsize": (viz.COLUMN_INCHES, 2.8)}, COLUMN_PX),
        "init_radius": (SimpleNamespace(radii=_t(0.3, 1.0, 3.0), kkt=torch.rand(3, 2, dtype=torch.float64) + 0.1,
                                        theta_sq=2.0, rates=torch.rand(3, 3, dtype=torch.float64),
                                        chance=torch.rand(3, 3, 20, dtype=torch.float64) * 0.2), {}, COLUMN_PX),
        "digit_leak": (SimpleNamespace(images=images, best=images.flip(0), image_shape=(8, 8),
                                       leaked=torch.tensor([True] * 9 + [False] * 11), chance=_t(0.05, 0.1, 0.0),
                                       median=0.61), {}, COLUMN_PX),
        "secret_shift": (SimpleNamespace(offsets=o, rate=torch.rand(4, 2, dtype=torch.float64),
                                         mix=torch.rand(4, 2, dtype=torch.float64), chance=torch.rand(20) * 0.2,
                                         mix_chance=torch.rand(20) * 0.2), {}, COLUMN_PX),
        "shift_reconstructions": (SimpleNamespace(offsets=o, recon=torch.rand(4, 2, 4, 64, dtype=torch.float64),
                                                  nearest=torch.rand(4, 2, 4, 64, dtype=torch.float64),
                                                  image_shape=(8, 8)), {"show": 4}, COLUMN_PX),
        "infer_shift": (SimpleNamespace(offsets=_t(0.0, 0.5, 1.0), estimate=_t(0.1, 0.4, 1.1),
                                        trials=_t(0.0, 0.25, 0.5, 0.75, 1.0),
                                        # the chapter's shape: lowest at t = 0, rising with the trial shift
                                        loss=0.01 * (1 + 4 * _t(0.0, 0.25, 0.5, 0.75, 1.0)) ** 2
                                        * _t(1.0, 2.0, 4.0)[:, None]), {}, COLUMN_PX),
        "bias_shift": (SimpleNamespace(offsets=np.array([0.0, 1.0, 2.0]), biases=np.array([False, True]),
                                       median=rng.uniform(0.4, 0.7, (D, 3, 2)),
                                       eps_rel=rng.uniform(0.1, 0.7, (D, 3, 2))), {}, COLUMN_PX),
    }


def _shift_guess_result():
    from reconleak_core.experiments.shift_guess import ShiftGuessResult

    o = [0.0, 0.5, 1.0]
    res = SimpleNamespace(offsets=_t(*o), guesses=_t(*o), rate=torch.rand(3, 3, dtype=torch.float64),
                          mix=torch.rand(3, 3, dtype=torch.float64), chance=torch.rand(20) * 0.2,
                          mix_chance=torch.rand(20) * 0.2)
    res.at = lambda offset, guess: ShiftGuessResult.at(res, offset, guess)
    return res


@pytest.mark.parametrize("name", list(_fake_results()) + ["shift_guess", "training_leak"])
def test_every_experiment_figure_is_legible_in_the_column(name, tmp_path):
    torch.manual_seed(0)
    if name == "shift_guess":
        result, options, column = _shift_guess_result(), {}, COLUMN_PX
    elif name == "training_leak":   # its figure takes real results (a run at test scale: seconds)
        result = experiments.training_leak(scale="test", device="cpu", cache_root=tmp_path)
        options, column = {}, COLUMN_PX
    else:
        result, options, column = _fake_results()[name]
    plot = getattr(experiments, f"plot_{name.removesuffix('_column')}")
    fig = plot(result, **options)
    assert legibility_problems(fig, column_px=column) == []


def test_command_line_figures_are_written_at_the_books_size(tmp_path):
    # the CLI saves each experiment's figure as the book shows it: at most the column's width in pixels,
    # text no smaller than in the book (reproduce digit_leak wrote an 800 × 80 px strip)
    from reconleak_core.__main__ import save_figure

    result, options, column = _fake_results()["digit_leak"]
    fig = experiments.plot_digit_leak(result, **options)
    path = tmp_path / "digit_leak.png"
    save_figure(fig, path)
    from PIL import Image

    width, height = Image.open(path).size
    assert width <= COLUMN_PX + 20 and height >= 200
