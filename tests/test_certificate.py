"""Claims about reconleak_core.certificate: exact on a KKT point, invariant under rescaling, tensors out, no cycle."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reconleak_core import certificate as certificate_module
from reconleak_core import kkt, models, train
from reconleak_core.certificate import certificate
from reconleak_core.data import sphere


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_kkt_does_not_import_certificate():
    """certificate builds on kkt, never the reverse: importing kkt leaves certificate unimported (no cycle)."""
    code = "import reconleak_core.kkt, sys; assert 'reconleak_core.certificate' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_certificate_arrays_are_float64_cpu_tensors():
    net, X, y, _ = kkt.simplex_kkt_point(4)
    cert = certificate(net, X, y)
    for name in ("lam", "margins"):
        value = getattr(cert, name)
        assert isinstance(value, torch.Tensor) and value.dtype == torch.float64 and value.device.type == "cpu"
    assert cert.support.dtype == torch.int64 and cert.support.tolist() == [0, 1, 2, 3]


def test_a_subclass_registered_as_none_gets_the_generic_certificate(monkeypatch):
    """CLARKE_FORMS[cls] = None opts a class out of the Clarke-gate fit (no kink pairs), as the protocol says."""

    class Plain(models.TwoLayerReLU):
        pass

    X, y = sphere(20, 50, subspace_dim=10, seed=0)
    net = models.TwoLayerReLU(50, 100, init_scale=0.1, seed=0)
    train.train_max_margin(net, X, y, steps=2000, progress=False)
    plain = Plain(50, 100)
    plain.load_state_dict(net.state_dict())
    assert certificate_module.clarke_form(plain) is certificate_module.clarke_form(net) is not None
    monkeypatch.setitem(certificate_module.CLARKE_FORMS, Plain, None)
    assert certificate_module.clarke_form(plain) is None
    assert certificate(net, X, y).kinks > 0 and certificate(plain, X, y).kinks == 0


def test_certificate_with_the_gram_operator_equals_the_dense_one(monkeypatch):
    """Above ``_DENSE_GRAM_LIMIT`` columns the Gram matrix is an operator (``_ClarkeGram``), never stored."""
    X, y = sphere(20, 50, subspace_dim=10, seed=0)
    net = models.TwoLayerReLU(50, 100, init_scale=0.1, seed=0)
    train.train_max_margin(net, X, y, steps=4000, progress=False)
    dense = certificate(net, X, y)
    assert dense.kinks > 100   # measured 321 kink pairs
    monkeypatch.setattr("reconleak_core.certificate._DENSE_GRAM_LIMIT", 0)
    block = certificate(net, X, y)
    assert block.kinks == dense.kinks
    assert block.eps_rel == pytest.approx(dense.eps_rel, rel=1e-10)
    assert (block.lam - dense.lam).abs().max() <= 1e-10 * dense.lam.max()


@pytest.mark.parametrize("n,d", [(2, 2), (5, 5), (7, 12)])
def test_certificate_is_exact_on_simplex_kkt_point(n, d):
    net, X, y, lam = kkt.simplex_kkt_point(n, d)
    torch.testing.assert_close(kkt.stationarity_sum(net, X, y, lam), models.parameter_vector(net).detach(),
                               rtol=0, atol=1e-12)
    cert = certificate(net, X, y)
    assert cert.eps < 1e-10 and abs(cert.delta) < 1e-10
    assert abs(cert.margins - 1).max() < 1e-12
    assert abs(cert.lam - 1).max() < 1e-10
    assert cert.support.tolist() == list(range(n))
    assert cert.kinks == 0


@settings(max_examples=10, deadline=None)
@given(scale=st.floats(0.05, 20.0), seed=st.integers(0, 1000))
def test_certificate_is_invariant_under_rescaling_theta(scale, seed):
    net, X, y, _ = kkt.simplex_kkt_point(5, 8)
    g = _gen(seed)
    with torch.no_grad():  # a separating net near, but not at, the exact KKT point
        net.W.add_(0.05 * torch.randn(net.W.shape, dtype=torch.float64, generator=g))
        net.v.add_(0.05 * torch.randn(net.v.shape, dtype=torch.float64, generator=g))
    scaled = models.TwoLayerReLU(8, 5)
    scaled.load_state_dict({k: p * scale for k, p in net.state_dict().items()})
    a, b = certificate(net, X, y), certificate(scaled, X, y)
    assert a.eps_rel == pytest.approx(b.eps_rel, rel=1e-6, abs=1e-10)
    assert a.delta == pytest.approx(b.delta, rel=1e-6, abs=1e-10)


def test_certificate_eps_decreases_as_training_goes_on():
    X, y = sphere(6, 30, seed=0)
    net = models.TwoLayerReLU(30, 20, init_scale=0.1, seed=0)
    train.train_max_margin(net, X, y, steps=300, progress=False)
    early = certificate(net, X, y)
    train.train_max_margin(net, X, y, steps=1700, progress=False)
    late = certificate(net, X, y)
    assert late.eps_rel < 0.7 * early.eps_rel
    assert late.delta < early.delta


def _sorted_projection(z, n, owner):
    """Reference: the projection by sorting each point's kink values (the largest candidate mean is λ)."""
    a, b = z[:n], z[n:]
    lam = np.empty(n)
    for i in range(n):
        values = -np.sort(-b[owner == i])
        means = (a[i] + np.cumsum(values)) / (2.0 + np.arange(len(values)))
        lam[i] = max(a[i], *means, 0.0)
    return np.concatenate([lam, np.clip(b, 0.0, lam[owner])])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(0, 30), st.integers(0, 10_000))
def test_clarke_projection_equals_the_sorted_one_and_is_a_projection(n, k, seed):
    """Michelot's iteration gives the sort-based projection onto {λ ≥ 0, 0 ≤ μ ≤ λ_owner}, and it is one:
    feasible, and no random feasible point is closer to z."""
    rng = np.random.default_rng(seed)
    owner = rng.integers(0, n, size=k)
    z = rng.standard_normal(n + k) * rng.choice([0.1, 1.0, 10.0])
    p = certificate_module._project_clarke(z, n, owner)
    np.testing.assert_allclose(p, _sorted_projection(z, n, owner), rtol=1e-12, atol=1e-12)
    lam, mu = p[:n], p[n:]
    assert (lam >= 0).all() and (mu >= 0).all() and (mu <= lam[owner]).all()
    lam_q = np.abs(rng.standard_normal((200, n))) * 3
    mu_q = rng.random((200, k)) * lam_q[:, owner]
    distances = np.linalg.norm(np.concatenate([lam_q, mu_q], 1) - z, axis=1)
    assert np.linalg.norm(p - z) <= distances.min() + 1e-12
