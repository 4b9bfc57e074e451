"""reconleak_core.claims: each helper prints one stable line when its claim holds and raises ClaimFailed,
naming the claim and the measured values, when the claim is made false."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reconleak_core import claims
from reconleak_core.claims import ClaimFailed

CLAIM = "the attack's loss is about the training set's"


def _passes(capsys, call, *args, **kwargs):
    assert call(CLAIM, *args, **kwargs) is None, "a claim returns None, so a cell's last line shows no Out[]"
    assert capsys.readouterr().out == f"✓ {CLAIM}\n"


def _fails(capsys, call, *args, **kwargs) -> ClaimFailed:
    with pytest.raises(ClaimFailed) as info:
        call(CLAIM, *args, **kwargs)
    assert capsys.readouterr().out == "", "a failed claim prints no ✓ line"
    assert CLAIM in str(info.value) and info.value.claim == CLAIM
    return info.value


# (helper, arguments that make the claim true, arguments that make it false, a measured value in the message)
CASES = [
    (claims.holds, (True,), (False,), {}, None),
    (claims.at_most, (0.5, 1.0), (1.5, 1.0), {}, "1.5"),
    (claims.at_least, (1.5, 1.0), (0.5, 1.0), {}, "0.5"),
    (claims.close_to, (2.0000001, 2), (2.01, 2), {"tol": 1e-6}, "2.01"),
    (claims.within_factor, (0.4, 0.2, 3), (0.7, 0.2, 3), {}, "0.7"),
    (claims.decreasing, ([3.0, 2.0, 2.0, 1.0],), ([3.0, 2.0, 2.5, 1.0],), {}, "2.5"),
    (claims.increasing, ([0.1, 0.2, 0.2, 0.9],), ([0.1, 0.3, 0.2, 0.9],), {}, "0.3"),
    (claims.median_at_most, ([0.1, 0.2, 5.0], 0.3), ([0.1, 0.4, 5.0], 0.3), {}, "0.4"),
    (claims.median_at_least, ([0.6, 0.7, 0.0], 0.5), ([0.6, 0.4, 0.0], 0.5), {}, "0.4"),
    (claims.fraction_at_least, ([0.9, 0.8, 0.1], 0.5), ([0.9, 0.2, 0.1], 0.5), {"fraction": 0.6}, "0.333333"),
    (claims.fraction_at_most, ([0.05, 0.08, 0.9], 0.1), ([0.05, 0.2, 0.9], 0.1), {"fraction": 0.6}, "0.333333"),
]
IDS = [case[0].__name__ for case in CASES]


@pytest.mark.parametrize("helper, true_args, false_args, kwargs, shown", CASES, ids=IDS)
def test_claim_prints_one_stable_line_when_it_holds(capsys, helper, true_args, false_args, kwargs, shown):
    _passes(capsys, helper, *true_args, **kwargs)


@pytest.mark.parametrize("helper, true_args, false_args, kwargs, shown", CASES, ids=IDS)
def test_claim_made_false_raises_claim_failed_naming_the_measured_values(capsys, helper, true_args, false_args,
                                                                          kwargs, shown):
    error = _fails(capsys, helper, *false_args, **kwargs)
    assert isinstance(error, AssertionError), "pytest and nbval report a ClaimFailed as a failed assertion"
    if shown is not None:
        assert shown in str(error), str(error)


@pytest.mark.parametrize("helper, true_args, false_args, kwargs, shown", CASES[1:], ids=IDS[1:])
def test_a_nan_measurement_fails_the_claim(capsys, helper, true_args, false_args, kwargs, shown):
    measured = true_args[0]
    nan_args = ([*measured[:-1], math.nan] if isinstance(measured, list) else math.nan,) + true_args[1:]
    error = _fails(capsys, helper, *nan_args, **kwargs)
    assert "not finite" in str(error)


def test_the_passing_line_holds_no_measured_number(capsys):
    claims.at_most("the KKT loss is below 0.05", 0.012345, 0.05)
    out = capsys.readouterr().out
    assert out == "✓ the KKT loss is below 0.05\n" and "0.012" not in out


def test_tensors_and_numpy_values_are_accepted(capsys):
    claims.at_most("a tensor loss below one", torch.tensor(0.5, dtype=torch.float64), 1)
    claims.median_at_most("tensor medians", torch.tensor([0.1, 0.2, 0.3]), np.float64(0.25))
    claims.holds("a tensor condition", torch.tensor(True))
    claims.holds("a numpy condition", np.bool_(True))
    assert capsys.readouterr().out.count("✓") == 4


def test_within_factor_is_symmetric_and_inclusive(capsys):
    claims.within_factor(CLAIM, 0.2, 0.6, 3)
    claims.within_factor(CLAIM, 0.6, 0.2, 3)
    assert capsys.readouterr().out.count("✓") == 2
    _fails(capsys, claims.within_factor, 0.19, 0.6, 3)
    _fails(capsys, claims.within_factor, -0.5, 0.6, 3)


def test_monotone_slack_is_absolute_plus_relative(capsys):
    claims.decreasing(CLAIM, [1.0, 1.05, 0.5], rtol=0.1)
    claims.decreasing(CLAIM, [1.0, 1.05, 0.5], atol=0.06)
    assert capsys.readouterr().out.count("✓") == 2
    _fails(capsys, claims.decreasing, [1.0, 1.05, 0.5], rtol=0.01)
    error = _fails(capsys, claims.increasing, [0.5, 0.2], atol=0.1)
    assert "values[1]" in str(error)


def test_holds_names_the_measured_values_in_its_message(capsys):
    error = _fails(capsys, claims.holds, False, pairs=3, loss=0.25)
    assert error.measured == {"pairs": 3, "loss": 0.25}
    assert "pairs=3" in str(error) and "loss=0.25" in str(error)


@pytest.mark.parametrize("call, problem", [
    (lambda: claims.at_most("", 1, 2), ValueError),
    (lambda: claims.at_most("two\nlines", 1, 2), ValueError),
    (lambda: claims.at_most(3, 1, 2), TypeError),
    (lambda: claims.at_most(CLAIM, "0.5", 2), TypeError),
    (lambda: claims.at_most(CLAIM, True, 2), TypeError),
    (lambda: claims.at_most(CLAIM, torch.ones(2), 2), ValueError),
    (lambda: claims.at_most(CLAIM, 1, math.inf), ValueError),
    (lambda: claims.at_least(CLAIM, 1, math.nan), ValueError),
    (lambda: claims.close_to(CLAIM, 1, 1, tol=-1e-3), ValueError),
    (lambda: claims.within_factor(CLAIM, 1, 1, 0.5), ValueError),
    (lambda: claims.decreasing(CLAIM, [1.0]), ValueError),
    (lambda: claims.decreasing(CLAIM, [[1.0, 2.0]]), ValueError),
    (lambda: claims.decreasing(CLAIM, [1.0, 0.5], rtol=-0.1), ValueError),
    (lambda: claims.median_at_most(CLAIM, [], 1), ValueError),
    (lambda: claims.median_at_most(CLAIM, 0.5, 1), TypeError),
    (lambda: claims.median_at_most(CLAIM, [True, False], 1), TypeError),
    (lambda: claims.fraction_at_least(CLAIM, [1.0], 0.5, fraction=0), ValueError),
    (lambda: claims.fraction_at_least(CLAIM, [1.0], 0.5, fraction=1.5), ValueError),
    (lambda: claims.holds(CLAIM, 1), TypeError),
    (lambda: claims.spread([1.0], digits=0), ValueError),
])
def test_invalid_arguments_are_refused_with_a_clear_error(call, problem):
    with pytest.raises(problem):
        call()


def test_spread_shows_median_range_and_count():
    assert claims.spread([0.3, 0.1, 0.2]) == "median 0.2 (range 0.1–0.3, 3 runs)"
    assert claims.spread(torch.tensor([1.23456])) == "median 1.23 (range 1.23–1.23, 1 run)"


def test_holds_takes_measured_tensors_and_refuses_non_finite_ones(capsys):
    """Chapters pass result tensors as measured values: a finite one is printed with the verdict, a NaN one fails."""
    claims.holds("eps falls", True, eps=torch.tensor([0.3, 0.1], dtype=torch.float64))
    assert "eps falls" in capsys.readouterr().out
    with pytest.raises(claims.ClaimFailed, match="not finite"):
        claims.holds("eps falls", True, eps=torch.tensor([0.3, float("nan")]))
