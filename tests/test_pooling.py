"""Tests of reconleak_core.pooling: K restarts pooled, each training point scored against its best candidate.

The scoring is checked on hand-made candidates (exact answers); the attack path on a tiny trained network.
The held-out leakage check runs the book-scale attack on a committed checkpoint (about a minute on 2 cores).
"""

from __future__ import annotations

import pytest
import torch

from reconleak_core import attack, data, kkt, pooling
from reconleak_core.models import TwoLayerReLU
from reconleak_core.train import train_max_margin


def test_each_training_point_is_scored_against_its_best_candidate_over_all_restarts():
    images = data.digits(n=6, seed=3)
    X = images.X
    noise = 0.3 * torch.randn(6, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # restart 0 holds noisy copies of points 0..2, restart 1 exact copies of points 3..5 (then noise)
    C = torch.stack([torch.cat([X[:3] + noise[:3], noise[3:]]), torch.cat([noise[:3], X[3:]])])
    res = pooling.pool_scores(X, C, mean=images.mean, image_shape=images.image_shape)
    assert res.candidates.shape == (12, 64) and torch.equal(res.restart, torch.tensor([0] * 6 + [1] * 6))
    assert torch.equal(res.best[3:], torch.tensor([9, 10, 11]))
    assert torch.allclose(res.score[3:], torch.ones(3, dtype=torch.float64))
    assert torch.allclose(res.X, images.pixels) and torch.allclose(res.best_candidates[3:], images.pixels[3:])
    assert res.fraction == pytest.approx(res.recovered.double().mean().item())
    assert res.median == pytest.approx(torch.quantile(res.score, 0.5).item())
    assert res.summary()["restarts"] == 2


@pytest.mark.parametrize("kwargs", [{"metric": "ssim", "image_shape": (1, 8, 8)},
                                    {"metric": "ssim", "image_shape": (1, 8, 8), "rescale": True},
                                    {"metric": "l2"}, {"metric": "cosine"}])
def test_score_matrix_rows_reduce_to_the_pooled_best_scores(kwargs):
    images = data.digits(n=6, seed=2)
    C = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.3
    S = pooling.score_matrix(images.X, C, mean=images.mean, **kwargs)
    res = pooling.pool_scores(images.X, C, mean=images.mean, threshold=0.5, **kwargs)
    values, index = S.max(dim=1) if kwargs["metric"] == "ssim" else S.min(dim=1)
    assert S.shape == (6, 10) and torch.equal(values, res.score) and torch.equal(index, res.best)


def test_shared_counts_training_points_whose_best_candidate_is_another_points_too():
    X = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=torch.float64)
    C = torch.tensor([[1.0, 0.05], [0.0, 1.0]], dtype=torch.float64)
    res = pooling.pool_scores(X, C, metric="l2", threshold=0.2)
    assert res.best.tolist() == [0, 0, 1] and res.shared == 2
    assert res.recovered.tolist() == [True, True, True]


def test_direction_only_distance_is_blind_to_the_scale_of_the_candidates():
    X = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], dtype=torch.float64)
    res = pooling.pool_scores(X, 5 * X, metric="cosine", threshold=1e-9)
    assert torch.allclose(res.score, torch.zeros(2, dtype=torch.float64), atol=1e-12) and res.fraction == 1
    assert pooling.pool_scores(X, 5 * X, metric="l2", threshold=1.0).fraction == 0


def test_rescaled_scores_ignore_a_constant_shift_of_the_candidates():
    images = data.digits(n=4, seed=1)
    res = pooling.pool_scores(images.X, images.X + 0.7, mean=images.mean, image_shape=(1, 8, 8), rescale=True)
    assert torch.allclose(res.score, torch.ones(4, dtype=torch.float64))
    assert pooling.pool_scores(images.X, images.X + 0.7, mean=images.mean, image_shape=(1, 8, 8)).median < 0.9


@pytest.mark.parametrize("kwargs, match", [
    ({"metric": "ncc"}, "metric"),
    ({"metric": "ssim"}, "image_shape"),
    ({"metric": "ssim", "image_shape": (1, 4, 4)}, "pixels"),
    ({"metric": "l2"}, "threshold"),
    ({"metric": "l2", "threshold": 1.0, "rescale": True}, "rescale"),
    ({"metric": "l2", "threshold": 1.0, "mean": torch.zeros(3)}, "mean"),
])
def test_pool_scores_rejects_bad_settings(kwargs, match):
    X = torch.zeros(2, 64, dtype=torch.float64)
    with pytest.raises(ValueError, match=match):
        pooling.pool_scores(X, torch.ones(3, 64, dtype=torch.float64), **kwargs)


def test_pool_scores_rejects_candidates_of_the_wrong_shape_or_not_finite():
    X = torch.zeros(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="shape"):
        pooling.pool_scores(X, torch.ones(3, 5), metric="l2", threshold=1.0)
    with pytest.raises(ValueError, match="NaN"):
        pooling.pool_scores(X, torch.full((3, 4), float("nan")), metric="l2", threshold=1.0)


def test_pooled_attack_runs_the_restarts_as_one_batched_attack(monkeypatch):
    import reconleak_core.attack as attack

    images = data.digits(n=6, seed=0)
    net = TwoLayerReLU(64, 50, init_scale=0.1, seed=0)
    train_max_margin(net, images.X, images.y, steps=300, progress=False)
    calls = []
    original = attack.reconstruct_batch
    monkeypatch.setattr(attack, "reconstruct_batch", lambda *a, **k: calls.append(k["seeds"]) or original(*a, **k))
    res = pooling.pooled_attack(net, images.X, images.y, restarts=3, prior=data.pixel_box(0, 1, images.mean),
                                mean=images.mean, image_shape=images.image_shape,
                                config=attack.AttackConfig(steps=30), seed=5)
    assert calls == [[5, 6, 7]]
    assert res.candidates.shape == (3 * 6, 64) and res.kkt.shape == (3,) and res.score.shape == (6,)
    assert torch.isfinite(res.score).all() and 0 <= res.fraction <= 1
    with pytest.raises(ValueError, match="restarts"):
        pooling.pooled_attack(net, images.X, images.y, restarts=0, image_shape=(1, 8, 8))


def test_onto_margin_puts_the_pooled_candidates_on_the_margin_and_in_the_box():
    """``onto_margin=True`` is the same attack (same seeds, same iterates), each candidate then scaled onto the
    margin of the normalised network and projected onto the prior: inside the pixel box, and the candidates
    that needed no clipping sit exactly on the margin."""
    from reconleak_core.kkt import margins, normalize_margin

    images = data.digits(n=6, seed=0)
    net = TwoLayerReLU(64, 50, init_scale=0.1, seed=0)
    train_max_margin(net, images.X, images.y, steps=300, progress=False)
    box = data.pixel_box(0, 1, images.mean)
    common = dict(restarts=2, prior=box, mean=images.mean, image_shape=images.image_shape,
                  config=attack.AttackConfig(steps=30), seed=3, device="cpu")
    plain = pooling.pooled_attack(net, images.X, images.y, **common)
    on = pooling.pooled_attack(net, images.X, images.y, onto_margin=True, **common)
    assert torch.equal(plain.kkt, on.kkt)
    pixels = on.candidates
    assert (pixels >= -1e-12).all() and (pixels <= 1 + 1e-12).all()
    labels = torch.tensor([1.0, -1.0] * 3, dtype=torch.float64)  # the attack's balanced labels
    hat = normalize_margin(net, images.X, images.y)
    scaled, _, moved = kkt.onto_margin(hat, (plain.candidates - images.mean).reshape(2, 6, 64), labels)
    q = margins(hat, scaled.reshape(-1, 64), labels.repeat(2))
    assert moved.all() and torch.allclose(q, torch.ones_like(q), atol=1e-9)
    expected = box.project(scaled).reshape(-1, 64) + images.mean
    assert torch.allclose(pixels, expected, atol=1e-12)
    assert not torch.allclose(plain.candidates, on.candidates)
    with pytest.raises(TypeError, match="onto_margin"):
        pooling.pooled_attack(net, images.X, images.y, onto_margin="yes", image_shape=(1, 8, 8))


HELD_OUT_DIGITS_SEED = 7
"""A draw of 20 digits that no chapter and no preset uses (the presets draw seed 0; the book's spread uses 0–2)."""


def test_held_out_digits_leak_with_the_library_defaults(tmp_path):
    """The issue's "done when": a held-out draw gives a pooled median SSIM ≥ 0.65 with the library's defaults
    (``experiments.DigitLeakConfig.preset("book", seed=HELD_OUT_DIGITS_SEED)``: 8 restarts × 3000 steps on a
    width-1000 net). Its network is a committed checkpoint (``trained_nets.CHECKPOINTS``, made by
    ``python -m reconleak_core checkpoints digit_leak --seeds 7``), so this runs the attack only, not the
    training; the attack is chaotic, so the bound is the issue's, well below what was measured."""
    from reconleak_core import experiments, trained_nets
    from reconleak_core.cache import cache_path

    config = experiments.DigitLeakConfig.preset("book", seed=HELD_OUT_DIGITS_SEED)
    key = {"spec": config.net, "version": trained_nets.NETWORK_VERSION}
    assert cache_path(key, trained_nets.CHECKPOINTS, "trained_net").is_file(), "the held-out net is not committed"
    result = experiments.digit_leak(config, device="cpu", cache_root=tmp_path)
    assert result.median >= 0.65, result.to_json()
    # calibrated: measured 55 % of the 20 digits beyond every held-out digit (seeds 10–13: 45–70 %), chance
    # 10 %; without the step back onto the margin 20–40 %: the bound fails without it on most draws
    assert result.rate >= 0.4 and result.rate > result.chance.quantile(0.95).item(), result.to_json()
    assert result.control <= result.chance.quantile(0.95).item(), result.to_json()
