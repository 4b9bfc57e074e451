"""experiments.training_leak (leakage along one training run) and init_radius's sphere prior."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from reconleak_core import experiments, trained_nets


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
    assert result.eps_rel.shape == result.fraction.shape == result.median.shape == (C,)
    assert result.kkt_rel.shape == (C, R)
    assert result.distance.shape == result.direction.shape == (C, n)
    assert result.candidates.shape == (C, R * config.candidates_per_point * n, config.net.d)
    assert torch.all((result.fraction >= 0) & (result.fraction <= 1))
    np.testing.assert_allclose(result.fraction, (result.distance <= config.threshold).double().mean(1))
    # the sphere prior is projected: every candidate lies on the sphere of the prior's radius
    np.testing.assert_allclose(np.linalg.norm(result.candidates, axis=-1), config.radius, rtol=1e-6)


def test_training_leak_is_cached_by_its_configuration(leak):
    first, root = leak
    again = experiments.training_leak(scale="test", device="cpu", cache_root=root)
    np.testing.assert_array_equal(first.candidates, again.candidates)
    assert again.to_json()["experiment"] == "training_leak" and len(again.rows()) == len(first.steps)


def test_training_leak_config_refuses_bad_input():
    with pytest.raises(TypeError, match="sphere"):
        experiments.TrainingLeakConfig(trained_nets.NetSpec(dataset="digits", d=None, subspace_dim=None))
    with pytest.raises(ValueError, match="threshold"):
        experiments.TrainingLeakConfig(threshold=0.0)
    with pytest.raises(TypeError, match="TrainingLeakConfig"):
        experiments.training_leak(object())


def test_init_radius_sphere_prior_keeps_each_member_on_its_radius():
    config = dataclasses.replace(experiments.InitRadiusConfig.preset("test"), prior="sphere", radii=(0.5, 2.0))
    result = experiments.init_radius(config, device="cpu", cache=False)
    norms = np.linalg.norm(result.candidates, axis=-1)           # (R, S, m)
    np.testing.assert_allclose(norms, np.array(config.radii)[:, None, None] * np.ones_like(norms), rtol=1e-6)
    pooled = result.pooled(metric="cosine", threshold=0.01)
    assert len(pooled) == 2 and pooled[0].score.shape == (config.net.n,)
    with pytest.raises(ValueError, match="prior"):
        dataclasses.replace(config, prior="box")
