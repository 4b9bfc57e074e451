"""Claim cells: a chapter's measured statements, checked with a tolerance, printed as one stable line.

An attack is a chaotic optimisation: a last-bit difference between two processors changes its third
digit, sometimes its conclusion. A chapter therefore never lets nbval compare a chaotic figure. It prints
its table (in a cell tagged ``nbval-ignore-output``, so the rendered book still shows it) and then states
each measured claim once more in a short cell tagged ``claim``, which calls one helper of this module.

Interface. Every helper takes the claim's text first, then the measured values and the tolerance:

- :func:`holds` — a condition computed by the chapter (keyword arguments name the measured values);
- :func:`at_most`, :func:`at_least` — one value against a bound;
- :func:`close_to` — one value within an absolute tolerance of a target (deterministic float64 theory);
- :func:`within_factor` — two positive values within a factor of each other;
- :func:`decreasing`, :func:`increasing` — a sequence monotone up to a slack;
- :func:`median_at_most`, :func:`median_at_least` — the median over seeds or data draws against a bound;
- :func:`fraction_at_least`, :func:`fraction_at_most` — the share of values beyond a threshold;
- :func:`spread` — "median M (range A–B, k runs)", for the table cell that shows the spread.

Guarantees. When the claim holds, the helper prints exactly ``✓ <claim>`` and returns ``None`` (so a
claim call as a cell's last line adds no ``Out[]`` with a number): the line holds no measured number and
is identical on every machine, which is what nbval compares. When it does not hold, it raises
:class:`ClaimFailed` (an ``AssertionError``) whose message names the claim, the measured values and the
tolerance. A measured value that is NaN or infinite fails the claim; invalid arguments (an empty claim,
a non-finite bound, a negative tolerance, an empty list of values) raise ``ValueError`` or ``TypeError``.

Guide for chapter authors
-------------------------
1. **Find the statement.** Every sentence of the text that rests on a measurement ("the attack's loss is
   about that of the training set", "quality falls as the shift grows", "the best pairs are recognisable")
   becomes one claim, phrased as the text phrases it, *without* the measured number:
   ``claims.within_factor("the attack's KKT loss is within a factor 3 of the training set's", ...)``.
   Stated constants (the factor 3, a bound 0.5) may appear in the text; measured ones may not.
2. **Measure over seeds.** A claim about an attack rests on several seeds or data draws (the batched
   attack runs them at once). Print the table with :func:`spread` in a cell tagged
   ``nbval-ignore-output``; check the median (:func:`median_at_most`) or the share of runs
   (:func:`fraction_at_least`), never one run.
3. **Choose the tolerance from the spread.** Run the chapter's measurement over more seeds than it uses
   (say 10–20) and, if you can, under a second CPU code path (``ATEN_CPU_CAPABILITY=default``, see the
   README's contributor notes). Put the bound where the claim's meaning puts it (the training set's loss,
   SSIM of a recognisable image), then check that the chapter's median sits well inside it: at least
   about twice the seed-to-seed spread of that median away. If it does not, the claim is not robust at
   this scale: weaken it ("within a factor 10"), measure more seeds, or drop it from the text.
4. **Deterministic results** (float64 theory, lemma constructions to 1e-10, counts, shapes) need no
   claim cell: print them rounded and let nbval compare them as they are; :func:`close_to` states them
   as a check when the text quotes them.
5. **Tags.** The cell that prints chaotic figures: ``nbval-ignore-output``. The claim cell: ``claim``,
   never ``nbval-ignore-output`` (tests/test_notebooks.py checks it); its source calls ``claims.``.
   Put claim cells right after the measurement they check, a few lines each, and test once that each
   fails when its claim is made false (e.g. tighten the bound by a factor 10 in a scratch run).

Example (a claim cell)::

    claims.median_at_most("the attacks' median KKT loss is below 0.05", losses, 0.05)
    claims.fraction_at_most("half of the training points have a candidate within 0.1",
                            near.train_to_rec, 0.1, fraction=0.5)
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch

__all__ = ["ClaimFailed", "holds", "at_most", "at_least", "close_to", "within_factor", "decreasing",
           "increasing", "median_at_most", "median_at_least", "fraction_at_least", "fraction_at_most",
           "spread"]

CHECK_MARK = "✓"


class ClaimFailed(AssertionError):
    """A chapter's claim does not hold. ``claim`` is its text, ``measured`` a dict of the values checked."""

    def __init__(self, claim: str, detail: str, measured: dict):
        self.claim = claim
        self.measured = dict(measured)
        values = ", ".join(f"{key}={_fmt(value)}" for key, value in self.measured.items())
        super().__init__(f"claim failed: {claim!r}: {detail}" + (f" (measured: {values})" if values else ""))


# ----------------------------------------------------------------------------------------------
# Input validation and formatting
# ----------------------------------------------------------------------------------------------

def _fmt(value) -> str:
    if isinstance(value, np.ndarray):
        return "[" + ", ".join(_fmt(float(v)) for v in value.ravel()) + "]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def _claim_text(claim) -> str:
    if not isinstance(claim, str):
        raise TypeError(f"claim must be a string (the claim's text), got {type(claim).__name__}")
    text = claim.strip()
    if not text:
        raise ValueError("claim must be a non-empty text")
    if "\n" in text:
        raise ValueError(f"claim must be one line, got {claim!r}")
    return text


def _scalar(value, name: str) -> float:
    """A real number (Python, NumPy or a one-element tensor) as a float; NaN and ±inf are kept."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a single number, got a tensor of shape {tuple(value.shape)}")
        value = value.detach().cpu().item()
    elif isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"{name} must be a single number, got an array of shape {value.shape}")
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _constant(value, name: str, positive: bool = False, nonnegative: bool = False) -> float:
    """A bound or tolerance chosen by the chapter's author: finite, and positive/non-negative if asked."""
    value = _scalar(value, name)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return value


def _values(values, name: str, min_length: int = 1) -> np.ndarray:
    """A 1-D sequence of measured numbers (list, NumPy array or tensor) as a float64 array."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a sequence of numbers (list, array or tensor), got {type(values).__name__}")
    array = np.asarray(values)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if len(array) < min_length:
        raise ValueError(f"{name} must hold at least {min_length} value(s), got {len(array)}")
    return array.astype(np.float64)


def _measured(claim: str, **values) -> None:
    """Fail the claim when a measured value is NaN or infinite (a diverged run is no evidence)."""
    for key, value in values.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()   # np.isfinite of a tensor is a tensor, which np.all refuses
        if not np.all(np.isfinite(value)):
            raise ClaimFailed(claim, f"{key} is not finite", values)


def _passed(claim: str) -> None:
    print(f"{CHECK_MARK} {claim}")


# ----------------------------------------------------------------------------------------------
# Claims
# ----------------------------------------------------------------------------------------------

def holds(claim: str, condition: bool, **measured) -> None:
    """The claim holds when ``condition`` is true; ``measured`` names the values it was computed from.

    For a claim no other helper expresses, e.g.
    ``claims.holds("every merged pair keeps its pattern", all(same), pairs=len(same))``.
    ``condition`` must be a bool (a NumPy bool or a one-element bool tensor are accepted).

    ``claim`` states the claim in words (printed with its verdict and the measured values).
    """
    claim = _claim_text(claim)
    if isinstance(condition, torch.Tensor) and condition.dtype == torch.bool and condition.numel() == 1:
        condition = bool(condition.item())
    if not isinstance(condition, (bool, np.bool_)):
        raise TypeError(f"condition must be a bool, got {type(condition).__name__}")
    numbers = {key: value for key, value in measured.items() if isinstance(value, (Real, np.ndarray, torch.Tensor))
               and not isinstance(value, (bool, np.bool_)) and np.asarray(value).dtype.kind in "iuf"}
    _measured(claim, **numbers)
    if not condition:
        raise ClaimFailed(claim, "the condition is false", measured)
    _passed(claim)


def at_most(claim: str, value, bound) -> None:
    """The claim holds when the measured ``value`` ≤ ``bound``.

    ``claim`` states the claim in words (printed with its verdict and the measured values).
    """
    claim, value, bound = _claim_text(claim), _scalar(value, "value"), _constant(bound, "bound")
    _measured(claim, value=value)
    if not value <= bound:
        raise ClaimFailed(claim, f"value > bound {_fmt(bound)}", {"value": value})
    _passed(claim)


def at_least(claim: str, value, bound) -> None:
    """The claim holds when the measured ``value`` ≥ ``bound``.

    ``claim`` states the claim in words (printed with its verdict and the measured values).
    """
    claim, value, bound = _claim_text(claim), _scalar(value, "value"), _constant(bound, "bound")
    _measured(claim, value=value)
    if not value >= bound:
        raise ClaimFailed(claim, f"value < bound {_fmt(bound)}", {"value": value})
    _passed(claim)


def close_to(claim: str, value, target, *, tol) -> None:
    """The claim holds when ∣``value`` − ``target``∣ ≤ ``tol`` (an absolute tolerance, ≥ 0).

    For deterministic results stated with a tolerance (a fitted slope equal to the degree to 1e-6, a
    residual zero to 1e-10): ``claims.close_to("the fitted slope is the degree 2", slope, 2, tol=1e-6)``.

    ``claim`` states the claim in words (printed with its verdict and the measured values).
    """
    claim, value = _claim_text(claim), _scalar(value, "value")
    target, tol = _constant(target, "target"), _constant(tol, "tol", nonnegative=True)
    _measured(claim, value=value)
    if not abs(value - target) <= tol:
        raise ClaimFailed(claim, f"|value − {_fmt(target)}| > tol {_fmt(tol)}", {"value": value})
    _passed(claim)


def within_factor(claim: str, value, reference, factor) -> None:
    """The claim holds when the positive ``value`` and ``reference`` are within ``factor`` (≥ 1) of each other.

    That is reference / factor ≤ value ≤ reference · factor, e.g. "the far set's KKT loss is about the
    training set's (within a factor 3)". Both values are measured; a non-positive one fails the claim.

    ``claim`` states the claim in words (printed with its verdict and the measured values).
    """
    claim, value, reference = _claim_text(claim), _scalar(value, "value"), _scalar(reference, "reference")
    factor = _constant(factor, "factor")
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    measured = {"value": value, "reference": reference}
    _measured(claim, **measured)
    if value <= 0 or reference <= 0:
        raise ClaimFailed(claim, "within_factor needs two positive values", measured)
    if not (reference / factor <= value <= reference * factor):
        raise ClaimFailed(claim, f"ratio value/reference = {_fmt(value / reference)} is outside "
                                 f"[1/{_fmt(factor)}, {_fmt(factor)}]", measured)
    _passed(claim)


def _monotone(claim: str, values, atol, rtol, direction: int, word: str) -> None:
    claim, values = _claim_text(claim), _values(values, "values", min_length=2)
    atol, rtol = _constant(atol, "atol", nonnegative=True), _constant(rtol, "rtol", nonnegative=True)
    _measured(claim, values=values)
    previous, following = values[:-1], values[1:]
    slack = atol + rtol * np.abs(previous)
    broken = np.flatnonzero(direction * (following - previous) > slack)
    if broken.size:
        i = int(broken[0])
        raise ClaimFailed(claim, f"not {word}: values[{i + 1}] = {_fmt(float(following[i]))} after values[{i}] = "
                                 f"{_fmt(float(previous[i]))} (atol {_fmt(atol)}, rtol {_fmt(rtol)})",
                          {"values": values})
    _passed(claim)


def decreasing(claim: str, values, *, atol=0.0, rtol=0.0) -> None:
    """The claim holds when each value is at most the previous one plus a slack.

    ``values[i+1] ≤ values[i] + atol + rtol · ∣values[i]∣`` for every i (at least two values). With the
    default zero slack, equal neighbours are allowed (non-increasing). Use ``rtol`` for quantities spread over
    orders of magnitude (losses), ``atol`` for bounded ones (SSIM, distances).

    ``claim`` states the claim in words (printed with its verdict and the measured values). ``values`` is the
    measured sequence, in order.
    """
    _monotone(claim, values, atol, rtol, +1, "decreasing")


def increasing(claim: str, values, *, atol=0.0, rtol=0.0) -> None:
    """The claim holds when each value is at least the previous one minus a slack (see :func:`decreasing`).

    ``claim`` states the claim in words (printed with its verdict and the measured values). ``values`` is the
    measured sequence, in order; ``atol`` and ``rtol`` are the absolute and relative slack: ``values[i+1] ≥
    values[i] − atol − rtol · ∣values[i]∣``.
    """
    _monotone(claim, values, atol, rtol, -1, "increasing")


def median_at_most(claim: str, values, bound) -> None:
    """The claim holds when the median of ``values`` (one per seed or data draw) is ≤ ``bound``.

    ``claim`` states the claim in words (printed with its verdict and the measured values).
    """
    claim, values, bound = _claim_text(claim), _values(values, "values"), _constant(bound, "bound")
    _measured(claim, values=values)
    median = float(np.median(values))
    if not median <= bound:
        raise ClaimFailed(claim, f"median {_fmt(median)} > bound {_fmt(bound)}", {"values": values})
    _passed(claim)


def median_at_least(claim: str, values, bound) -> None:
    """The claim holds when the median of ``values`` (one per seed or data draw) is ≥ ``bound``.

    ``claim`` states the claim in words (printed with its verdict and the measured values).
    """
    claim, values, bound = _claim_text(claim), _values(values, "values"), _constant(bound, "bound")
    _measured(claim, values=values)
    median = float(np.median(values))
    if not median >= bound:
        raise ClaimFailed(claim, f"median {_fmt(median)} < bound {_fmt(bound)}", {"values": values})
    _passed(claim)


def _fraction(claim: str, values, threshold, fraction, sign: int, word: str) -> None:
    claim, values = _claim_text(claim), _values(values, "values")
    threshold, fraction = _constant(threshold, "threshold"), _constant(fraction, "fraction")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    _measured(claim, values=values)
    share = float(np.mean(sign * values >= sign * threshold))
    if not share >= fraction:
        raise ClaimFailed(claim, f"only {_fmt(share)} of the values are {word} {_fmt(threshold)}, "
                                 f"fewer than {_fmt(fraction)}", {"values": values})
    _passed(claim)


def fraction_at_least(claim: str, values, threshold, *, fraction) -> None:
    """The claim holds when at least ``fraction`` (in (0, 1]) of ``values`` are ≥ ``threshold``.

    E.g. "at least half of the seeds reconstruct some image with SSIM ≥ 0.5". ``fraction=1`` means all.

    ``claim`` states the claim in words (printed with its verdict and the measured values).
    """
    _fraction(claim, values, threshold, fraction, +1, "at least")


def fraction_at_most(claim: str, values, threshold, *, fraction) -> None:
    """The claim holds when at least ``fraction`` (in (0, 1]) of ``values`` are ≤ ``threshold``.

    E.g. "most training points have a candidate within 0.1": distances, ``threshold=0.1``, ``fraction=0.5``.

    ``claim`` states the claim in words (printed with its verdict and the measured values).
    """
    _fraction(claim, values, threshold, fraction, -1, "at most")


def spread(values, digits: int = 3) -> str:
    """"median M (range A–B, k runs)" of ``values``, rounded to ``digits`` significant digits.

    For the table cell (tagged ``nbval-ignore-output``) that shows a claim's evidence; a claim's ✓ line
    never holds these numbers.
    """
    values = _values(values, "values")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be a positive integer, got {digits!r}")
    if not np.isfinite(values).all():
        raise ValueError(f"values must be finite to be summarised (a diverged run is no evidence), got {values}")
    return (f"median {np.median(values):.{digits}g} (range {values.min():.{digits}g}–{values.max():.{digits}g}, "
            f"{len(values)} run{'s' if len(values) != 1 else ''})")
