"""Claim: chapter 6's leakage claims fail when the attack is replaced by a null that knows nothing of the training
set. The chapter's claim cells (their own source) are run on its three spanning data draws with the attack's
pooled candidates at every radius replaced by (a) samples of the attacker's prior, uniform points of the sphere of
his init radius, and (b) fresh points of the data's sphere the network never saw (disjoint from the pool the
verdicts' null draws come from, so that a swapped candidate never meets itself), scored exactly as
``experiments.init_radius`` scores the attack (``init_radius.verdicts``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reconleak_core import calibration, claims, data
from reconleak_core.experiments import InitRadiusConfig
from reconleak_core.experiments.init_radius import HELD_OUT, verdicts
from reconleak_core.priors import Sphere

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "06_init_radius.ipynb"
DRAWS = (0, 1, 2)
LEAKAGE = ("leak beyond fresh", "by direction (1 − cos)")   # the chapter's leakage claims


def _claim_cells() -> list[str]:
    cells = json.loads(CHAPTER.read_text())["cells"]
    found = [("".join(c["source"])) for c in cells
             if c["cell_type"] == "code" and "claim" in c.get("metadata", {}).get("tags", [])
             and any(text in "".join(c["source"]) for text in LEAKAGE)]
    assert len(found) == len(LEAKAGE), "chapter 6 has one claim cell per leakage claim"
    return found


def _swapped(null: str) -> dict:
    """The chapter's arrays ``leak``, ``dirn`` (draws, radii) and ``chance`` (draws, radii, 3) with null candidates."""
    leak, dirn, chance = [], [], []
    for draw in DRAWS:
        config = InitRadiusConfig.preset("book", seed=draw)
        n, d = config.net.n, config.net.d
        shape = (config.seeds, config.candidates_per_point * n, d)
        X = data.sphere(n, d, seed=draw)[0]
        fresh = data.sphere_held_out(HELD_OUT + shape[0] * shape[1], n, d, seed=draw)[0]
        pool, spare = fresh[:HELD_OUT], fresh[HELD_OUT:]
        per_radius = []
        for k, r in enumerate(config.radii):
            source = Sphere(r) if null == "prior" else spare
            candidates = calibration.null_candidates(source, shape, seed=100 * draw + k)
            per_radius.append(verdicts(X, candidates, pool, r, config.seed))
        leaked = torch.stack([score < threshold for score, threshold, _ in per_radius]).double().mean(-1).numpy()
        leak.append(leaked[:, 0])                                                            # (radii, 3) above
        dirn.append(leaked[:, 2])
        chance.append(torch.stack([v[2] for v in per_radius]).quantile(0.95, -1).numpy())
    radii = np.array(InitRadiusConfig.preset("book").radii)
    return {"claims": claims, "np": np, "radii": radii, "k1": list(radii).index(1.0),
            "leak": {"spanning": np.array(leak)}, "dirn": {"spanning": np.array(dirn)},
            "chance": {"spanning": np.array(chance)}}


@pytest.fixture(scope="module", params=["prior", "held_out"])
def swapped(request):
    return _swapped(request.param)


@pytest.mark.parametrize("cell", range(len(LEAKAGE)))
def test_chapter_6_leakage_claims_fail_with_null_candidates(swapped, cell):
    with pytest.raises(claims.ClaimFailed):
        exec(_claim_cells()[cell], dict(swapped))


def test_the_swap_would_pass_claims_the_null_meets(swapped):
    """The harness can pass: the same cells with their bounds lowered to what a null reaches run through."""
    lowered = [c.replace("rates, 0.3)", "rates, 0.0)").replace("by_dir, 0.3)", "by_dir, 0.0)")
               .replace("np.all(rates > chance_95)", "np.all(rates >= 0)") for c in _claim_cells()]
    for cell in lowered:
        namespace = dict(swapped)
        exec(cell, namespace)
    assert namespace["by_dir"].shape == (len(DRAWS),)
