"""Sliders that work on a static page: every frame drawn once, here, and switched in the browser with no kernel.

Interface.

- :func:`static_slider` — one or two real range sliders over precomputed frames (every grid point drawn
  once, stored as compact PNG, switched by a few lines of plain JavaScript): the static-page counterpart
  of a live ``interact`` slider, e.g. secret offset × attacker's guess. A chapter's static slider *is* its
  figure (it shows the default frame with JavaScript off).
- :func:`scrub_animation` — a precomputed, scrubbable player (``FuncAnimation.to_jshtml``) over one sequence
  of values.

Both return an ``IPython.display.HTML`` object whose ``.data`` is self-contained HTML: no library, no network,
no CDN (the player's Font Awesome icons are replaced by Unicode glyphs). Element ids are random, so a notebook
cell holding one is tagged ``nbval-ignore-output``. Figures are drawn with :mod:`reconleak_core.viz`'s sizes
(:data:`~reconleak_core.viz.COLUMN_INCHES`); matplotlib and IPython are imported at the first call.
"""

from __future__ import annotations

import base64
import html as html_lib
import io
import json
import numbers
import re
import uuid

import numpy as np

from reconleak_core.viz import COLUMN_INCHES

__all__ = ["static_slider", "scrub_animation"]

# to_jshtml draws its buttons with Font Awesome icons fetched from a CDN; offline (and in a book served
# without network) the buttons would be blank, so they are replaced by plain Unicode glyphs.
_FONT_AWESOME_LINK = re.compile(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">')
_BUTTON_GLYPHS = {"fa fa-minus": "\u2212", "fa fa-fast-backward": "|\u25c0", "fa fa-step-backward": "\u2039",
                  "fa fa-play fa-flip-horizontal": "\u25c0", "fa fa-pause": "\u275a\u275a", "fa fa-play": "\u25b6",
                  "fa fa-step-forward": "\u203a", "fa fa-fast-forward": "\u25b6|", "fa fa-plus": "+"}


def scrub_animation(draw_frame, values, *, figsize=(COLUMN_INCHES, 3.5), interval: int = 500,
                    default_mode: str = "once"):
    """A precomputed scrubbable slider over ``values`` that works in static HTML (no kernel).

    ``draw_frame(fig, value)`` draws one frame on an empty ``fig`` (it is cleared before each call);
    compute the expensive part for all values beforehand (batched) and only draw here. The frames are
    rendered with ``matplotlib.animation.FuncAnimation(...).to_jshtml(default_mode=default_mode)``
    (``"once"``, ``"loop"`` or ``"reflect"``) and the figure is closed so it is not shown twice.

    The player's Font Awesome button icons (fetched from a CDN) are replaced by Unicode glyphs, so the
    HTML is self-contained and its buttons show offline.

    Returns an ``IPython.display.HTML`` object (its ``.data`` is the HTML text, for a script to save).
    The HTML embeds random element ids: tag its notebook cell ``nbval-ignore-output``.

    ``draw_frame``: the drawing function above; ``figsize``: the frames' size in inches (default the column's
    width); ``interval``: milliseconds between frames when playing; ``default_mode``: the player's mode at first.
    """
    import matplotlib.pyplot as plt  # lazy (with IPython): importing this module draws nothing
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    if not callable(draw_frame):
        raise TypeError(f"draw_frame must be callable as draw_frame(fig, value), got {type(draw_frame).__name__}")
    if isinstance(values, (str, bytes)):
        raise TypeError("values must be a sequence of frame values, got a string")
    values = list(values)
    if not values:
        raise ValueError("values must hold at least one frame value")
    if default_mode not in ("once", "loop", "reflect"):
        raise ValueError(f"default_mode must be 'once', 'loop' or 'reflect', got {default_mode!r}")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ValueError(f"interval must be a positive integer (milliseconds), got {interval!r}")
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
    from PIL import Image  # lazy: Pillow comes with matplotlib, needed only when a slider is drawn

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
        Size of every frame (inches, and pixels per inch). A frame is shown at its pixel size,
        ``figsize[0] * dpi`` px wide (never stretched, so never blurred), shrunk only where the column is
        narrower. The default fills the ~690 px content column (labels of 10 pt render at about 14 px, at
        ``dpi`` 90 about 12.5 px); a lower ``dpi`` makes a smaller picture with smaller text (keep 10-pt
        labels above 9 px: ``dpi`` ≥ 65).
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
    from IPython.display import HTML  # lazy, like matplotlib: importing this module draws nothing
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not callable(draw_frame):
        raise TypeError(f"draw_frame must be callable as draw_frame(fig, *values), got {type(draw_frame).__name__}")
    if not hasattr(sliders, "items") or not 1 <= len(sliders) <= 2:
        raise ValueError(f"sliders must be a mapping {{label: values}} with one or two entries, got {sliders!r}")
    if not all(isinstance(label, str) for label in sliders):
        raise TypeError(f"the slider labels must be strings, got {list(sliders)!r}")
    if not isinstance(alt, str):
        raise TypeError(f"alt must be a string (the picture's text alternative), got {type(alt).__name__}")
    labels = list(sliders)
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
    width, height = round(figsize[0] * dpi), round(figsize[1] * dpi)  # shown at its pixel size: sharp
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
            f'<img src="data:image/png;base64,{frames[index[first]]}" width="{width}" height="{height}" '
            f'alt="{html_lib.escape(alt)}" style="max-width:100%;height:auto;display:block">'
            + "".join(controls) + f"<script>{script}</script></div>")
    if len(text) > max_bytes:
        raise ValueError(f"the slider's HTML would take {len(text) / 1e6:.2f} MB ({len(frames)} distinct frames of "
                         f"{len(cells)}), more than max_bytes = {max_bytes / 1e6:.2f} MB: lower dpi or figsize, use "
                         "fewer slider values, or raise max_bytes")
    return HTML(text)
