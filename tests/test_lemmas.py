"""Claims of the lemmas module: merging (Lemma 2), splitting (Lemma 3), far KKT sets (Theorems 4, 5, 8, 9)."""

import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reconleak_core import data, kkt, lemmas, models, train
from reconleak_core.certificate import certificate

STEPS = 1500
REL = 1e-10
NOISE = (1e-1, 1e-3, 1e-5)   # off-subspace noise levels; 100× apart so near-kink neurons cannot blur the trend


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def _trained(X_train, y, span, seed=0, steps=STEPS):
    net = models.TwoLayerReLU(X_train.shape[1], 40, init_scale=0.1, span=span, seed=seed)
    train.train_max_margin(net, X_train, y, steps=steps, progress=False)
    return kkt.normalize_margin(net, X_train, y)


def _subspace_set(in_span: bool):
    """12 points on a 5-dim subspace of ℝ¹⁰, a trained normalised net and its certificate's multipliers."""
    X, y = data.sphere(12, 10, subspace_dim=5, seed=0)
    net = _trained(X, y, span=X if in_span else None)
    return net, X, y, certificate(net, X, y).lam


@pytest.fixture(scope="module")
def subspace_kkt():
    """Net initialised in the data span (Theorem 4's setting): budgets off the span are infinite."""
    return _subspace_set(in_span=True)


@pytest.fixture(scope="module")
def offspan_kkt():
    """Initialisation outside the data span: W keeps an off-span component, the budget is finite."""
    return _subspace_set(in_span=False)


def _margin_pair(net, X, y, i, k, frac):
    """A set with one extra point x' = xᵢ + s·ν in xᵢ's region and on its margin (ν the k-th splitting direction)."""
    nu = lemmas.splitting_directions(net, X, y, i)[k]
    s = frac * min(lemmas.split_budget(net, X[i], nu, side="plus"), 1.0)   # the budget is inf off the data span
    return X[i] + s * nu


# ------------------------------------------------------------------------------------------- merging
def test_merge_preserves_stationarity_sum_and_margins(subspace_kkt):
    net, X, y, lam = subspace_kkt
    i = int(torch.argmax(lam))
    x_new = _margin_pair(net, X, y, i, k=0, frac=0.5)
    X2, y2, lam2 = torch.cat([X, x_new[None]]), torch.cat([y, y[i:i + 1]]), torch.cat([lam, lam.new_tensor([0.7])])
    Xm, ym, lm = lemmas.merge(net, X2, y2, lam2, i, X2.shape[0] - 1)
    assert Xm.shape == X.shape and torch.equal(ym, y)
    assert _rel(kkt.stationarity_sum(net, Xm, ym, lm), kkt.stationarity_sum(net, X2, y2, lam2)) < REL
    q2, qm = kkt.margins(net, X2, y2), kkt.margins(net, Xm, ym)
    expected = (lam2[i] * q2[i] + lam2[-1] * q2[-1]) / (lam2[i] + lam2[-1])
    assert abs(qm[i] - expected) < 1e-10
    assert abs(qm[i] - q2[i]) < 1e-10          # both on xᵢ's margin ⇒ the merged point too
    others = [k for k in range(X.shape[0]) if k != i]
    assert torch.equal(Xm[others], X[others])   # documented order: x̄ at min(i, j), the rest unchanged


def test_mergeable_pairs_are_exactly_the_pairs_merge_accepts(subspace_kkt):
    net, X, y, lam = subspace_kkt
    i = int(torch.argmax(lam))
    X2 = torch.cat([X, _margin_pair(net, X, y, i, k=0, frac=0.5)[None]])
    y2, lam2 = torch.cat([y, y[i:i + 1]]), torch.cat([lam, lam.new_tensor([0.7])])
    pairs = lemmas.mergeable_pairs(net, X2, y2)
    assert (i, X2.shape[0] - 1) in pairs
    for a in range(X2.shape[0]):
        for b in range(a + 1, X2.shape[0]):
            if (a, b) in pairs:
                lemmas.merge(net, X2, y2, lam2, a, b)
            else:
                with pytest.raises(ValueError, match="labels differ|patterns differ"):
                    lemmas.merge(net, X2, y2, lam2, a, b)
    with pytest.raises(ValueError, match="labels must be ±1"):
        lemmas.mergeable_pairs(net, X2, torch.zeros_like(y2))


def test_merge_refuses_different_labels(subspace_kkt):
    net, X, y, lam = subspace_kkt
    j = int(torch.nonzero(y != y[0])[0])
    with pytest.raises(ValueError, match="labels differ"):
        lemmas.merge(net, X, y, lam, 0, j)


def test_merge_refuses_different_patterns(subspace_kkt):
    net, X, y, lam = subspace_kkt
    patterns = net.activation_pattern(X)
    same_label = [k for k in range(1, X.shape[0]) if y[k] == y[0] and not torch.equal(patterns[k], patterns[0])]
    assert same_label, "fixture should contain same-label points with different patterns"
    with pytest.raises(ValueError, match=r"activation patterns differ at neurons \["):
        lemmas.merge(net, X, y, lam, 0, same_label[0])


@settings(max_examples=15, deadline=None)
@given(i=st.integers(0, 11), k=st.integers(0, 8), frac=st.floats(0.01, 0.99), mu=st.floats(0.0, 5.0))
def test_merge_preserves_stationarity_sum_for_same_pattern_pairs(subspace_kkt, i, k, frac, mu):
    net, X, y, lam = subspace_kkt
    x_new = _margin_pair(net, X, y, i, k, frac)
    X2, y2, lam2 = torch.cat([X, x_new[None]]), torch.cat([y, y[i:i + 1]]), torch.cat([lam, lam.new_tensor([mu])])
    Xm, ym, lm = lemmas.merge(net, X2, y2, lam2, X2.shape[0] - 1, i)
    assert _rel(kkt.stationarity_sum(net, Xm, ym, lm), kkt.stationarity_sum(net, X2, y2, lam2)) < REL


# ----------------------------------------------------------------------------------------- splitting
def test_split_preserves_stationarity_sum_and_margins(subspace_kkt):
    net, X, y, lam = subspace_kkt
    i = int(torch.argmax(lam))
    nu = lemmas.splitting_directions(net, X, y, i)[0]
    t = lemmas.split_budget(net, X[i], nu)
    alpha, beta = 0.3 * min(t, 5.0), 0.8 * min(t, 5.0)
    Xs, ys, ls = lemmas.split(net, X, y, lam, i, nu, alpha=alpha, beta=beta)
    assert Xs.shape[0] == X.shape[0] + 1
    assert torch.allclose(Xs[i], X[i] + alpha * nu) and torch.allclose(Xs[-1], X[i] - beta * nu)
    assert abs(ls[i] - lam[i] * beta / (alpha + beta)) < 1e-14 and abs(ls[-1] - lam[i] * alpha / (alpha + beta)) < 1e-14
    assert _rel(kkt.stationarity_sum(net, Xs, ys, ls), kkt.stationarity_sum(net, X, y, lam)) < REL
    q, qs = kkt.margins(net, X, y), kkt.margins(net, Xs, ys)
    assert abs(qs[i] - q[i]) < 1e-10 and abs(qs[-1] - q[i]) < 1e-10


@settings(max_examples=20, deadline=None)
@given(i=st.integers(0, 11), k=st.integers(0, 8), a=st.floats(0.01, 0.99), b=st.floats(0.01, 0.99))
def test_split_preserves_stationarity_sum_for_all_steps_within_budget(offspan_kkt, i, k, a, b):
    net, X, y, lam = offspan_kkt           # finite budgets: the steps really range over the whole region
    nu = lemmas.splitting_directions(net, X, y, i)[k]
    # a side on which every neuron moves away from its kink has an infinite budget: step at most 10 there
    alpha = a * min(lemmas.split_budget(net, X[i], nu, side="plus"), 10.0)
    beta = b * min(lemmas.split_budget(net, X[i], nu, side="minus"), 10.0)
    Xs, ys, ls = lemmas.split(net, X, y, lam, i, nu, alpha=alpha, beta=beta)
    assert _rel(kkt.stationarity_sum(net, Xs, ys, ls), kkt.stationarity_sum(net, X, y, lam)) < REL
    assert (kkt.margins(net, Xs, ys)[[i, -1]] - kkt.margins(net, X, y)[i]).abs().max() < 1e-10


def test_split_refuses_pattern_changing_step(offspan_kkt):
    net, X, y, lam = offspan_kkt
    nu = lemmas.splitting_directions(net, X, y, 0)[0]
    t_plus = lemmas.split_budget(net, X[0], nu, side="plus")
    with pytest.raises(ValueError, match=r"alpha = .* changes the activation pattern .* exceeded by"):
        lemmas.split(net, X, y, lam, 0, nu, alpha=1.5 * t_plus, beta=0.5 * t_plus)
    t_minus = lemmas.split_budget(net, X[0], nu, side="minus")
    with pytest.raises(ValueError, match=r"beta = .* budget is"):
        lemmas.split(net, X, y, lam, 0, nu, alpha=0.5 * t_plus, beta=t_minus * (1 + 1e-6))
    lemmas.split(net, X, y, lam, 0, nu, alpha=0.5 * t_plus, beta=t_minus * (1 - 1e-6))   # just inside: accepted


def test_split_refuses_invalid_arguments(subspace_kkt):
    net, X, y, lam = subspace_kkt
    nu = lemmas.splitting_directions(net, X, y, 0)[0]
    with pytest.raises(ValueError, match="alpha must be a positive"):
        lemmas.split(net, X, y, lam, 0, nu, alpha=0.0, beta=0.1)
    with pytest.raises(ValueError, match="beta must be a positive"):
        lemmas.split(net, X, y, lam, 0, nu, alpha=0.1, beta=-1.0)
    with pytest.raises(ValueError, match="zero vector"):
        lemmas.split(net, X, y, lam, 0, torch.zeros(10, dtype=torch.float64), alpha=0.1, beta=0.1)
    with pytest.raises(ValueError, match="out of range"):
        lemmas.split(net, X, y, lam, 12, nu, alpha=0.1, beta=0.1)
    with pytest.raises(ValueError, match="non-negative"):
        lemmas.split(net, X, y, -lam, 0, nu, alpha=0.1, beta=0.1)
    u = net.v.detach() * (net.pre_activations(X[0]) > 0) @ net.W.detach()   # ∇ₓΦ(x₀): moves the margin
    with pytest.raises(ValueError, match="not margin-preserving"):
        lemmas.split(net, X, y, lam, 0, u / u.norm(), alpha=1e-6, beta=1e-6)


def test_split_budget_is_infinite_for_direction_orthogonal_to_W():
    net, X, y, lam = kkt.simplex_kkt_point(4, d=6)
    nu = torch.zeros(6, dtype=torch.float64)
    nu[5] = 1.0                                   # W's rows live in the first 4 coordinates: W·ν = 0 exactly
    assert lemmas.split_budget(net, X[0], nu) == math.inf
    Xs, ys, ls = lemmas.split(net, X, y, lam, 0, nu, alpha=1e6, beta=2e6)
    assert _rel(kkt.stationarity_sum(net, Xs, ys, ls), kkt.stationarity_sum(net, X, y, lam)) < REL


def test_split_budget_on_a_relu_kink_follows_the_documented_convention():
    net = models.TwoLayerReLU(2, 2, fixed_second_layer=True)
    with torch.no_grad():
        net.W.copy_(torch.eye(2, dtype=torch.float64))
    x = torch.tensor([1.0, 0.0], dtype=torch.float64)           # neuron 1 sits exactly on its kink (inactive)
    nu = torch.tensor([0.0, 1.0], dtype=torch.float64)
    assert lemmas.split_budget(net, x, nu, side="plus") == 0.0   # raising it switches it on at once
    assert lemmas.split_budget(net, x, nu, side="minus") == math.inf
    assert lemmas.split_budget(net, x, nu) == 0.0


def test_split_budget_is_exact(offspan_kkt):
    net, X, y, _ = offspan_kkt
    gen = torch.Generator().manual_seed(3)
    for i in range(4):
        x, p = X[i], net.activation_pattern(X[i])
        nu = torch.randn(10, generator=gen, dtype=torch.float64)
        t = lemmas.split_budget(net, x, nu)
        inside = [net.activation_pattern(x + s * t * (1 - 1e-9) * nu) for s in (1, -1)]
        outside = [net.activation_pattern(x + s * t * (1 + 1e-9) * nu) for s in (1, -1)]
        assert all(torch.equal(q, p) for q in inside)
        assert not all(torch.equal(q, p) for q in outside)
        for side, sign in (("plus", 1), ("minus", -1)):
            ts = lemmas.split_budget(net, x, nu, side=side)
            assert ts >= t
            assert torch.equal(net.activation_pattern(x + sign * ts * (1 - 1e-9) * nu), p)
            assert not torch.equal(net.activation_pattern(x + sign * ts * (1 + 1e-9) * nu), p)


def test_splitting_directions_are_orthonormal_and_keep_the_margin(offspan_kkt):
    net, X, y, _ = offspan_kkt
    V = lemmas.splitting_directions(net, X, y, 2)
    assert V.shape == (9, 10)
    assert torch.allclose(V @ V.T, torch.eye(9, dtype=torch.float64), atol=1e-12)
    for nu in V[:3]:
        t = lemmas.split_budget(net, X[2], nu)
        assert abs(net(X[2] + 0.9 * t * nu) - net(X[2])) < 1e-10
        assert abs(net(X[2] - 0.9 * t * nu) - net(X[2])) < 1e-10


def test_lemmas_reject_other_networks():
    net = models.HomogeneousMLP(4, [5])
    X, y = data.sphere(4, 4)
    with pytest.raises(TypeError, match="TwoLayerReLU"):
        lemmas.merge(net, X, y, torch.ones(4), 0, 2)
    with pytest.raises(TypeError, match="TwoLayerReLU"):
        lemmas.split_budget(net, X[0], X[1])


# ---------------------------------------------------------------------------------- far KKT sets
@pytest.mark.parametrize("r", [1.0, 10.0, 1000.0])
def test_far_kkt_set_reaches_r(subspace_kkt, r):
    net, X, y, lam = subspace_kkt
    far = lemmas.far_kkt_set(net, X, y, lam, r)
    Xf, yf, lf = far
    assert torch.cdist(Xf, X).min() > r and far.min_distance > r
    assert _rel(kkt.stationarity_sum(net, Xf, yf, lf), kkt.stationarity_sum(net, X, y, lam)) < REL
    q, qf = kkt.margins(net, X, y), kkt.margins(net, Xf, yf)
    assert qf.min() >= 1 - 1e-9
    assert (qf - q[far.parent]).abs().max() < 1e-9          # support points stay exactly on their margin
    before, after = lemmas.kkt_residuals(net, X, y, lam), lemmas.kkt_residuals(net, Xf, yf, lf)
    assert abs(after["eps"] - before["eps"]) <= 1e-9 * max(before["eps"], 1.0)
    assert abs(after["delta"] - before["delta"]) <= 1e-9 * max(abs(before["delta"]), 1.0)


def test_far_kkt_set_of_exact_kkt_point_is_exact():
    net, X, y, lam = kkt.simplex_kkt_point(4, d=6)
    Xf, yf, lf = lemmas.far_kkt_set(net, X, y, lam, 50.0)
    res = lemmas.kkt_residuals(net, Xf, yf, lf)
    assert res["eps_rel"] < 1e-12 and abs(res["delta"]) < 1e-12 and abs(res["min_margin"] - 1) < 1e-12


def test_far_kkt_set_refuses_data_spanning_the_space():
    X, y = data.sphere(12, 10, seed=1)
    net = models.TwoLayerReLU(10, 40, init_scale=0.1, span=X, seed=0)
    train.train_max_margin(net, X, y, steps=300, progress=False)
    lam = certificate(net, X, y).lam
    with pytest.raises(ValueError, match=r"data span ℝ\^10 .* can still reach distance"):
        lemmas.far_kkt_set(net, X, y, lam, 1.0)


def test_far_kkt_set_refuses_finite_budget_and_reports_reachable_distance(offspan_kkt):
    net, X, y, lam = offspan_kkt
    with pytest.raises(ValueError, match="budget is finite") as info:
        lemmas.far_kkt_set(net, X, y, lam, 1e9)
    reachable = float(re.search(r"can reach distance ([0-9.e+-]+) only", str(info.value)).group(1))
    assert 0 < reachable < 1e9
    far = lemmas.far_kkt_set(net, X, y, lam, 0.5 * reachable)    # the reported distance is really reachable
    assert far.min_distance > 0.5 * reachable


# ------------------------------------------------------------- finite budgets: Theorems 5, 8, 9
@pytest.fixture(scope="module")
def near_subspace_reach():
    """Data within noise σ of a 5-dim subspace (so spanning ℝ¹⁰), nets initialised in the subspace."""
    X0, y = data.sphere(12, 10, subspace_dim=5, seed=0)
    noise = torch.randn(12, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = {}
    for sigma in NOISE:
        X = X0 + sigma * noise
        net = models.TwoLayerReLU(10, 40, init_scale=0.1, span=X0, seed=0)
        train.train_max_margin(net, X, y, steps=STEPS, progress=False)
        net = kkt.normalize_margin(net, X, y)
        out[sigma] = (net, X, y, lemmas.achievable_split_distance(net, X, y))
    return out


def test_achievable_split_distance_grows_as_off_subspace_noise_shrinks(near_subspace_reach):
    distances = [near_subspace_reach[s][3].distance for s in NOISE]
    assert all(math.isfinite(d) and d > 0 for d in distances)
    assert distances[0] < distances[1] < distances[2]


def test_achievable_split_distance_is_reached_by_an_equally_good_kkt_set(near_subspace_reach):
    net, X, y, reach = near_subspace_reach[NOISE[1]]
    far = lemmas.split_kkt_set(net, X, y, reach=reach, fraction=0.99)
    assert 0.9 * reach.distance < far.min_distance <= reach.distance
    with pytest.raises(ValueError, match="data span"):
        lemmas.far_kkt_set(net, X, y, reach.lam, far.min_distance)
    before, after = lemmas.kkt_residuals(net, X, y, reach.lam), lemmas.kkt_residuals(net, *far)
    assert abs(after["eps"] - before["eps"]) <= 1e-10 * before["eps"]
    assert abs(after["delta"] - before["delta"]) <= 1e-10 * max(abs(before["delta"]), 1.0)
    assert after["min_margin"] >= before["min_margin"] - 1e-10


def test_split_budget_bounds_hold_for_every_margin_preserving_direction(near_subspace_reach):
    net, X, y, reach = near_subspace_reach[NOISE[1]]
    plain = lemmas.achievable_split_distance(net, X, y, reach.lam, refine_steps=0)
    support = torch.nonzero(reach.support).flatten()
    assert (reach.budgets[support] >= plain.budgets[support] * (1 - 1e-12)).all()    # refinement never loses
    assert (reach.budgets[support] <= reach.budget_bounds[support]).all()
    assert reach.distance <= reach.reach <= reach.line_upper
    gen = torch.Generator().manual_seed(0)
    for i in support[:4].tolist():
        V = lemmas.splitting_directions(net, X, y, i)
        for _ in range(20):
            nu = torch.randn(V.shape[0], generator=gen, dtype=torch.float64) @ V
            assert lemmas.split_budget(net, X[i], nu / nu.norm()) <= reach.budget_bounds[i]


@pytest.mark.parametrize("call", [
    lambda net, X, y, lam: lemmas.achievable_split_distance(net, X, y, lam),
    lambda net, X, y, lam: lemmas.split_kkt_set(net, X, y, lam),
    lambda net, X, y, lam: lemmas.split_budget(net, X[0], X[1]),
    lambda net, X, y, lam: lemmas.far_kkt_set(net, X, y, lam, 1.0),
    lambda net, X, y, lam: lemmas.mergeable_pairs(net, X, y),
    lambda net, X, y, lam: lemmas.splitting_directions(net, X, y, 0),
])
def test_lemmas_refuse_a_first_layer_bias_they_do_not_model(call):
    """With a bias the budgets of wⱼ·x alone are wrong (issue 27: 0.483 reported where 0.001 holds): refused."""
    net = models.TwoLayerReLU(4, 6, bias=True, seed=1)
    X = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="first-layer bias"):
        call(net, X, y, torch.ones(4, dtype=torch.float64))
