"""Our KKT loss against an independent port of Haim et al.'s, written here from their definition.

Their attack (nivha/dataset_reconstruction, ``extraction.py``, ``CreateModel.py``), restated:

- the network is ``Linear(d, width)`` (with a bias) → ``ModifiedRelu(α)`` → ``Linear(width, 1, bias=False)``,
  where ``ModifiedRelu`` is an autograd function whose forward is relu(z) and whose backward is
  grad·σ(αz), with z kept as the live input tensor so that a ``create_graph=True`` backward differentiates
  through σ(αz);
- the KKT term is Σ_params ‖p − g‖², g = autograd.grad(Φ(x′)·λ′·y, params, grad_outputs = 1/m,
  create_graph=True) (a double backprop: the loss is differentiable in x′ and λ′);
- the verification term is Σ relu(x − 1)² + relu(−1 − x)² + 5·Σ relu(λ_min − λ′)².

Nothing here calls the library's loss code: the port builds its own ``torch.nn`` network from the weights.
Our loss with ``gate_form="smooth"``, ``penalty_form="squared"``, ``penalty=5``, ``lam_scale="mean"``, plus
the ``Box()`` prior's penalty, must agree with it to 1e-10 in float64, in value and in both gradients.
The straight-through form is checked against the same port with a backward whose value is 1[z > 0] and whose
derivative is that of σ(αz).
"""

import pytest
import torch
from torch import nn

from reconleak_core import kkt, models, train
from reconleak_core.attack import Box
from reconleak_core.data import sphere

ALPHA = 300.0
LAM_MIN = 0.05


class _ModifiedReluFunc(torch.autograd.Function):
    """forward relu(z); backward grad·gate(z), z kept live so that create_graph differentiates the gate."""

    @staticmethod
    def forward(ctx, z, alpha, straight_through):
        ctx.z, ctx.alpha, ctx.straight_through = z, alpha, straight_through
        return torch.relu(z)

    @staticmethod
    def backward(ctx, grad_output):
        soft = torch.sigmoid(ctx.z * ctx.alpha)
        if ctx.straight_through:
            gate = (ctx.z > 0).to(soft.dtype) + (soft - soft.detach())
        else:
            gate = soft
        return grad_output * gate, None, None


class _PortNet(nn.Module):
    def __init__(self, net: models.TwoLayerReLU, straight_through: bool):
        super().__init__()
        self.first = nn.Linear(net.d, net.width, bias=net.b is not None, dtype=torch.float64)
        self.second = nn.Linear(net.width, 1, bias=False, dtype=torch.float64)
        with torch.no_grad():
            self.first.weight.copy_(net.W)
            if net.b is not None:
                self.first.bias.copy_(net.b)
            self.second.weight.copy_(net.v.reshape(1, -1))
        self.straight_through = straight_through

    def forward(self, x):
        return self.second(_ModifiedReluFunc.apply(self.first(x), ALPHA, self.straight_through)).squeeze(-1)


def _port_loss(port: _PortNet, x, lam, y):
    """Their get_kkt_loss + get_verify_loss, from the definition above."""
    m = x.shape[0]
    values = port(x)
    params = list(port.parameters())
    out = values * lam * y
    grads = torch.autograd.grad(out, params, grad_outputs=torch.ones_like(out) / m, create_graph=True)
    kkt_term = sum((p.detach() - g).pow(2).sum() for p, g in zip(params, grads))
    verify = (x - 1).relu().pow(2).sum() + (-1 - x).relu().pow(2).sum() + 5 * (LAM_MIN - lam).relu().pow(2).sum()
    return kkt_term + verify


def _our_loss(net, x, lam, y, form, method):
    return (kkt.kkt_loss(net, x, y, lam, lam_min=LAM_MIN, penalty=5.0, penalty_form="squared", lam_scale="mean",
                         gate=ALPHA, gate_form=form, method=method) + Box().penalty(x))


def _trained(bias: bool):
    X, y = sphere(8, 5, seed=3)
    net = models.TwoLayerReLU(5, 16, init_scale=0.5, bias=bias, seed=4)
    train.train_max_margin(net, X, y, steps=400, progress=False)
    return kkt.normalize_margin(net, X, y), X


def _random(bias: bool):
    return models.TwoLayerReLU(5, 16, init_scale=1.0, bias=bias, seed=5), None


@pytest.mark.parametrize("form", ["smooth", "straight_through"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("make", [_random, _trained], ids=["random", "trained"])
@pytest.mark.parametrize("method", ["closed", "generic"])
def test_our_kkt_loss_equals_an_independent_port_of_haims_loss(form, bias, make, method):
    net, X = make(bias)
    g = torch.Generator().manual_seed(6)
    m = 12
    # candidates: near the training points (a trained net's interesting region) or random, some outside the box
    base = torch.randn(m, 5, dtype=torch.float64, generator=g) * 0.7
    if X is not None:
        base = base * 0.1 + X.repeat(2, 1)[:m]
    lam0 = torch.rand(m, dtype=torch.float64, generator=g) * 2 - 0.3   # some below λ_min
    y = torch.where(torch.arange(m) < m // 2, -1.0, 1.0).to(torch.float64)  # theirs: −1 first, then +1
    port = _PortNet(net, straight_through=form == "straight_through")

    x1, l1 = base.clone().requires_grad_(True), lam0.clone().requires_grad_(True)
    theirs = _port_loss(port, x1, l1, y)
    gx1, gl1 = torch.autograd.grad(theirs, (x1, l1))
    x2, l2 = base.clone().requires_grad_(True), lam0.clone().requires_grad_(True)
    ours = _our_loss(net, x2, l2, y, form, method)
    gx2, gl2 = torch.autograd.grad(ours, (x2, l2))

    scale = max(1.0, theirs.abs().item())
    assert abs(theirs.item() - ours.item()) <= 1e-10 * scale
    torch.testing.assert_close(gx2, gx1, rtol=1e-10, atol=1e-10 * scale)
    torch.testing.assert_close(gl2, gl1, rtol=1e-10, atol=1e-10 * scale)


def test_the_two_gate_forms_differ_in_value_on_a_trained_net():
    """The smooth form is not a reparametrisation of ours: its value at the same point is different."""
    net, X = _trained(bias=True)
    y = torch.where(torch.arange(8) % 2 == 0, 1.0, -1.0).to(torch.float64)
    lam = torch.full((8,), 0.5, dtype=torch.float64)
    smooth = kkt.kkt_loss(net, X, y, lam, gate=ALPHA, gate_form="smooth")
    straight = kkt.kkt_loss(net, X, y, lam, gate=ALPHA, gate_form="straight_through")
    exact = kkt.kkt_loss(net, X, y, lam)
    assert straight.item() == pytest.approx(exact.item(), rel=1e-12)
    assert abs(smooth.item() - exact.item()) > 1e-6 * exact.item()
