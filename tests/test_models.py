"""Claims about the base modules: homogeneous models, sphere data, seeding and input checks."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from reconleak_core import checks, data, kkt, models, runtime


@settings(max_examples=20, deadline=None)
@given(c=st.floats(0.1, 10.0), depth=st.integers(1, 3), seed=st.integers(0, 1000))
def test_scaling_parameters_scales_output_by_c_to_the_degree(c, depth, seed):
    net = models.HomogeneousMLP(4, [5] * depth, seed=seed)
    x = torch.randn(7, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    scaled = {k: p.detach() * c for k, p in net.named_parameters()}
    out = torch.func.functional_call(net, scaled, (x,))
    assert torch.allclose(out, c ** net.degree * net(x), rtol=1e-10, atol=1e-14)


def test_soft_gate_relu_has_relu_value_hard_gate_derivative_and_sigmoid_second_derivative():
    z = torch.tensor([-0.3, -0.01, 0.002, 0.5], dtype=torch.float64, requires_grad=True)
    alpha = 30.0
    out = models.soft_gate_relu(z, alpha)
    torch.testing.assert_close(out, torch.relu(z), rtol=0, atol=0)
    first, = torch.autograd.grad(out.sum(), z, create_graph=True)
    torch.testing.assert_close(first, (z > 0).to(z.dtype), rtol=0, atol=0)
    second, = torch.autograd.grad(first.sum(), z)
    s = torch.sigmoid(alpha * z.detach())
    torch.testing.assert_close(second, alpha * s * (1 - s), rtol=1e-12, atol=1e-12)
    assert torch.equal(models.soft_gate_relu(z, None), torch.relu(z))


def test_homogeneity_degree_matches_architecture():
    assert models.homogeneity_degree(models.TwoLayerReLU(5, 8)) == 2
    assert models.homogeneity_degree(models.TwoLayerReLU(5, 8, fixed_second_layer=True)) == 1
    assert models.homogeneity_degree(models.HomogeneousMLP(5, [6, 7])) == 3
    plain = nn.Sequential(nn.Linear(5, 4, bias=False), nn.ReLU(), nn.Linear(4, 4, bias=False), nn.ReLU(),
                          nn.Linear(4, 1, bias=False))
    assert models.homogeneity_degree(plain) == 3



def test_network_degree_measures_and_accepts_a_declared_degree_that_agrees():
    class Declared(nn.Sequential):
        degree = 2                      # declared and true: accepted
    assert models.network_degree(models.TwoLayerReLU(5, 8, fixed_second_layer=True)) == 1
    assert models.network_degree(Declared(nn.Linear(5, 4, bias=False), nn.ReLU(), nn.Linear(4, 1, bias=False))) == 2
    plain = nn.Sequential(nn.Linear(5, 4, bias=False), nn.ReLU(), nn.Linear(4, 1, bias=False))
    assert models.network_degree(plain) == 2
    with pytest.raises(ValueError, match="has a bias"):
        models.network_degree(nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 1, bias=False)))


@pytest.mark.parametrize("declared, message", [
    (5, r"declares degree 5, but it is homogeneous of degree 2"),
    (0, r"declares degree 0, but a homogeneity degree is an integer ≥ 1"),
    (-2, r"declares degree -2"), (2.0, r"declared degree must be an integer")])
def test_network_degree_refuses_a_declared_degree_the_probe_contradicts(declared, message):
    class Declared(nn.Sequential):
        degree = declared
    net = Declared(nn.Linear(5, 4, bias=False), nn.ReLU(), nn.Linear(4, 1, bias=False)).double()
    with pytest.raises((TypeError, ValueError), match=message):
        models.network_degree(net)


@pytest.mark.parametrize("layers", [(nn.Linear(5, 4, bias=False), nn.ReLU(), nn.Linear(4, 1)),
                                    (nn.Linear(5, 4, bias=False), nn.Sigmoid(), nn.Linear(4, 1, bias=False))])
def test_a_declared_degree_does_not_excuse_a_late_bias_or_a_non_homogeneous_layer(layers):
    class Declared(nn.Sequential):
        degree = 2
    net = Declared(*layers).double()
    with pytest.raises(ValueError, match="not homogeneous|not known to be homogeneous"):
        kkt.kkt_loss(net, torch.randn(3, 5, dtype=torch.float64), torch.tensor([1.0, -1.0, 1.0]), torch.ones(3))


def test_net_with_bias_is_rejected_as_not_homogeneous():
    net = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 1, bias=False))
    with pytest.raises(ValueError, match="has a bias"):
        models.homogeneity_degree(net)


@pytest.mark.parametrize("layer", [nn.Tanh(), nn.Sigmoid(), nn.Softplus(), nn.BatchNorm1d(3)])
def test_non_homogeneous_layer_is_rejected(layer):
    net = nn.Sequential(nn.Linear(5, 3, bias=False), layer, nn.Linear(3, 1, bias=False))
    with pytest.raises(ValueError, match="not"):
        models.homogeneity_degree(net)


def test_in_span_initialisation_keeps_rows_in_data_span():
    X, _ = data.sphere(6, 10, subspace_dim=3, seed=1)
    net = models.TwoLayerReLU(10, 20, span=X, seed=2)
    assert torch.linalg.matrix_rank(net.W.detach()).item() == 3
    _, _, Vh = torch.linalg.svd(X)
    complement = Vh[3:]
    assert (net.W.detach() @ complement.T).abs().max() < 1e-12


def test_fixed_second_layer_is_a_buffer_of_plus_minus_one_over_root_width():
    net = models.TwoLayerReLU(3, 4, fixed_second_layer=True)
    assert [name for name, _ in net.named_parameters()] == ["W"]
    assert torch.allclose(net.v.abs(), torch.full((4,), 0.5, dtype=torch.float64))
    assert net.v.sum() == 0


def test_parameter_vector_follows_parameters_order():
    net = models.TwoLayerReLU(3, 4)
    theta = models.parameter_vector(net)
    assert torch.equal(theta[:12], net.W.detach().reshape(-1)) and torch.equal(theta[12:], net.v.detach())


@pytest.mark.parametrize("kwargs, message", [
    (dict(d=0, width=3), "d must be"), (dict(d=3, width=-1), "width must be"),
    (dict(d=3, width=3, init_scale=0.0), "init_scale"), (dict(d=3, width=3, dtype=torch.int64), "dtype"),
    (dict(d=3, width=3, span=torch.zeros(2, 3)), "spans no subspace"),
    (dict(d=3, width=3, span=torch.ones(2, 4)), "dimension"),
])
def test_model_constructor_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.TwoLayerReLU(**kwargs)


def test_sphere_points_have_radius_labels_balanced_and_live_in_subspace():
    X, y = data.sphere(20, 8, subspace_dim=3, radius=2.5, seed=3)
    assert X.shape == (20, 8) and X.dtype == torch.float64
    assert torch.allclose(X.norm(dim=1), torch.full((20,), 2.5, dtype=torch.float64))
    assert torch.linalg.matrix_rank(X).item() == 3
    assert y.sum() == 0 and set(y.tolist()) == {-1.0, 1.0}
    X2, _ = data.sphere(20, 8, subspace_dim=3, radius=2.5, seed=3)
    assert torch.equal(X, X2)


@pytest.mark.parametrize("kwargs", [dict(n=0, d=3), dict(n=3, d=3, subspace_dim=4), dict(n=3, d=3, radius=-1.0),
                                    dict(n=3, d=3, radius=math.nan)])
def test_sphere_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        data.sphere(**kwargs)


def test_set_seed_makes_torch_draws_reproducible():
    runtime.set_seed(5)
    a = torch.randn(3)
    runtime.set_seed(5)
    assert torch.equal(a, torch.randn(3))
    with pytest.raises(ValueError):
        runtime.set_seed(-1)


def test_get_device_auto_is_cpu_without_cuda_and_cuda_request_fails_clearly():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert runtime.get_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="no CUDA device"):
        runtime.get_device("cuda")


def test_checks_name_the_problem():
    with pytest.raises(ValueError, match="labels must be ±1"):
        checks.check_labels([1.0, 0.0])
    with pytest.raises(ValueError, match="NaN found in X at step 7"):
        checks.check_finite(torch.tensor([math.nan]), "X", step=7)
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        checks.check_points(torch.ones(3), "X")
    with pytest.raises(ValueError, match="expects dimension 4"):
        checks.check_points(torch.ones(2, 3), "X", d=4)
    with pytest.raises(ValueError, match="non-negative"):
        checks.check_multipliers([1.0, -1.0], 2, nonnegative=True)
