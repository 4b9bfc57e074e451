"""Claims about reconleak_core.kkt: closed form = generic, normalisation, clear errors."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from reconleak_core import kkt, models
from reconleak_core.certificate import certificate
from reconleak_core.data import sphere


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _problem(batch, m, d, seed):
    g = _gen(seed)
    X = torch.randn(*batch, m, d, dtype=torch.float64, generator=g).requires_grad_(True)
    lam = (torch.rand(*batch, m, dtype=torch.float64, generator=g) - 0.2).requires_grad_(True)
    y = torch.where(torch.arange(m) % 2 == 0, 1.0, -1.0).to(torch.float64)
    return X, y, lam


@settings(max_examples=15, deadline=None)
@given(batch=st.sampled_from([(), (3,), (2, 2)]), m=st.integers(1, 6), d=st.integers(1, 5),
       width=st.integers(1, 8), fixed=st.booleans(), seed=st.integers(0, 10_000))
def test_closed_form_kkt_loss_matches_generic_values_and_gradients(batch, m, d, width, fixed, seed):
    net = models.TwoLayerReLU(d, width, fixed_second_layer=fixed, seed=seed)
    X, y, lam = _problem(batch, m, d, seed)
    closed = kkt.kkt_loss(net, X, y, lam, lam_min=0.1, method="closed")
    generic = kkt.kkt_loss(net, X, y, lam, lam_min=0.1, method="generic")
    assert closed.shape == batch
    torch.testing.assert_close(closed, generic, rtol=1e-10, atol=1e-10)
    g_closed = torch.autograd.grad(closed.sum(), (X, lam))
    g_generic = torch.autograd.grad(generic.sum(), (X, lam))
    for a, b in zip(g_closed, g_generic):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_batched_kkt_loss_equals_loop_over_batch():
    net = models.TwoLayerReLU(4, 6, seed=1)
    X, y, lam = _problem((5,), 3, 4, seed=2)
    batched = kkt.kkt_loss(net, X, y, lam)
    looped = torch.stack([kkt.kkt_loss(net, X[k], y, lam[k]) for k in range(5)])
    torch.testing.assert_close(batched, looped, rtol=1e-12, atol=1e-12)


def test_generic_stationarity_sum_matches_per_sample_autograd_on_deep_net():
    net = models.HomogeneousMLP(4, [5, 3], seed=3)
    X, y, lam = _problem((), 6, 4, seed=4)
    expected = torch.zeros_like(models.parameter_vector(net))
    for i in range(6):
        grads = torch.autograd.grad(net(X[i].detach()), list(net.parameters()))
        expected += lam[i].detach() * y[i] * torch.cat([g.reshape(-1) for g in grads])
    got = kkt.stationarity_sum(net, X.detach(), y, lam.detach())
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_generic_kkt_loss_gradient_matches_finite_differences_on_deep_net():
    net = models.HomogeneousMLP(3, [4], seed=5)
    X, y, lam = _problem((), 4, 3, seed=6)
    loss = kkt.kkt_loss(net, X, y, lam)
    gX, glam = torch.autograd.grad(loss, (X, lam))
    h = 1e-6
    for (i, j) in [(0, 0), (2, 1), (3, 2)]:
        E = torch.zeros_like(X)
        E[i, j] = h
        fd = (kkt.kkt_loss(net, X.detach() + E, y, lam.detach())
              - kkt.kkt_loss(net, X.detach() - E, y, lam.detach())) / (2 * h)
        assert abs(fd.item() - gX[i, j].item()) < 1e-6 * max(1.0, abs(fd.item()))
    e = torch.zeros_like(lam)
    e[1] = h
    fd = (kkt.kkt_loss(net, X.detach(), y, lam.detach() + e)
          - kkt.kkt_loss(net, X.detach(), y, lam.detach() - e)) / (2 * h)
    assert abs(fd.item() - glam[1].item()) < 1e-6 * max(1.0, abs(fd.item()))


def test_soft_gate_keeps_loss_value_and_changes_gradient():
    net = models.TwoLayerReLU(4, 6, seed=7)
    X, y, lam = _problem((), 3, 4, seed=8)
    hard = kkt.kkt_loss(net, X, y, lam)
    soft = kkt.kkt_loss(net, X, y, lam, gate=5.0)
    assert soft.item() == hard.item()
    g_hard, = torch.autograd.grad(hard, X)
    g_soft, = torch.autograd.grad(soft, X)
    assert (g_hard - g_soft).abs().max() > 1e-6


@settings(max_examples=15, deadline=None)
@given(batch=st.sampled_from([(), (3,)]), m=st.integers(1, 6), d=st.integers(1, 5), width=st.integers(1, 8),
       fixed=st.booleans(), alpha=st.sampled_from([0.5, 5.0, 300.0]), seed=st.integers(0, 10_000))
def test_fused_soft_gate_gradient_equals_autograd_through_stationarity_sum(batch, m, d, width, fixed, alpha, seed):
    net = models.TwoLayerReLU(d, width, fixed_second_layer=fixed, seed=seed)
    X, y, lam = _problem(batch, m, d, seed)
    fused = kkt.kkt_loss(net, X, y, lam, gate=alpha, penalty=0.0)
    residual = models.parameter_vector(net).detach() - kkt.stationarity_sum(net, X, y, lam, gate=alpha)
    reference = residual.pow(2).sum(-1)
    torch.testing.assert_close(fused, reference, rtol=1e-10, atol=1e-10)
    for a, b in zip(torch.autograd.grad(fused.sum(), (X, lam)), torch.autograd.grad(reference.sum(), (X, lam))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("gate", [None, 5.0, 300.0])
def test_generic_soft_gate_on_one_hidden_layer_mlp_equals_closed_form(gate):
    two = models.TwoLayerReLU(4, 6, seed=1)
    mlp = models.HomogeneousMLP(4, [6], seed=2)
    with torch.no_grad():
        mlp.layers[0].weight.copy_(two.W)
        mlp.layers[1].weight.copy_(two.v.unsqueeze(0))
    X, y, lam = _problem((2,), 5, 4, seed=3)
    closed = kkt.kkt_loss(two, X, y, lam, gate=gate)
    generic = kkt.kkt_loss(mlp, X, y, lam, gate=gate)
    torch.testing.assert_close(closed, generic, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(closed.sum(), (X, lam)), torch.autograd.grad(generic.sum(), (X, lam))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_kkt_loss_object_equals_the_function_and_checks_shapes_dtype_and_device():
    net = models.TwoLayerReLU(3, 5, seed=4)
    X, y, lam = _problem((4,), 6, 3, seed=5)
    objective = kkt.KKTLoss(net, y, lam_min=0.2, penalty=3.0, gate=300.0)
    torch.testing.assert_close(objective(X, lam), kkt.kkt_loss(net, X, y, lam, lam_min=0.2, penalty=3.0, gate=300.0),
                               rtol=0, atol=0)
    with pytest.raises(TypeError, match="torch.float64 tensor"):
        objective(X.float(), lam)
    with pytest.raises(TypeError, match="lam must be"):
        objective(X, lam.tolist())
    with pytest.raises(ValueError, match=r"X must have shape \(\.\.\., 6, 3\)"):
        objective(X[..., :2], lam)
    with pytest.raises(ValueError, match="lam must have shape"):
        objective(X, lam[..., :5])
    with pytest.raises(ValueError, match="labels must be ±1"):
        kkt.KKTLoss(net, torch.zeros(6, dtype=torch.float64))
    with pytest.raises(ValueError, match="penalty"):
        kkt.KKTLoss(net, y, penalty=-1.0)


def test_dual_penalty_is_linear_hinge_below_lam_min():
    net = models.TwoLayerReLU(3, 4, seed=0)
    X, y, _ = _problem((), 2, 3, seed=0)
    lam = torch.tensor([0.5, -0.25], dtype=torch.float64)
    base = kkt.kkt_loss(net, X, y, lam, penalty=0.0)
    assert kkt.kkt_loss(net, X, y, lam, penalty=2.0).item() == pytest.approx(base.item() + 2.0 * 0.25, abs=1e-12)
    penalised = kkt.kkt_loss(net, X, y, lam, lam_min=1.0, penalty=1.0).item()
    assert penalised == pytest.approx(base.item() + 0.5 + 1.25, abs=1e-12)


def test_normalize_margin_gives_min_margin_one_without_touching_the_net():
    net, X, y, _ = kkt.simplex_kkt_point(5, 6)
    with torch.no_grad():
        net.W.mul_(3.0)
        net.v.mul_(torch.linspace(1.0, 2.0, 5, dtype=torch.float64))
    before = models.parameter_vector(net).clone()
    hat = kkt.normalize_margin(net, X, y)
    assert kkt.margins(hat, X, y).min().item() == pytest.approx(1.0, abs=1e-12)
    assert torch.equal(models.parameter_vector(net), before)


def test_normalize_margin_rejects_a_net_that_does_not_separate():
    X, y = sphere(6, 4, seed=2)
    net = models.TwoLayerReLU(4, 6, seed=2)
    with torch.no_grad():
        net.W.copy_(X)
        net.v.copy_(-y)  # every point is pushed to the wrong side
    with pytest.raises(ValueError, match="does not separate the data"):
        kkt.normalize_margin(net, X, y)
    with pytest.raises(ValueError, match="does not separate the data"):
        certificate(net, X, y)


def test_clear_errors_on_bad_inputs():
    net = models.TwoLayerReLU(3, 4, seed=0)
    X, y, lam = _problem((), 4, 3, seed=0)
    X, lam = X.detach(), lam.detach()
    with pytest.raises(ValueError, match="labels must be ±1"):
        kkt.kkt_loss(net, X, torch.tensor([1.0, 0.0, 1.0, -1.0], dtype=torch.float64), lam)
    with pytest.raises(ValueError, match="dimension"):
        kkt.kkt_loss(net, X[:, :2], y, lam)
    with pytest.raises(ValueError, match="multipliers lam"):
        kkt.kkt_loss(net, X, y, lam[:3])
    with pytest.raises(ValueError, match="length"):
        kkt.margins(net, X, y[:3])
    bad = X.clone()
    bad[1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN found in X"):
        kkt.kkt_loss(net, bad, y, lam)
    with pytest.raises(ValueError, match="NaN found in lam"):
        kkt.kkt_loss(net, X, y, torch.full((4,), float("nan"), dtype=torch.float64))
    biased = nn.Sequential(nn.Linear(3, 4, dtype=torch.float64), nn.ReLU(),
                           nn.Linear(4, 1, bias=False, dtype=torch.float64))
    with pytest.raises(ValueError, match="has a bias"):
        kkt.kkt_loss(biased, X, y, lam)
    with pytest.raises(ValueError, match="has a bias"):
        certificate(biased, X, y)
    plain = nn.Sequential(nn.Linear(3, 4, bias=False, dtype=torch.float64), nn.ReLU(),
                          nn.Linear(4, 1, bias=False, dtype=torch.float64), nn.Flatten(0))
    with pytest.raises(ValueError, match="soft gate"):
        kkt.kkt_loss(plain, X, y, lam, gate=2.0)
    with pytest.raises(ValueError, match="gate must be"):
        kkt.kkt_loss(net, X, y, lam, gate=-1.0)
    with pytest.raises(ValueError, match="method"):
        kkt.kkt_loss(net, X, y, lam, method="fast")
    with pytest.raises(ValueError, match="n must be"):
        kkt.simplex_kkt_point(1)


@settings(max_examples=15, deadline=None)
@given(batch=st.sampled_from([(), (3,)]), m=st.integers(1, 6), d=st.integers(1, 5), deep=st.booleans(),
       seed=st.integers(0, 10_000))
def test_onto_margin_puts_candidates_on_the_margin_and_keeps_the_stationarity_sum(batch, m, d, deep, seed):
    """Complementary slackness: every candidate with y′Φ > 0 ends with y′Φ = 1; (x′, λ′) → (c x′, λ′/c)
    leaves Σ λ′ y′ ∇θΦ(θ; x′) unchanged; the others are returned as they are."""
    net = models.HomogeneousMLP(d, [4, 3], seed=seed) if deep else models.TwoLayerReLU(d, 7, seed=seed)
    X, y, lam = _problem(batch, m, d, seed)
    X, lam = X.detach(), lam.detach().abs()
    scaled, lam2, on = kkt.onto_margin(net, X, y, lam)
    q = y * net(scaled.reshape(-1, d)).reshape(*batch, m)
    assert torch.allclose(q[on], torch.ones_like(q[on]), atol=1e-12)
    assert torch.equal(scaled[~on], X[~on]) and torch.equal(lam2[~on], lam[~on])
    before = kkt.stationarity_sum(net, X, y, lam)
    after = kkt.stationarity_sum(net, scaled, y, lam2)
    assert torch.allclose(before, after, atol=1e-10 * (1 + before.abs().max().item()))


def test_onto_margin_refuses_a_network_with_a_bias_and_bad_shapes():
    net = models.TwoLayerReLU(3, 5, bias=True, seed=0)
    with torch.no_grad():
        net.b.fill_(0.5)
    X, y = torch.randn(4, 3, dtype=torch.float64), torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="not positively homogeneous of degree 1 in its input"):
        kkt.onto_margin(net, X, y)
    plain = models.TwoLayerReLU(3, 5, seed=0)
    with pytest.raises(ValueError, match="lam must have shape"):
        kkt.onto_margin(plain, X, y, torch.ones(3))
    with pytest.raises(ValueError, match="labels|y"):
        kkt.onto_margin(plain, X, y[:3])
