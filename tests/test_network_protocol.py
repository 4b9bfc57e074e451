"""Claims of the network protocol: a user-written bias-free CNN plugs into kkt_loss, certificate and the attack.

The CNN (Conv2d(bias=False) → ReLU → Flatten → Linear(bias=False)) is defined here, outside the package; it
declares its input dimension ``d`` and reshapes points to its ``input_shape`` itself. Its degree is measured
(2), the plain ReLU modules are gated by ``models.SoftGated``, and closed forms come from the registry.
"""

import pytest
import torch
from torch import nn

from reconleak_core import attack, kkt, models
from reconleak_core.certificate import certificate

F64 = torch.float64


class SmallCNN(nn.Module):
    d, input_shape = 16, (1, 4, 4)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(1, 3, 2, bias=False, dtype=F64), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(27, 1, bias=False, dtype=F64))

    def forward(self, x):
        return self.body(x.reshape(-1, *self.input_shape)).reshape(x.shape[:-1])


@pytest.fixture(scope="module")
def cnn_data():
    net = SmallCNN()
    X = torch.randn(6, 16, generator=torch.Generator().manual_seed(1), dtype=F64)
    with torch.no_grad():
        y = torch.sign(net(X))   # labels the network separates
    lam = torch.rand(6, generator=torch.Generator().manual_seed(2), dtype=F64)
    return net, X, y, lam


def test_cnn_kkt_loss_equals_the_double_backprop_definition(cnn_data):
    net, X, y, lam = cnn_data
    params = list(net.parameters())
    grads = torch.autograd.grad((lam * y * net(X)).sum(), params)
    expected = sum((p - g).pow(2).sum() for p, g in zip(params, grads))
    assert torch.isclose(kkt.kkt_loss(net, X, y, lam, gate=None), expected, rtol=1e-12)
    assert models.homogeneity_degree(net) == 2


def test_soft_gated_cnn_keeps_the_value_of_the_straight_through_loss(cnn_data):
    net, X, y, lam = cnn_data
    gated = models.SoftGated(net)
    with pytest.raises(ValueError, match="SoftGated"):
        kkt.kkt_loss(net, X, y, lam, gate=300.0)
    exact = kkt.kkt_loss(net, X, y, lam, gate=None)
    assert torch.isclose(kkt.kkt_loss(gated, X, y, lam, gate=300.0), exact, rtol=1e-12)
    Xg = X.clone().requires_grad_(True)
    grad, = torch.autograd.grad(kkt.kkt_loss(gated, Xg, y, lam, gate=300.0), Xg)
    assert torch.isfinite(grad).all() and grad.abs().max() > 0   # the soft gate lets x see its neurons


def test_cnn_certificate_uses_the_generic_derivative(cnn_data):
    net, X, y, _ = cnn_data
    cert = certificate(net, X, y)
    assert cert.degree == 2 and cert.kinks == 0 and cert.margins.min() == pytest.approx(1.0)
    assert cert.eps >= 0 and (cert.lam >= 0).all()


def test_cnn_attack_runs_with_the_default_soft_gate_once_gated(cnn_data):
    net, _, _, _ = cnn_data
    with pytest.raises(ValueError, match="pass gate=None"):
        attack.reconstruct(net, 6, steps=2)
    result = attack.reconstruct(models.SoftGated(net), 6, steps=30, seed=0, init_scale=0.5)
    assert result.candidates.shape == (6, 16) and torch.isfinite(result.candidates).all()
    batch = attack.reconstruct_batch(net, 6, seeds=[0, 1], steps=5, gate=None)
    assert batch.candidates.shape == (2, 6, 16)


def test_closed_forms_are_registered_by_class_not_chosen_by_isinstance():
    class Wider(models.TwoLayerReLU):   # a user's subclass inherits the registered closed form
        pass

    assert kkt.closed_form(Wider(4, 5)) is kkt.CLOSED_FORMS[models.TwoLayerReLU]
    assert kkt.closed_form(SmallCNN()) is None
    net = models.TwoLayerReLU(4, 5, seed=0)
    X = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    y, lam = torch.tensor([1.0, -1.0, 1.0], dtype=F64), torch.full((3,), 0.5, dtype=F64)
    closed = kkt.kkt_loss(net, X, y, lam, method="closed")
    generic = kkt.kkt_loss(net, X, y, lam, method="generic")
    assert torch.isclose(closed, generic, rtol=1e-12)


def test_models_module_doctest_example_runs():
    """The network protocol's complete example (a user's CNN through SoftGated and kkt_loss) runs."""
    import doctest

    failures, tried = doctest.testmod(models, raise_on_error=False, verbose=False)
    assert tried >= 8 and failures == 0
