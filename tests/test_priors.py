"""Claims of the prior protocol (reconleak_core.priors): a prior written outside the library plugs into the attack.

The module's docstring example (a ball prior) runs as a doctest; a second user-defined prior, defined here and
not subclassing anything of the library, runs through ``reconstruct`` and ``reconstruct_batch``.
"""

import doctest

import pytest
import torch

from reconleak_core import attack, kkt, priors


def test_priors_module_doctest_example_runs():
    failures, tried = doctest.testmod(priors, raise_on_error=False, verbose=False)
    assert tried > 0 and failures == 0


def test_attack_reexports_the_priors_of_the_priors_module():
    assert attack.Box is priors.Box and attack.Sphere is priors.Sphere and attack.Shift is priors.Shift


class HalfSpace:
    """x · normal ≥ offset (a user's prior: only the protocol's members, no library base class)."""

    def __init__(self, normal, offset=0.0, enforce="project"):
        self.normal = torch.as_tensor(normal, dtype=torch.float64)
        self.offset = torch.as_tensor(offset, dtype=torch.float64)
        self.enforce = enforce

    def _short(self, X):
        unit = self.normal.to(X) / self.normal.to(X).norm(dim=-1, keepdim=True)
        return torch.relu(self.offset.to(X) - (X * unit).sum(-1, keepdim=True)), unit

    def penalty(self, X):
        return (self._short(X)[0] ** 2).sum((-1, -2))

    def project(self, X):
        short, unit = self._short(X)
        return X + short * unit

    def center(self):
        return None

    def check(self, d):
        if self.normal.shape != (d,):
            raise ValueError(f"HalfSpace.normal must have shape ({d},)")

    @classmethod
    def stack(cls, members, *, d, dtype, device):
        normal = torch.stack([p.normal for p in members]).unsqueeze(1)            # (K, 1, d)
        offset = torch.stack([p.offset for p in members]).reshape(-1, 1, 1)      # (K, 1, 1)
        return cls(normal.to(dtype=dtype, device=device), offset.to(dtype=dtype, device=device), members[0].enforce)


@pytest.fixture(scope="module")
def simplex():
    net, X, y, _ = kkt.simplex_kkt_point(4, 4)
    return net, X, y


def test_user_defined_prior_is_enforced_by_reconstruct(simplex):
    net, _, _ = simplex
    normal = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    result = attack.reconstruct(net, 4, prior=HalfSpace(normal, 0.3), init_scale=1.0, steps=30, seed=0)
    assert (result.candidates[:, 0] >= 0.3 - 1e-12).all()
    assert result.members[0]["prior"].offset == 0.3


def test_user_defined_penalty_prior_changes_the_loss_by_its_weight(simplex):
    net, _, _ = simplex
    prior = HalfSpace(torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64), 10.0, enforce="penalty")
    plain = attack.reconstruct(net, 4, steps=0, seed=0)
    with_prior = attack.reconstruct(net, 4, prior=prior, steps=0, seed=0)
    expected = prior.penalty(plain.candidates.unsqueeze(0))[0]
    assert torch.isclose(torch.as_tensor(with_prior.history[0] - plain.history[0]), expected, rtol=1e-12)


def test_user_defined_prior_in_a_batch_equals_each_member_run_alone(simplex):
    net, _, _ = simplex
    members = [HalfSpace(torch.eye(4, dtype=torch.float64)[k], 0.2 * k) for k in range(3)]
    batch = attack.reconstruct_batch(net, 4, prior=members, seeds=[0, 1, 2], init_scale=1.0, steps=30)
    for k, prior in enumerate(members):
        alone = attack.reconstruct(net, 4, prior=prior, seed=k, init_scale=1.0, steps=30)
        assert torch.allclose(batch.member(k).candidates, alone.candidates, atol=1e-10)
        assert (batch.candidates[k, :, k] >= 0.2 * k - 1e-12).all()


def test_an_object_without_the_protocol_is_refused_naming_what_it_lacks(simplex):
    net, _, _ = simplex
    with pytest.raises(TypeError, match="prior protocol.*without .*stack"):
        attack.reconstruct(net, 4, prior=object(), steps=1)
    with pytest.raises(ValueError, match=r"HalfSpace.normal must have shape \(4,\)"):
        attack.reconstruct(net, 4, prior=HalfSpace(torch.ones(3)), steps=1)


def test_shift_accepts_a_user_defined_inner_prior(simplex):
    net, _, _ = simplex
    offset = torch.full((4,), 5.0, dtype=torch.float64)
    inner = HalfSpace(torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64), 0.0)
    result = attack.reconstruct(net, 4, prior=priors.Shift(offset, inner), steps=10, seed=0)
    assert (result.candidates[:, 0] >= 5.0 - 1e-12).all()


@pytest.mark.parametrize("prior", [priors.Box(0.0, 1.0), priors.Box(torch.linspace(-1, 0, 5), 0.5),
                                   priors.Shift(torch.full((5,), 0.7), priors.Box(0.0, 1.0)),
                                   priors.Shift(torch.zeros(5))])
def test_closed_form_penalty_gradient_is_autogradients_to_the_last_bit(prior):
    X = torch.randn(3, 7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2
    penalty, grad = prior.penalty_and_grad(X)
    Xg = X.clone().requires_grad_(True)
    reference = prior.penalty(Xg)
    expected = torch.autograd.grad(reference.sum(), Xg)[0] if reference.requires_grad else torch.zeros_like(X)
    assert torch.equal(penalty, reference.detach()) and torch.equal(grad, expected)


def test_penalty_and_grad_falls_back_to_autograd_for_a_prior_without_the_member():
    class Quadratic:   # only the required members; no penalty_and_grad
        enforce = "penalty"

        def penalty(self, X):
            return (X ** 2).sum((-1, -2))

    X = torch.randn(2, 3, 4, dtype=torch.float64)
    penalty, grad = priors.penalty_and_grad(Quadratic(), X)
    assert torch.equal(grad, 2 * X) and torch.allclose(penalty, (X ** 2).sum((-1, -2)))


# ----------------------------------------------------------------------- sample: the prior's own null draws
def test_box_samples_are_uniform_in_the_box_per_coordinate():
    lo, hi = torch.linspace(-1, 0, 4), torch.linspace(0.5, 2, 4)
    S = priors.Box(lo, hi).sample(20_000, 4, generator=torch.Generator().manual_seed(0))
    assert S.shape == (20_000, 4) and S.dtype == torch.float64
    assert (S >= lo).all() and (S <= hi).all()
    assert torch.allclose(S.mean(0), ((lo + hi) / 2).double(), atol=0.02)
    assert torch.allclose(S.var(0), ((hi - lo) ** 2 / 12).double(), rtol=0.05)


def test_sphere_samples_fill_the_sphere_of_the_radius_uniformly():
    S = priors.Sphere(2.0).sample(20_000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    assert S.shape == (20_000, 3) and S.dtype == torch.float32
    assert torch.allclose(S.norm(dim=1), torch.full((20_000,), 2.0), atol=1e-5)
    assert S.mean(0).abs().max() < 0.05 and torch.allclose(S.pow(2).mean(0), torch.full((3,), 4 / 3), atol=0.05)


def test_shift_samples_are_the_inner_samples_moved_by_the_offset():
    offset = torch.tensor([5.0, -2.0, 0.5])
    shifted = priors.Shift(offset, priors.Box(0.0, 1.0)).sample(7, 3, generator=torch.Generator().manual_seed(3))
    inner = priors.Box(0.0, 1.0).sample(7, 3, generator=torch.Generator().manual_seed(3))
    assert torch.equal(shifted, inner + offset.double())


def test_samples_are_reproducible_from_the_generator():
    draw = lambda seed: priors.Sphere().sample(5, 4, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(1), draw(1)) and not torch.equal(draw(1), draw(2))


@pytest.mark.parametrize("prior, d, error, match", [
    (priors.Box(0.0, float("inf")), 3, ValueError, "bounded"),
    (priors.Box(torch.zeros(4), 1.0), 3, ValueError, "shape"),
    (priors.Sphere(), 0, ValueError, "d must be"),
    (priors.Shift(torch.zeros(3)), 3, ValueError, "nothing to sample"),
    (priors.Shift(torch.zeros(3), HalfSpace(torch.ones(3), 0.0)), 3, TypeError, "no sample method"),
])
def test_sample_refuses_priors_without_a_distribution_and_bad_arguments(prior, d, error, match):
    with pytest.raises(error, match=match):
        prior.sample(4, d)
