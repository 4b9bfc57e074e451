"""Claims of the secret-shift experiments' calibration (chapter "Shifted images"): the mixture gain measures averages,
the shifted networks' training recipe, and the nulls drawn once per data draw, which hold for every offset because
the rescaled score is blind to a constant shift."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reconleak_core import calibration, data, experiments
from reconleak_core.experiments.secret_shift import CURVATURE_LR, CURVATURE_STEPS, mixture_gain, shifted_spec


def test_mixture_gain_is_one_for_an_average_of_training_images_and_small_for_a_noisy_copy():
    images = torch.eye(5, dtype=torch.float64)
    average = 0.5 * images[0] + 0.5 * images[1]           # Lemma 2's merge of two points, equal multipliers
    noisy = images[0] + 0.1 * images[2]                   # one training image, slightly off
    gain = mixture_gain(images, torch.stack([average, noisy]))
    assert gain[0] == pytest.approx(1.0, abs=1e-6)
    assert 0.0 <= gain[1] < 0.5
    assert torch.all(mixture_gain(images, torch.rand(7, 5, dtype=torch.float64)) >= 0)


def test_mixture_gain_refuses_a_candidate_equal_to_a_training_image_and_a_bad_k():
    images = torch.eye(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="equals a training image"):
        mixture_gain(images, images[:1])
    with pytest.raises(ValueError, match="k"):
        mixture_gain(images, torch.full((1, 4), 0.3, dtype=torch.float64), k=1)
    with pytest.raises(ValueError):
        mixture_gain(images, torch.ones(1, 3, dtype=torch.float64))


def test_curvature_recipe_scales_the_step_to_the_shifted_datas_squared_norm_and_trains_longer():
    net = experiments.SecretShiftConfig.preset("book", seed=1).net
    assert shifted_spec(net, 0.0, "curvature") == net.shifted(0.0)
    assert shifted_spec(net, 1.0, "step") == net.shifted(1.0)
    spec = shifted_spec(net, 1.0, "curvature")
    r0 = data.digits(net.n, seed=1).X.pow(2).sum(dim=1).mean().item()
    assert spec.offset == 1.0
    assert spec.train.lr == pytest.approx(net.train.lr * CURVATURE_LR * r0 / (r0 + 64))
    assert spec.train.steps == CURVATURE_STEPS * net.train.steps
    with pytest.raises(ValueError, match="recipe"):
        shifted_spec(net, 1.0, "adam")
    with pytest.raises(ValueError, match="recipe"):
        dataclasses.replace(experiments.SecretShiftConfig.preset("test"), recipe="adam")


def test_rescaled_scores_of_shifted_held_out_digits_equal_the_unshifted_ones():
    """Why one null per data draw holds for every offset: training images and held-out digits moved by s (the
    attacked set's coordinates) score exactly as unshifted ones under the rescaled SSIM."""
    images, held = data.digits(20, seed=0), data.digits_held_out(20, seed=0)
    scoring = calibration.Scoring("ssim", image_shape=data.DIGITS_IMAGE_SHAPE, mean=images.mean, rescale=True)
    plain = scoring.matrix(images.X, held.X[:50])
    for s in (0.5, 2.0):
        moved = scoring.matrix(images.shifted(s).X, held.shifted(s).X[:50])
        torch.testing.assert_close(moved, plain, atol=1e-10, rtol=0)


def test_secret_shift_reports_calibrated_rates_beside_their_nulls(tmp_path):
    config = experiments.SecretShiftConfig.preset("test")
    result = experiments.secret_shift(config, device="cpu", cache_root=tmp_path)
    O, n = len(config.offsets), config.net.n
    assert result.rate.shape == result.mix.shape == (O, 2)
    assert result.score.shape == (O, 2, n) and result.threshold.shape == (n,)
    assert result.chance.shape == result.prior_chance.shape == result.mix_chance.shape == (config.chance_draws,)
    leaked = (result.score > result.threshold).double().mean(dim=-1)
    torch.testing.assert_close(leaked, result.rate)
    for values in (result.rate, result.mix, result.chance, result.prior_chance, result.mix_chance):
        assert torch.all((values >= 0) & (values <= 1))
    # s = 0: the informed attacker is the uninformed one (g = s = 0), attacked once
    assert torch.equal(result.score[0, 0], result.score[0, 1])
    row = result.rows()[0]
    assert {"leaked_uninformed", "leaked_informed", "chance", "mix_uninformed", "mix_chance"} <= set(row)
    assert {"rate", "chance", "threshold", "mix_chance"} <= set(result.to_json())
