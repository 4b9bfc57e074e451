"""Claims about Haim et al.'s forms in the library: gate forms, penalty forms, the 1/m scale, the first-layer
bias, the ``AttackConfig.haim()`` preset, per-member sweeps, the best iterate and Haim et al.'s scoring."""

import math

import pytest
import torch
from torch import nn

from reconleak_core import attack, kkt, metrics, models
from reconleak_core.attack import AttackConfig, Box
from reconleak_core.certificate import certificate
from reconleak_core.trained_nets import NetSpec, trained_network

FORMS = [(None, "straight_through"), (2.5, "straight_through"), (2.5, "smooth")]


def _problem(batch, m, d, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(*batch, m, d, dtype=torch.float64, generator=g).requires_grad_(True)
    lam = (torch.rand(*batch, m, dtype=torch.float64, generator=g) - 0.2).requires_grad_(True)
    y = torch.where(torch.arange(m) % 2 == 0, 1.0, -1.0).to(torch.float64)
    return X, y, lam


def _loss_and_grads(net, X, y, lam, **kw):
    loss = kkt.kkt_loss(net, X, y, lam, **kw)
    return (loss, *torch.autograd.grad(loss.sum(), (X, lam)))


@pytest.mark.parametrize("gate,form", FORMS)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("fixed", [False, True])
@pytest.mark.parametrize("batch", [(), (3,)])
def test_closed_form_equals_generic_for_both_gate_forms_and_a_bias(gate, form, bias, fixed, batch):
    net = models.TwoLayerReLU(4, 7, bias=bias, fixed_second_layer=fixed, seed=1)
    X, y, lam = _problem(batch, 5, 4, seed=2)
    kw = dict(lam_min=0.3, gate=gate, gate_form=form)
    closed = _loss_and_grads(net, X, y, lam, method="closed", **kw)
    generic = _loss_and_grads(net, X, y, lam, method="generic", **kw)
    for a, b in zip(closed, generic):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    s_closed = kkt.stationarity_sum(net, X, y, lam, gate=gate, gate_form=form, method="closed")
    s_generic = kkt.stationarity_sum(net, X, y, lam, gate=gate, gate_form=form, method="generic")
    torch.testing.assert_close(s_closed, s_generic, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("gate,form", FORMS)
@pytest.mark.parametrize("bias", [False, True])
def test_hand_written_backward_equals_autograd_through_the_stationarity_sum(gate, form, bias):
    net = models.TwoLayerReLU(4, 7, bias=bias, seed=3)
    X, y, lam = _problem((2,), 6, 4, seed=4)
    ours = _loss_and_grads(net, X, y, lam, gate=gate, gate_form=form, penalty=0.0)
    theta = models.parameter_vector(net).detach()
    auto = ((theta - kkt.stationarity_sum(net, X, y, lam, gate=gate, gate_form=form)) ** 2).sum(-1)
    auto = (auto, *torch.autograd.grad(auto.sum(), (X, lam)))
    for a, b in zip(ours, auto):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_smooth_gate_on_a_deep_net_has_sigmoid_first_derivative_value():
    z = torch.tensor([-0.3, 0.2], dtype=torch.float64, requires_grad=True)
    (d1,) = torch.autograd.grad(models.soft_gate_relu(z, 4.0, "smooth").sum(), z, create_graph=True)
    torch.testing.assert_close(d1, torch.sigmoid(4.0 * z).detach(), rtol=1e-14, atol=1e-14)
    (d2,) = torch.autograd.grad(d1.sum(), z)
    s = torch.sigmoid(4.0 * z.detach())
    torch.testing.assert_close(d2, 4.0 * s * (1 - s), rtol=1e-14, atol=1e-14)
    net = models.HomogeneousMLP(3, [4, 5], seed=1)
    X, y, lam = _problem((), 4, 3, seed=5)
    assert kkt.kkt_loss(net, X, y, lam, gate=3.0, gate_form="smooth").item() != pytest.approx(
        kkt.kkt_loss(net, X, y, lam).item(), rel=1e-8)


@pytest.mark.parametrize("form", ["linear", "squared"])
def test_a_multiplier_set_on_one_scale_gives_the_same_loss_on_the_other(form):
    """λ on the mean scale is m·λ on the sum scale (lam_min too); weights map by 1/m (linear) or 1/m² (squared)."""
    net = models.TwoLayerReLU(4, 6, bias=True, seed=6)
    X, y, lam = _problem((), 5, 4, seed=7)
    m = 5
    on_sum = kkt.kkt_loss(net, X, y, lam, lam_min=0.2, penalty=3.0, penalty_form=form, gate=10.0)
    power = 1 if form == "linear" else 2
    on_mean = kkt.kkt_loss(net, X, y, m * lam, lam_min=m * 0.2, penalty=3.0 / m**power, penalty_form=form,
                           lam_scale="mean", gate=10.0)
    torch.testing.assert_close(on_mean, on_sum, rtol=1e-12, atol=1e-12)


def test_squared_penalty_is_haims_hinge_squared():
    net = models.TwoLayerReLU(2, 3, seed=0)
    X = torch.zeros(3, 2, dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    lam = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64)
    base = kkt.kkt_loss(net, X, y, lam, penalty=0.0)
    squared = kkt.kkt_loss(net, X, y, lam, lam_min=1.0, penalty=5.0, penalty_form="squared")
    assert (squared - base).item() == pytest.approx(5 * (1.0 + 0.25), rel=1e-12)


def test_per_member_gate_and_lam_min_tensors_equal_separate_losses():
    net = models.TwoLayerReLU(4, 6, bias=True, seed=8)
    X, y, lam = _problem((3,), 5, 4, seed=9)
    gates, mins = [5.0, 50.0, 300.0], [0.0, 0.3, 1.0]
    for form in ("straight_through", "smooth"):
        batched = kkt.kkt_loss(net, X, y, lam, gate=torch.tensor(gates, dtype=torch.float64),
                                 lam_min=torch.tensor(mins, dtype=torch.float64), gate_form=form)
        single = torch.stack([kkt.kkt_loss(net, X[k], y, lam[k], gate=gates[k], lam_min=mins[k], gate_form=form)
                              for k in range(3)])
        torch.testing.assert_close(batched, single, rtol=1e-12, atol=1e-12)


def test_first_layer_bias_keeps_the_net_two_homogeneous():
    net = models.TwoLayerReLU(5, 8, bias=True, seed=2)
    assert [name for name, _ in net.named_parameters()] == ["W", "b", "v"]
    assert models.homogeneity_degree(net) == 2
    assert models.homogeneity_degree(models.TwoLayerReLU(5, 8, bias=True, fixed_second_layer=True)) == 1
    plain = models.TwoLayerReLU(5, 8, seed=2)
    torch.testing.assert_close(net.W, plain.W)
    torch.testing.assert_close(net.v, plain.v)


def test_a_bias_after_the_first_layer_is_rejected_with_its_own_message():
    later = nn.Sequential(nn.Linear(5, 3, bias=False), nn.ReLU(), nn.Linear(3, 1))
    with pytest.raises(ValueError, match="bias after the first layer breaks homogeneity"):
        models.homogeneity_degree(later)
    first = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 1, bias=False))
    with pytest.raises(ValueError, match="TwoLayerReLU"):
        models.homogeneity_degree(first)


def test_biased_net_normalises_its_margin_and_certificate_says_it_is_unsupported():
    from reconleak_core import train
    from reconleak_core.data import sphere

    X, y = sphere(6, 4, seed=1)
    net = models.TwoLayerReLU(4, 12, init_scale=0.5, bias=True, seed=1)
    train.train_max_margin(net, X, y, steps=300, progress=False)
    hat = kkt.normalize_margin(net, X, y)
    assert kkt.margins(hat, X, y).min().item() == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="first-layer bias"):
        certificate(net, X, y)


def test_gate_and_scale_options_are_checked():
    net = models.TwoLayerReLU(3, 4)
    X, y, lam = _problem((), 2, 3, seed=0)
    for kw, match in [(dict(gate_form="soft"), "gate_form"), (dict(gate_form="smooth"), "needs a gate slope"),
                      (dict(penalty_form="cubic"), "penalty_form"), (dict(lam_scale="max"), "lam_scale"),
                      (dict(gate=torch.tensor([1.0, -1.0])), "positive"), (dict(lam_min=float("nan")), "finite")]:
        with pytest.raises(ValueError, match=match):
            kkt.kkt_loss(net, X, y, lam, **kw)
    for kw, match in [(dict(gate_form="soft"), "gate_form"), (dict(gate=None, gate_form="smooth"), "smooth"),
                      (dict(lam_penalty_form="x"), "lam_penalty_form"), (dict(lam_scale="x"), "lam_scale"),
                      (dict(lam_init=(1.0, 0.0)), "lam_init")]:
        with pytest.raises(ValueError, match=match):
            AttackConfig(**kw)
    with pytest.raises(TypeError, match="return_best"):  # a wrong kind of value is a TypeError (checks.check_bool)
        AttackConfig(return_best=1)


# ----------------------------------------------------------------------------------------------- attack
@pytest.fixture(scope="module")
def book_net():
    """The book's standard trained network (sphere data, width 100), margin-normalised."""
    tn = trained_network(NetSpec(), device="cpu", cache=False)
    return kkt.normalize_margin(tn.net, tn.X, tn.y), tn.X


def test_haim_preset_reproduces_their_defaults():
    c = AttackConfig.haim()
    assert (c.optimizer, c.momentum, c.lr, c.lam_lr, c.init_scale) == ("sgd", 0.9, 1e-4, 1e-4, 1e-9)
    assert (c.gate, c.gate_form, c.lam_penalty_form, c.lam_penalty, c.lam_scale) == (
        300.0, "smooth", "squared", 5.0, "mean")
    assert (c.lam_min, c.lam_init, c.steps) == (0.05, (0.0, 1.0), 50_000)
    assert AttackConfig.haim(steps=10).steps == 10


def test_haim_preset_does_not_diverge_on_a_trained_book_net_and_lowers_its_loss(book_net):
    net, _ = book_net
    for lr in (1e-4, 1e-3):
        result = attack.reconstruct_batch(net, 40, seeds=[0, 1], prior=Box(), config=AttackConfig.haim(steps=300),
                                          lr=lr, lam_lr=lr, device="cpu")
        assert torch.isfinite(result.candidates).all()
        assert (result.history[-1] < result.history[0]).all()


def test_sweep_member_k_equals_the_single_attack_with_its_gate_and_lam_min(book_net):
    net, _ = book_net
    gates, mins = [100.0, 300.0, 300.0], [0.05, 0.05, 0.4]
    config = AttackConfig(steps=40, gate_form="smooth")
    batch = attack.reconstruct_batch(net, 10, seeds=[3, 4, 5], gate=gates, lam_min=mins, config=config, device="cpu")
    for k in range(3):
        single = attack.reconstruct(net, 10, seed=3 + k, config=config, gate=gates[k], lam_min=mins[k], device="cpu")
        member = batch.member(k)
        torch.testing.assert_close(member.candidates, single.candidates, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(member.lam, single.lam, rtol=1e-10, atol=1e-10)
        assert (member.members[0]["gate"], member.members[0]["lam_min"]) == (gates[k], mins[k])


def test_return_best_returns_the_lowest_loss_iterate(book_net):
    net, _ = book_net
    snapshots = {}
    result = attack.reconstruct_batch(net, 10, seeds=[0, 1], steps=60, lr=0.2, return_best=True, device="cpu",
                                      callback=lambda t, s: snapshots.setdefault(t, s), callback_every=1)
    for k in range(2):
        step = result.members[k]["step"]
        assert result.history[step, k] == result.history[:, k].min()
        torch.testing.assert_close(result.candidates[k], snapshots[step].candidates[k], rtol=0, atol=0)
        torch.testing.assert_close(result.kkt[k], snapshots[step].loss[k], rtol=0, atol=0)


def test_lam_init_sets_the_initial_multipliers_without_changing_the_candidates(book_net):
    net, _ = book_net
    seen = {}
    for init in ((0.0, 1.0), 0.7, (2.0, 3.0)):
        attack.reconstruct(net, 6, seed=2, steps=0, lam_init=init, device="cpu",
                           callback=lambda t, s, init=init: seen.setdefault(init, s))
    torch.testing.assert_close(seen[0.7].lam, torch.full((6,), 0.7, dtype=torch.float64))
    torch.testing.assert_close(seen[(2.0, 3.0)].lam, 2.0 + seen[(0.0, 1.0)].lam)
    torch.testing.assert_close(seen[0.7].candidates, seen[(0.0, 1.0)].candidates)


# ---------------------------------------------------------------------------------------------- scoring
def _images(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 64, dtype=torch.float64, generator=g)


def test_ncc_distance_is_a_function_of_the_correlation_and_ignores_brightness_and_contrast():
    A, B = _images(3, 0), _images(4, 1)
    D = metrics.ncc_distances(A, B)
    corr = torch.corrcoef(torch.cat([A, B]))[:3, 3:]
    torch.testing.assert_close(D, 2 * 63 / 64 * (1 - corr), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(metrics.ncc_distances(A, 3 * B + 1), D, rtol=1e-12, atol=1e-12)


def test_haim_score_is_zero_for_rescaled_copies_and_picks_neighbours_by_ncc():
    T = _images(5, 2)
    T = (T - T.min(1, keepdim=True).values) / (T.max(1, keepdim=True).values - T.min(1, keepdim=True).values)
    mean = T.mean(0)
    rec = torch.cat([_images(3, 3) - 0.5, 4 * T + 0.3 - mean])   # centred copies at another contrast and offset
    for scale in (0.5, 1.0):
        s = metrics.haim_score(T - mean, rec, image_shape=(1, 8, 8), mean=mean, k=5, search_scale=scale)
        assert s.score == pytest.approx(0.0, abs=1e-12)
        assert sorted(s.rec_index.tolist()) == [3, 4, 5, 6, 7]
        torch.testing.assert_close(s.images.reshape(5, -1), T[s.train_index], rtol=1e-12, atol=1e-12)


def test_haim_score_vote_mean_averages_near_equal_neighbours():
    T = _images(2, 4)
    noise = 0.01 * (_images(2, 5) - 0.5)
    rec = torch.cat([T[0:1] + noise[0], T[0:1] - noise[0], T[1:2]])
    plain = metrics.haim_score(T, rec, image_shape=(1, 8, 8), k=2, search_scale=1.0)
    voted = metrics.haim_score(T, rec, image_shape=(1, 8, 8), k=2, search_scale=1.0, vote="mean")
    assert voted.dssim.max() <= plain.dssim.max() + 1e-15
    with pytest.raises(ValueError, match="vote"):
        metrics.haim_score(T, rec, image_shape=(1, 8, 8), k=2, vote="mode")


def test_candidate_neighbours_keeps_at_most_max_per_nn_per_training_image():
    T = _images(3, 6)
    rec = torch.cat([T[0:1] + 0.01 * k * (_images(1, 10 + k) - 0.5) for k in range(4)] + [T[1:2] + 0.02])
    all_ = metrics.candidate_neighbours(rec, T)
    assert all_.train_index.tolist().count(0) == 4
    dedup = metrics.candidate_neighbours(rec, T, max_per_nn=2)
    assert dedup.train_index.tolist().count(0) == 2 and 1 in dedup.train_index.tolist()
    assert (dedup.distance[1:] >= dedup.distance[:-1]).all()
    l2 = metrics.candidate_neighbours(rec, T, metric="l2", max_per_nn=1)
    assert len(l2.rec_index) == 2 and not math.isnan(l2.distance.sum().item())


def test_attack_runs_on_a_net_with_a_first_layer_bias_and_lowers_its_loss():
    from reconleak_core import train
    from reconleak_core.data import sphere

    X, y = sphere(6, 4, seed=2)
    net = models.TwoLayerReLU(4, 12, init_scale=0.5, bias=True, seed=2)
    train.train_max_margin(net, X, y, steps=300, progress=False)
    net = kkt.normalize_margin(net, X, y)
    for config in (AttackConfig(steps=100), AttackConfig.haim(steps=100, lr=1e-3, lam_lr=1e-3)):
        result = attack.reconstruct(net, 12, seed=0, config=config, device="cpu")
        assert result.history[-1] < result.history[0]


def test_per_member_gates_must_all_be_slopes():
    net, _, _, _ = kkt.simplex_kkt_point(4, 4)
    with pytest.raises(ValueError, match="per-member gate"):
        attack.reconstruct_batch(net, 4, seeds=[0, 1], gate=[None, 300.0], steps=1, device="cpu")
    with pytest.raises(ValueError, match="number of members"):
        attack.reconstruct_batch(net, 4, seeds=[0, 1], lam_min=[0.1, 0.2, 0.3], steps=1, device="cpu")
