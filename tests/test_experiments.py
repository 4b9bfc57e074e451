"""Tests of reconleak_core.experiments and the command line (python -m reconleak_core).

Every experiment runs at its "test" preset (seconds, the same code path as book and paper scale) in a
temporary cache folder; the init-radius trend is checked at book scale.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from reconleak_core import attack, experiments, trained_nets
from reconleak_core.__main__ import main
from reconleak_core.train import TrainConfig

NAMES = list(experiments.EXPERIMENTS)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("reconleak_cache")


@pytest.fixture(scope="module")
def results(cache_dir):
    """Every experiment at test scale, computed once for the module (on the CPU)."""
    return {name: experiments.run(name, "test", device="cpu", cache_root=cache_dir) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_experiment_returns_finite_result_with_json_and_table(results, name):
    result = results[name]
    payload = result.to_json()
    assert payload["experiment"] == result.name
    json.dumps(payload)  # plain JSON values only
    rows = result.rows()
    assert rows and all(set(row) == set(rows[0]) for row in rows)
    assert set(rows[0]) <= set(type(result).columns), "every column of the table is explained (Result.columns)"
    assert all(math.isfinite(float(v)) for row in rows for v in row.values())


@pytest.mark.parametrize("name", NAMES)
def test_experiment_result_draws_its_figures(results, name):
    import matplotlib.pyplot as plt

    figures = results[name].figures()
    assert "" in figures
    for fig in figures.values():
        assert fig.axes, f"{name}: a figure without axes"
        plt.close(fig)


def test_init_radius_result_has_one_entry_per_radius_and_seed(results):
    result = results["init_radius"]
    config = experiments.InitRadiusConfig.preset("test")
    R, S, n = len(config.radii), config.seeds, config.net.n
    assert result.kkt.shape == result.nearest.shape == result.matched.shape == result.direction.shape == (R, S)
    assert torch.all((result.direction >= -1e-12) & (result.direction <= 2))
    assert result.candidates.shape == (R, S, config.candidates_per_point * n, config.net.d)
    # the matched distance pairs every training point with a distinct candidate: never below the nearest one
    assert torch.all(result.matched >= result.nearest - 1e-12)
    assert result.leaked.shape == (R, 3, n) and result.leaked.dtype == torch.bool   # the verdicts of NULLS
    assert result.chance.shape[:2] == (R, 3) and result.rates.shape == result.chance_median.shape == (R, 3)


def test_secret_shift_returns_reconstructions_beside_nearest_images(results):
    result = results["secret_shift"]
    config = experiments.SecretShiftConfig.preset("test")
    O = len(config.offsets)
    assert result.recon.shape == result.nearest.shape == (O, 2, config.top_k, 64)   # [uninformed, informed] box
    assert torch.all((result.recon >= 0) & (result.recon <= 1))  # min–max rescaled, as scored
    assert result.median.shape == result.shared.shape == result.kkt.shape == (O, 2)
    assert torch.all((result.ssim_top >= result.median - 1e-12) & (result.ssim_top <= 1))
    assert torch.all((result.shared >= 0) & (result.shared <= config.net.n))


def test_shift_guess_grid_holds_secret_shift_as_its_zero_column_and_diagonal(cache_dir):
    config = experiments.ShiftGuessConfig.preset("test")
    grid = experiments.shift_guess(config, device="cpu", cache_root=cache_dir)
    O = len(config.offsets)
    assert grid.median.shape == grid.shared.shape == grid.kkt.shape == (O, O)
    assert grid.recon.shape == grid.nearest.shape == (O, O, config.top_k, 64)
    # same networks, seeds and priors as secret_shift: guess 0 is its uninformed column, guess s its informed one
    shift = experiments.secret_shift(config, device="cpu", cache_root=cache_dir)
    np.testing.assert_allclose(grid.eps_rel, shift.eps_rel)
    np.testing.assert_allclose(grid.median[:, grid.at(0.0, 0.0)[1]], shift.median[:, 0], atol=1e-9)
    np.testing.assert_allclose(torch.diagonal(grid.median), shift.median[:, 1], atol=1e-9)
    assert grid.at(0.5, 0.0) == (1, 0)
    with pytest.raises(ValueError, match="not on the grid"):
        grid.at(0.3, 0.0)
    attackers = grid.by_attacker("shared")
    assert list(attackers) == ["uninformed [0, 1]", "informed [s, 1+s]"]
    assert torch.equal(attackers["uninformed [0, 1]"], shift.shared[:, 0])
    assert torch.equal(attackers["informed [s, 1+s]"], shift.shared[:, 1])
    with pytest.raises(ValueError, match="field must be"):
        grid.by_attacker("recon")
    rows = grid.rows()
    assert len(rows) == O * O and all(math.isfinite(float(v)) for row in rows for v in row.values())
    json.dumps(grid.to_json())


def test_digit_leak_scores_every_training_image_against_its_best_pooled_candidate(results):
    result = results["digit_leak"]
    config = experiments.DigitLeakConfig.preset("test")
    n = config.net.n
    assert result.ssim.shape == (n,) and result.images.shape == result.best.shape == (n, 64)
    assert result.kkt.shape == (config.restarts,)
    assert result.median == pytest.approx(result.ssim.quantile(0.5).item())
    assert result.fraction == pytest.approx((result.ssim >= 0.7).double().mean().item())
    # the images come back in pixel coordinates: every pixel in [0, 1]
    assert result.images.min() >= -1e-12 and result.images.max() <= 1 + 1e-12


def test_digit_networks_are_trained_on_centred_digits_with_the_default_recipe(cache_dir):
    from reconleak_core.train import TrainConfig

    spec = experiments.DigitLeakConfig.preset("book").net
    assert spec.center and spec.width == 1000 and spec.train == TrainConfig(steps=10_000)
    assert trained_nets.NetSpec().train == TrainConfig()
    small = experiments.DigitLeakConfig.preset("test").net
    trained = trained_nets.trained_network(small.shifted(0.5), device="cpu", cache_root=cache_dir)
    assert torch.allclose(trained.X, trained.X_clean + 0.5) and trained.spec.train.lr == pytest.approx(0.3 / 1.5**2)
    assert torch.allclose(trained.X_clean.mean(0), torch.zeros(64, dtype=torch.float64), atol=1e-12)
    assert trained.pixels.min() >= 0 and trained.pixels.max() <= 1


def test_training_length_reports_every_checkpoint_of_one_run(results):
    result = results["training_length"]
    config = experiments.TrainingLengthConfig.preset("test")
    assert list(result.steps) == [*config.net.checkpoints, config.net.steps]
    assert torch.all(result.eps_rel >= 0) and torch.all(result.split_distance >= 0)


def test_infer_shift_estimate_is_the_trial_with_lowest_loss(results):
    result = results["infer_shift"]
    assert result.loss.shape == (len(result.offsets), len(result.trials))
    np.testing.assert_array_equal(result.estimate, result.trials[result.loss.argmin(dim=1)])
    np.testing.assert_allclose(result.error, result.estimate - result.offsets)


def test_deep_variant_trains_a_three_layer_network(results, cache_dir):
    config = experiments.InitRadiusConfig.preset("test", arch="mlp3")
    trained = trained_nets.trained_network(config.net, device="cpu", cache_root=cache_dir)
    assert trained.net.degree == 3
    assert results["deep_init_radius"].config.net.arch == "mlp3"


def test_second_call_hits_the_cache_without_recomputing(results, cache_dir, monkeypatch):
    first = results["init_radius"]  # computed (and stored) by the first call, in the fixture

    def fail(*args, **kwargs):
        raise AssertionError("the cached result was recomputed")

    monkeypatch.setattr(experiments.Run, "attack", fail)
    monkeypatch.setattr(experiments.Run, "network", fail)
    second = experiments.init_radius(experiments.InitRadiusConfig.preset("test"), device="cpu", cache_root=cache_dir)
    np.testing.assert_array_equal(first.candidates, second.candidates)
    np.testing.assert_array_equal(first.kkt, second.kkt)


def test_trained_network_is_cached_by_its_spec(results, cache_dir, monkeypatch):
    spec = experiments.InitRadiusConfig.preset("test").net
    first = trained_nets.trained_network(spec, device="cpu", cache_root=cache_dir)
    monkeypatch.setattr(trained_nets, "train_max_margin",
                        lambda *a, **k: pytest.fail("the cached network was retrained"))
    second = trained_nets.trained_network(spec, device="cpu", cache_root=cache_dir)
    for p, q in zip(first.net.parameters(), second.net.parameters()):
        assert torch.equal(p, q)


def test_all_radii_run_as_one_batched_attack_unless_scale_free(cache_dir, monkeypatch):
    calls = []
    real = attack.reconstruct_batch

    def counting(*args, **kwargs):
        calls.append((kwargs.get("init_radius"), kwargs["config"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(attack, "reconstruct_batch", counting)
    config = dataclasses.replace(experiments.InitRadiusConfig.preset("test", seed=3), scale_free=False)
    experiments.init_radius(config, device="cpu", cache=False)
    assert len(calls) == 1
    assert sorted(set(calls[0][0])) == sorted(config.radii)
    calls.clear()
    experiments.init_radius(dataclasses.replace(config, scale_free=True), device="cpu", cache=False)
    assert [r for r, _ in calls] == list(config.radii)
    assert [c for _, c in calls] == [experiments.scale_free_attack(config.attack, r) for r in config.radii]


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_scale_free_attack_at_radius_c_is_the_radius_one_attack_rescaled(optimizer):
    """The scale symmetry (x′, λ′) → (cx′, λ′/c): the scale-free attack at radius c computes c × the iterates of
    the radius-1 attack, λ′ / c, and the same loss, to rounding and Adam's eps, over a short run (the attack is
    chaotic: those differences grow about tenfold every few steps, chapter 6)."""
    spec = experiments.InitRadiusConfig.preset("test").net
    tn = trained_nets.trained_network(spec, device="cpu", cache=False)
    base = attack.AttackConfig(steps=15, optimizer=optimizer, lr=0.01 if optimizer == "adam" else 1e-3,
                               lam_init=(0.2, 1.0))
    runs = {c: attack.reconstruct_trained(tn.net, tn.X, tn.y, 16, config=experiments.scale_free_attack(base, c),
                                          init="sphere", init_radius=c, seeds=[5, 6], device="cpu")
            for c in (1.0, 0.3, 4.0)}
    for c in (0.3, 4.0):
        torch.testing.assert_close(runs[c].candidates, c * runs[1.0].candidates, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(runs[c].lam, runs[1.0].lam / c, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(runs[c].kkt, runs[1.0].kkt, rtol=1e-5, atol=1e-9)
    assert experiments.scale_free_attack(base, 1.0) is base
    with pytest.raises(ValueError, match="radius"):
        experiments.scale_free_attack(base, 0.0)
    with pytest.raises(TypeError, match="AttackConfig"):
        experiments.scale_free_attack({"lr": 0.1}, 2.0)


def test_init_radius_trend_at_book_scale(tmp_path):
    """Paper Fig. 2a, the promises of ``init_radius``'s docstring on the book preset (seed 0): the KKT loss at
    every radius within a factor 2 of the best radius's, the calibrated recovery against fresh data highest at
    radius 1, above its chance level, and at most 20 % at the wrong radii."""
    result = experiments.init_radius(scale="book", device="cpu", cache_root=tmp_path)
    radii = list(result.radii)
    kkt = result.kkt.median(dim=1).values
    true = radii.index(1.0)
    assert kkt.max() <= 2 * kkt.min()
    rates, chance = result.rates[:, 0], result.chance[:, 0].quantile(0.95, dim=-1)
    assert rates[true] > chance[true] and rates[true] == rates.max()
    assert all(rates[k] <= 0.2 for k in range(len(radii)) if k != true)


def test_a_network_that_does_not_separate_its_data_is_refused_and_not_cached(tmp_path):
    spec = trained_nets.NetSpec(n=8, d=8, subspace_dim=4, width=30, train=TrainConfig(steps=1), seed=0)
    with pytest.raises(ValueError, match=r"does not separate its data after 1 steps .*raise steps or lr"):
        trained_nets.trained_network(spec, device="cpu", cache_root=tmp_path)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_configs_reject_invalid_settings():
    with pytest.raises(ValueError, match="dataset"):
        trained_nets.NetSpec(dataset="mnist")
    with pytest.raises(ValueError, match="checkpoints"):
        trained_nets.NetSpec(train=TrainConfig(steps=100), checkpoints=(50, 200))
    with pytest.raises(TypeError, match="TrainConfig"):
        trained_nets.NetSpec(train={"steps": 100})
    with pytest.raises(ValueError, match="offset must be 0"):
        experiments.SecretShiftConfig(net=trained_nets.NetSpec(dataset="digits", d=None, subspace_dim=None, offset=1.0))
    with pytest.raises(ValueError, match="radii"):
        experiments.InitRadiusConfig(radii=(1.0, -1.0))
    with pytest.raises(ValueError, match="scale"):
        experiments.InitRadiusConfig.preset("huge")
    with pytest.raises(ValueError, match="unknown experiment"):
        experiments.run("fig3")


def test_cli_writes_png_and_json(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["reproduce", "init_radius", "--scale", "test", "--device", "cpu", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    payload = json.loads((out / "init_radius.json").read_text())
    assert payload["experiment"] == "init_radius" and payload["scale"] == "test"
    assert (out / "init_radius.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "radius" in capsys.readouterr().out


def test_cli_help_lists_every_experiment(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in NAMES)
    assert main(["reproduce", "--help"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in NAMES)


def test_cli_unknown_experiment_exits_nonzero(capsys):
    assert main(["reproduce", "fig9"]) != 0
    assert "fig9" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_cuda_without_cuda_exits_nonzero(tmp_path, capsys):
    assert main(["reproduce", "init_radius", "--scale", "test", "--device", "cuda", "--out", str(tmp_path)]) != 0
    assert "cuda" in capsys.readouterr().err.lower()


def test_bias_shift_trains_biased_and_bias_free_nets_for_every_draw_and_offset(results, cache_dir):
    result = results["bias_shift"]
    config = experiments.BiasShiftConfig.preset("test")
    D, O, B = len(config.draws), len(config.offsets), len(config.biases)
    assert result.median.shape == result.eps_rel.shape == result.mean_estimate.shape == (D, O, B)
    assert result.ssim.shape == (D, O, B, config.net.n)
    assert result.recon.shape == result.nearest.shape == (D, O, B, config.top_k, 64)
    np.testing.assert_allclose(result.median, result.ssim.quantile(0.5, dim=-1))
    assert torch.all((result.eps_rel >= 0) & (result.eps_rel <= 1))
    biased = trained_nets.trained_network(config.spec(config.draws[0], 1.0, True), device="cpu", cache_root=cache_dir)
    assert biased.net.bias and biased.net.b is not None and biased.spec.offset == 1.0
    assert not trained_nets.trained_network(config.spec(config.draws[0], 1.0, False), device="cpu",
                                           cache_root=cache_dir).net.bias


def test_kkt_residual_is_zero_at_a_biased_kkt_point_and_positive_off_it():
    from reconleak_core.models import TwoLayerReLU

    # a hand-made KKT point of a biased net: the bias is a weight on the lifted input (x, 1). Points 2·(simplex
    # vertices) lifted have pairwise products −1 < 0, norm r = √5; neuron j = (x_j, 1)·λa, v_j = a·y_j with
    # λ = 1/r, a = r^(-1/2) is active on its own point only, every margin is 1 and θ = Σ λ yᵢ ∇θΦ(xᵢ)
    E = torch.eye(3, dtype=torch.float64) - 1.0 / 3
    X = 2 * E / E.norm(dim=1, keepdim=True)
    y = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    r = 5 ** 0.5
    lam, a = 1 / r, r ** -0.5
    net = TwoLayerReLU(3, 3, bias=True)
    with torch.no_grad():
        net.W.copy_(lam * a * X)
        net.b.fill_(lam * a)
        net.v.copy_(a * y)
    assert experiments.kkt_residual(net, X, y) < 1e-10
    with torch.no_grad():
        net.b.mul_(3.0)
    assert experiments.kkt_residual(net, X, y) > 0.05


def test_ones_lie_in_the_row_space_of_a_net_trained_on_shifted_centred_digits(results, cache_dir):
    result = results["bias_shift"]
    config = result.config
    shifted = list(config.offsets).index(1.0)
    np.testing.assert_allclose(result.ones_in_row_space[:, shifted], 1.0, atol=1e-6)
    assert torch.all(result.ones_in_row_space[:, list(config.offsets).index(0.0)] < 0.99)


def test_net_spec_bias_needs_two_layers_and_a_bool():
    with pytest.raises(ValueError, match="bias=True needs arch='two_layer'"):
        trained_nets.NetSpec(arch="mlp3", bias=True)
    with pytest.raises(TypeError, match="bias must be True or False"):
        trained_nets.NetSpec(bias=1)
    with pytest.raises(ValueError, match="bias-free, unshifted template"):
        experiments.BiasShiftConfig(net=dataclasses.replace(experiments.BiasShiftConfig.net, bias=True))
