"""experiments.training_leak (the calibrated digit leak along one training run) and init_radius's sphere prior."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from reconleak_core import calibration, data, experiments, trained_nets


@pytest.fixture(scope="module")
def leak(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cache")
    return experiments.training_leak(scale="test", device="cpu", cache_root=root), root


def test_training_leak_has_one_entry_per_checkpoint_of_one_run(leak):
    result, _ = leak
    config = experiments.TrainingLeakConfig.preset("test")
    C, n, R = len(config.net.checkpoints) + 1, config.net.n, config.restarts
    assert result.steps.tolist() == [*config.net.checkpoints, config.net.steps]
    assert result.eps_rel.shape == result.rate.shape == result.split_distance.shape == (C,)
    assert result.kkt.shape == (C, R)
    assert result.ssim.shape == result.leaked.shape == (C, n) and result.best.shape == (C, n, 64)
    assert result.images.shape == (n, 64) and result.threshold.shape == (n,)
    assert torch.all((result.rate >= 0) & (result.rate <= 1)) and torch.all(result.split_distance > 0)
    # rule (i): a digit leaked when its best candidate beats the best of every held-out digit
    np.testing.assert_array_equal(result.leaked, result.ssim > result.threshold)
    np.testing.assert_allclose(result.rate, result.leaked.double().mean(1))
    assert result.chance.shape == result.prior_chance.shape == (20,)


def test_training_leak_scores_the_attack_against_the_held_out_digits(leak):
    result, _ = leak
    spec = result.config.net
    held = data.digits_held_out(spec.n, spec.classes, spec.seed).pixels
    assert result.held_out == held.shape[0] == 1797 - spec.n
    scoring = calibration.Scoring("ssim", image_shape=data.DIGITS_IMAGE_SHAPE)
    np.testing.assert_allclose(result.threshold, scoring.best(result.images, held))
    np.testing.assert_allclose(result.ssim, torch.stack([scoring.best(result.images, b) for b in result.best]))
    np.testing.assert_allclose(result.images, data.digits(spec.n, spec.classes, spec.seed).pixels)


def test_training_leak_is_cached_by_its_configuration(leak):
    first, root = leak
    again = experiments.training_leak(scale="test", device="cpu", cache_root=root)
    np.testing.assert_array_equal(first.best, again.best)
    out = again.to_json()
    assert out["experiment"] == "training_leak" and len(again.rows()) == len(first.steps)
    assert len(out["images"]) == first.config.net.n and len(out["best"]) == len(first.steps)


def test_training_leak_figure_takes_several_runs(leak):
    result, _ = leak
    fig = experiments.plot_training_leak([result, result], labels=["a", "b"])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="labels"):
        experiments.plot_training_leak([result], labels=["a", "b"])
    with pytest.raises(TypeError, match="TrainingLeakResult"):
        experiments.plot_training_leak([])


def test_training_leak_config_refuses_bad_input():
    with pytest.raises(TypeError, match="digits"):
        experiments.TrainingLeakConfig(trained_nets.NetSpec())
    with pytest.raises(ValueError, match="box"):
        experiments.TrainingLeakConfig(box=(1.0, 0.0))
    with pytest.raises(ValueError, match="refine_steps"):
        experiments.TrainingLeakConfig(refine_steps=-1)
    with pytest.raises(TypeError, match="TrainingLeakConfig"):
        experiments.training_leak(object())


def test_training_leak_book_preset_saves_three_checkpoints_of_an_off_span_run():
    config = experiments.TrainingLeakConfig.preset("book", seed=2)
    assert config.net.steps == 10_000 and config.net.checkpoints == (100, 1000) and not config.net.in_span
    assert config.net.seed == config.seed == 2 and config.net.dataset == "digits"


def test_init_radius_sphere_prior_keeps_each_member_on_its_radius():
    config = dataclasses.replace(experiments.InitRadiusConfig.preset("test"), prior="sphere", radii=(0.5, 2.0))
    result = experiments.init_radius(config, device="cpu", cache=False)
    norms = np.linalg.norm(result.candidates, axis=-1)           # (R, S, m)
    np.testing.assert_allclose(norms, np.array(config.radii)[:, None, None] * np.ones_like(norms), rtol=1e-6)
    pooled = result.pooled(metric="cosine", threshold=0.01)
    assert len(pooled) == 2 and pooled[0].score.shape == (config.net.n,)
    with pytest.raises(ValueError, match="prior"):
        dataclasses.replace(config, prior="box")
