"""The validation layer (``checks``) and the library's contract on bad input: a clear error or the right answer.

Each test is one case of issue 13: (n, 1)-output networks handled exactly, NaN weights named, complex and
boolean values refused, configs strict about types, divergence reported with its step, raw torch errors replaced.
"""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from reconleak_core import attack, checks, data, experiments, kkt, lemmas, models, runtime, train, trained_nets
from reconleak_core.certificate import certificate


def _sequential_kkt_point(n=4):
    """kkt.simplex_kkt_point transplanted into the first network a PyTorch user writes (output shape (n, 1))."""
    two, X, y, lam = kkt.simplex_kkt_point(n)
    seq = nn.Sequential(nn.Linear(n, n, bias=False, dtype=torch.float64), nn.ReLU(),
                        nn.Linear(n, 1, bias=False, dtype=torch.float64))
    with torch.no_grad():
        seq[0].weight.copy_(two.W)
        seq[2].weight.copy_(two.v.unsqueeze(0))
    return seq, two, X, y, lam


# --------------------------------------------------------------------------------- (n, 1) outputs
def test_n_by_1_network_at_an_exact_kkt_point_is_exact_in_every_entry_point():
    seq, two, X, y, lam = _sequential_kkt_point()
    assert seq(X).shape == (4, 1)
    q = kkt.margins(seq, X, y)
    assert q.shape == (4,) and torch.allclose(q, torch.ones(4, dtype=torch.float64))
    assert kkt.kkt_loss(seq, X, y, lam).item() < 1e-28  # was 8.0 before the squeeze
    assert kkt.KKTLoss(seq, y)(X, lam).item() < 1e-28
    assert torch.allclose(kkt.stationarity_sum(seq, X, y, lam), models.parameter_vector(seq), atol=1e-12)
    cert = certificate(seq, X, y)
    assert cert.eps < 1e-12 and abs(cert.delta) < 1e-12
    assert torch.allclose(kkt.margins(kkt.normalize_margin(seq, X, y), X, y), q)
    assert models.homogeneity_degree(seq) == 2
    # the attack optimises the same objective as on the TwoLayerReLU copy (generic form, exact gate)
    a = attack.reconstruct(seq, 4, steps=30, gate=None, seed=3)
    b = attack.reconstruct(two, 4, steps=30, gate=None, seed=3)
    assert np.allclose(a.history, b.history, rtol=1e-8)
    trained, two_trained = copy.deepcopy(seq), copy.deepcopy(two)
    h1 = train.train_max_margin(trained, X, y, steps=20, progress=False)
    h2 = train.train_max_margin(two_trained, X, y, steps=20, progress=False)
    assert np.allclose(h1.loss, h2.loss, rtol=1e-10)


def test_a_network_with_several_outputs_per_point_is_refused_everywhere():
    _, _, X, y, lam = _sequential_kkt_point()
    wide = nn.Sequential(nn.Linear(4, 4, bias=False, dtype=torch.float64), nn.ReLU(),
                         nn.Linear(4, 2, bias=False, dtype=torch.float64))
    calls = [lambda: kkt.margins(wide, X, y), lambda: kkt.kkt_loss(wide, X, y, lam),
             lambda: certificate(wide, X, y), lambda: train.train_max_margin(wide, X, y, steps=1, progress=False),
             lambda: attack.reconstruct(wide, 4, steps=1, gate=None), lambda: models.homogeneity_degree(wide)]
    for call in calls:
        with pytest.raises(ValueError, match="one number per point"):
            call()


def test_nan_weights_are_named_by_every_function_that_reads_a_network():
    seq, two, X, y, lam = _sequential_kkt_point()
    with torch.no_grad():
        seq[0].weight[0, 0] = math.nan
        two.W[0, 0] = math.nan
    calls = [lambda: kkt.margins(seq, X, y), lambda: kkt.kkt_loss(seq, X, y, lam), lambda: kkt.KKTLoss(seq, y),
             lambda: kkt.stationarity_sum(seq, X, y, lam), lambda: certificate(seq, X, y),
             lambda: kkt.normalize_margin(seq, X, y), lambda: models.homogeneity_degree(seq),
             lambda: train.train_max_margin(seq, X, y, steps=1, progress=False),
             lambda: attack.reconstruct(seq, 4, steps=1, gate=None),
             lambda: lemmas.mergeable_pairs(two, X, y), lambda: lemmas.merge(two, X, y, lam, 0, 2),
             lambda: lemmas.split(two, X, y, lam, 0, torch.ones(4), alpha=0.5, beta=0.5),
             lambda: lemmas.far_kkt_set(two, X, y, lam, 2.0), lambda: lemmas.kkt_residuals(two, X, y, lam),
             lambda: lemmas.achievable_split_distance(two, X, y, lam)]
    for call in calls:
        with pytest.raises(ValueError, match="network parameters contain NaN"):
            call()


# ------------------------------------------------------------------------------- kinds of values
@pytest.mark.parametrize("bad", [True, "0.1", None, 1j, [0.1], np.bool_(True)])
def test_check_positive_refuses_what_is_not_a_real_number(bad):
    with pytest.raises(TypeError, match="lr must be a real number"):
        checks.check_positive(bad, "lr")


def test_numpy_scalars_are_numbers_and_sizes_everywhere():
    assert checks.check_positive(np.float32(0.5), "x") == 0.5
    assert checks.check_int(np.int64(3), "n") == 3 and type(checks.check_int(np.int64(3), "n")) is int
    assert models.TwoLayerReLU(np.int64(3), np.int32(4), seed=np.int64(1)).width == 4
    assert models.HomogeneousMLP(np.int64(3), [np.int64(2)]).d == 3
    assert data.sphere(np.int64(4), np.int64(3), seed=np.int64(2))[0].shape == (4, 3)
    assert trained_nets.NetSpec(n=np.int64(8), d=np.int64(8), subspace_dim=np.int64(4)).n == 8
    assert runtime.set_seed(np.int64(5)) == 5


@pytest.mark.parametrize("value, error, match", [
    (True, TypeError, "an integer"), (2.0, TypeError, "an integer"), ("3", TypeError, "an integer"),
    (0, ValueError, "a positive integer"), (-1, ValueError, "a positive integer"),
])
def test_check_int(value, error, match):
    with pytest.raises(error, match=match):
        checks.check_int(value, "n")


def test_seeds_beyond_64_bits_are_refused_by_name():
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 9223372036854775807\]"):
        runtime.set_seed(99999999999999999999)
    with pytest.raises(ValueError, match="seed"):
        data.sphere(3, 3, seed=2**64)
    with pytest.raises(ValueError, match="seed"):
        models.TwoLayerReLU(3, 3, seed=2**70)


@pytest.mark.parametrize("make", [
    lambda: data.sphere(6, 3) [0] + 5j,
    lambda: torch.tensor([[1.0, 2.0]], dtype=torch.complex128),
    lambda: np.ones((2, 2)) * (1 + 1j),
])
def test_complex_points_are_refused_not_truncated(make):
    with pytest.raises(TypeError, match="must be real"):
        checks.check_points(make(), "X")


def test_complex_labels_multipliers_and_priors_are_refused():
    net, X, y, lam = kkt.simplex_kkt_point(4)
    with pytest.raises(TypeError, match="y must be real"):
        kkt.margins(net, X, y + 1j)
    with pytest.raises(TypeError, match="lam must be real"):
        kkt.kkt_loss(net, X, y, lam + 1j)
    with pytest.raises(TypeError, match="Box.lo must be real"):
        attack.Box(0j)
    with pytest.raises(TypeError, match="must hold numbers, got booleans"):
        checks.check_points(torch.ones(2, 2, dtype=torch.bool), "X")


def test_integer_dtypes_where_reals_are_meant_are_refused():
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype"):
        data.sphere(6, 3, dtype=torch.int64)
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype"):
        models.span_projector(torch.eye(3), 3, dtype=torch.int64)


def test_configs_refuse_booleans_and_strings_as_numbers():
    with pytest.raises(TypeError, match="lr must be a real number"):
        train.TrainConfig(lr="0.3")
    with pytest.raises(TypeError, match="lr must be a real number"):
        train.TrainConfig(lr=True)
    with pytest.raises(TypeError, match="steps must be an integer"):
        train.TrainConfig(steps=True)
    with pytest.raises(TypeError, match="gate must be a real number"):
        attack.AttackConfig(gate=True)
    with pytest.raises(TypeError, match="lam_min must be a real number"):
        attack.AttackConfig(lam_min=True)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        models.soft_gate_relu(torch.ones(3), True)
    with pytest.raises(ValueError, match="alpha must be a positive"):
        models.soft_gate_relu(torch.ones(3), -1)


def test_shift_experiments_refuse_a_sphere_netspec_at_construction():
    for cls in (experiments.SecretShiftConfig, experiments.InferShiftConfig):
        with pytest.raises(ValueError, match="must be a digits NetSpec"):
            cls(net=trained_nets.NetSpec())


# ------------------------------------------------------------------------------------- divergence
def test_a_diverging_adam_attack_raises_with_its_step():
    net, _, _, _ = kkt.simplex_kkt_point(4)
    with pytest.raises(ValueError, match=r"the attack diverged: .* at step \d+"):
        attack.reconstruct(net, 4, lr=1e6, steps=50)


def test_training_with_a_huge_step_reports_the_overflow_at_its_step():
    X, y = data.sphere(10, 5, seed=0)
    net = models.TwoLayerReLU(5, 20, init_scale=0.1)
    with pytest.raises(ValueError, match=r"infinite value found in loss at step \d+"):
        train.train_max_margin(net, X, y, steps=200, lr=1e6, progress=False)


# ------------------------------------------------------------------------- raw torch errors, replaced
def test_raw_torch_errors_are_replaced_by_ours():
    net, X, y, lam = kkt.simplex_kkt_point(4)
    with pytest.raises(ValueError, match="unsupported device 'tpu'"):
        runtime.get_device("tpu")
    with pytest.raises(ValueError, match="Box.lo and Box.hi must be numbers or vectors of one length"):
        attack.Box(lo=torch.zeros(3), hi=torch.ones(2))
    with pytest.raises(ValueError, match="do not broadcast"):
        kkt.kkt_loss(net, X.expand(3, 4, 4), y, lam.expand(2, 4))
    with pytest.raises(ValueError, match=r"labels y must be a 1-D tensor"):
        kkt.margins(net, X, y.expand(2, 4))
    with pytest.raises(ValueError, match=r"labels y must be a 1-D tensor"):
        train.train_max_margin(copy.deepcopy(net), X, y.expand(2, 4), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"labels y must be a 1-D tensor"):
        attack.reconstruct(net, 4, labels=y.expand(2, 4), steps=1)
    assert kkt.kkt_loss(net, X.expand(3, 4, 4), y.expand(3, 4), lam).shape == (3,)  # batched y still allowed


def test_scalar_output_squeezes_only_one_trailing_unit_axis():
    X = torch.zeros(5, 3)
    assert checks.scalar_output(torch.zeros(5, 1), X).shape == (5,)
    assert checks.scalar_output(torch.zeros(5), X).shape == (5,)
    with pytest.raises(ValueError, match="one number per point"):
        checks.scalar_output(torch.zeros(5, 5), X)
    with pytest.raises(TypeError, match="must return a tensor"):
        checks.scalar_output((torch.zeros(5),), X)


def test_is_sequence_tells_per_member_sequences_from_single_values():
    for value in ([0.1, 0.2], (1, 2), [], range(3), torch.tensor([1.0, 2.0]), np.array([1, 2])):
        assert checks.is_sequence(value), value
    for value in (0.1, 3, None, "abc", torch.tensor(1.0), np.float64(2.0), torch.zeros(2, 3), np.zeros((2, 3)),
                  attack.Box(0.0, 1.0)):
        assert not checks.is_sequence(value), value
