"""Claim: the leakage claims of chapters 7 ("Shifted images") and 8 ("The secret-shift defense and open questions")
fail when the attack is replaced by a null that knows nothing of the training set.

Each chapter's leakage claim cells (claim cells marked ``# leakage claims``) are run as the chapter states them
(their own source), on the chapter's three data draws, with the attack's per-offset, per-attacker leak rates and
mixture gains replaced by those of (a) samples of the attacker's prior (uniform pixels in [0, 1]; the informed
prior's samples are the same images moved by s, which the rescaled score cannot tell apart) and (b) real digits
the network never saw, scored against the other held-out digits (scored against themselves they could never win,
which would make the test pass for the wrong reason). Every ``claims.`` call of those cells must fail on its own:
the cell is run statement by statement. A last test feeds the same cells values that meet them, so that the
harness can pass.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reconleak_core import calibration, claims, data, experiments, pooling
from reconleak_core.experiments.secret_shift import mixture_gain

BOOK = Path(__file__).resolve().parents[1] / "book"
MARKER = "# leakage claims"
DRAWS = (0, 1, 2)                                    # the chapters' data draws
SHAPE = data.DIGITS_IMAGE_SHAPE


def _leakage_cells(chapter: str) -> list[str]:
    cells = json.loads((BOOK / chapter).read_text())["cells"]
    found = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"
             and "claim" in c.get("metadata", {}).get("tags", []) and MARKER in "".join(c["source"])]
    assert found, f"{chapter} has claim cells marked {MARKER!r}"
    return found


def _run_each_claim(cell: str, namespace: dict) -> int:
    """Run ``cell`` statement by statement; every top-level ``claims.…(...)`` call must raise ClaimFailed."""
    calls = 0
    for node in ast.parse(cell).body:
        code = compile(ast.Module([node], type_ignores=[]), "<claim cell>", "exec")
        is_claim = (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Attribute)
                    and getattr(node.value.func.value, "id", None) == "claims")
        if not is_claim:
            exec(code, namespace)
            continue
        calls += 1
        with pytest.raises(claims.ClaimFailed):
            exec(code, namespace)
    return calls


def _run_all(cell: str, namespace: dict) -> None:
    exec(compile(cell, "<claim cell>", "exec"), namespace)


def _draw(seed: int, n: int, M: int, cells: int, null: str) -> dict:
    """One data draw: ``cells`` null leak rates and mixture gains (null candidate sets of M points, rule (i)
    as the experiments score it), and the chapter's chance levels (held-out digits, 95th percentiles)."""
    images = data.digits(n, seed=seed)
    held = data.digits_held_out(n, seed=seed).X
    scoring = calibration.Scoring("ssim", image_shape=SHAPE, mean=images.mean, rescale=True)
    box = data.pixel_box(0.0, 1.0, images.mean)
    dummy = calibration.null_candidates(held, (M, held.shape[1]), seed=seed)
    chance = calibration.beats_held_out(images.X, dummy, held, scoring=scoring, chance_draws=max(20, cells),
                                        seed=seed)
    swapped = chance if null == "held_out" else calibration.beats_held_out(
        images.X, dummy, held, scoring=scoring, null=box, chance_draws=cells, seed=seed)
    generator = torch.Generator().manual_seed(seed)

    def gain(candidates):
        pooled = pooling.pool_scores(images.X, candidates, mean=images.mean, image_shape=SHAPE, rescale=True)
        return mixture_gain(pooled.X, pooled.candidates[pooled.best.unique()]).median().item()

    def null_set(k):
        if null == "prior":
            return calibration.null_candidates(box, (M, held.shape[1]), seed=1000 * seed + k)
        return held[torch.randperm(held.shape[0], generator=generator)[:M]]

    mix_chance = [gain(held[torch.randperm(held.shape[0], generator=generator)[:M]]) for _ in range(20)]
    return {"rates": swapped.chance[:cells].numpy(), "mix": np.array([gain(null_set(k)) for k in range(cells)]),
            "chance_95": chance.chance.quantile(0.95).item(), "mix_95": float(np.quantile(mix_chance, 0.95)),
            "prior_95": 0.0}


def _chapter_7_namespace(null: str) -> dict:
    config = experiments.SecretShiftConfig.preset("book", seed=0)
    O, n = len(config.offsets), config.net.n
    draws = [_draw(d, n, config.restarts * n, 2 * O, null) for d in DRAWS]
    stack = lambda k: np.stack([d[k] for d in draws])  # noqa: E731
    return {"claims": claims, "np": np, "offsets": [float(o) for o in config.offsets],
            "rates": stack("rates").reshape(len(DRAWS), O, 2), "mix": stack("mix").reshape(len(DRAWS), O, 2),
            "chance_95": stack("chance_95"), "mix_95": stack("mix_95"), "prior_95": stack("prior_95")}


@pytest.mark.parametrize("null", ["prior", "held_out"])
def test_chapter_7_leakage_claims_fail_with_null_candidates(null):
    namespace = _chapter_7_namespace(null)
    calls = sum(_run_each_claim(cell, dict(namespace)) for cell in _leakage_cells("07_shifted_images.ipynb"))
    assert calls >= 2


def test_chapter_7_swap_harness_can_pass():
    """The same cells with values that meet them (an informed attacker that recovers everything, an uninformed
    one that returns averages) run through: the failures above come from the null, not from the harness."""
    namespace = _chapter_7_namespace("held_out")
    O = len(namespace["offsets"])
    rates = np.zeros((len(DRAWS), O, 2))
    rates[:, :, 1] = 1.0
    rates[:, 0, :] = 1.0
    namespace.update(rates=rates, mix=np.ones((len(DRAWS), O, 2)))
    for cell in _leakage_cells("07_shifted_images.ipynb"):
        _run_all(cell, namespace)


def _chapter_8_namespace(null: str) -> dict:
    """Chapter 8's deep-network section: one restart of m = n candidates per box, offsets 0 and 1, two depths."""
    O, n = 2, 20
    draws = [_draw(d, n, n, 2 * O * 2, null) for d in DRAWS]
    mix = np.stack([d["mix"] for d in draws]).reshape(len(DRAWS), 2, O, 2)
    return {"claims": claims, "np": np, "mix": {"two-layer": mix[:, 0], "3-layer": mix[:, 1]},
            "mix_95": np.array([d["mix_95"] for d in draws])}


@pytest.mark.parametrize("null", ["prior", "held_out"])
def test_chapter_8_leakage_claims_fail_with_null_candidates(null):
    namespace = _chapter_8_namespace(null)
    calls = sum(_run_each_claim(cell, dict(namespace)) for cell in _leakage_cells("08_open_questions.ipynb"))
    assert calls >= 1


def test_chapter_8_swap_harness_can_pass():
    namespace = _chapter_8_namespace("held_out")
    namespace["mix"] = {k: np.ones_like(v) for k, v in namespace["mix"].items()}
    for cell in _leakage_cells("08_open_questions.ipynb"):
        _run_all(cell, namespace)
