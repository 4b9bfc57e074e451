"""Claims of the attack module: Haim et al.'s KKT reconstruction attack, single and batched.

Recovery is checked on an exact KKT point (``kkt.simplex_kkt_point``: the data are unit vectors, so the
known-sphere prior is the right prior): keeping the lowest-loss of a few restarts recovers every training
point. A wrong prior (sphere of radius 2) or an untrained network gives candidates far from the data, so
the recovery test can fail.
"""

import dataclasses
import shutil

import pytest
import torch

from reconleak_core import attack, kkt, models
from reconleak_core.attack import AttackConfig, Box, Shift, Sphere

SEEDS = list(range(8))


@pytest.fixture(scope="module")
def simplex():
    """An exact KKT point (ε = δ = 0): 4 unit vectors in ℝ⁴ (a regular simplex), one neuron per point."""
    net, X, y, _ = kkt.simplex_kkt_point(4, 4)
    return net, X, y


def _nearest(X, candidates):
    """Distance from every training point to its nearest candidate, shape (..., n)."""
    return torch.cdist(X, candidates).min(-1).values


def _best(result):
    """The restart with the smallest final KKT loss: what an attacker without the data can select."""
    return result.member(int(result.kkt.argmin()))


def test_attack_recovers_exact_kkt_points_with_the_right_sphere_prior(simplex):
    net, X, y = simplex
    result = attack.reconstruct_batch(net, 4, labels=y, seeds=SEEDS, prior=Sphere(1.0), steps=2000)
    best = _best(result)
    # Measured (default gate α = 300): best final loss ≈ 1e-17, every point recovered to ≈ 3e-9 (1 of 8 restarts;
    # with the exact gate 3 of 8, to 1e-15).
    assert best.kkt < 1e-12
    assert _nearest(X, best.candidates).max() < 1e-4


def test_attack_with_a_wrong_sphere_radius_misses_every_point(simplex):
    net, X, y = simplex
    result = attack.reconstruct_batch(net, 4, labels=y, seeds=SEEDS, prior=Sphere(2.0), steps=2000)
    # (λ, x) ↦ (λ/2, 2x) keeps the KKT sum: the best candidates are 2xᵢ, at distance 1 from xᵢ.
    assert _nearest(X, result.candidates).min() > 0.5


def test_attack_on_an_untrained_network_recovers_nothing(simplex):
    _, X, y = simplex
    net = models.TwoLayerReLU(4, 4, seed=3)
    result = attack.reconstruct_batch(net, 4, labels=y, seeds=SEEDS, prior=Sphere(1.0), steps=2000)
    assert _nearest(X, _best(result).candidates).max() > 0.3


def test_attack_loss_decreases(simplex):
    net, _, _ = simplex
    result = attack.reconstruct(net, 8, prior=Sphere(1.0), steps=300, seed=1)
    assert result.history.shape == (301,)
    assert result.history[-1] < 0.5 * result.history[0]
    assert float(result.kkt) == pytest.approx(result.history[-1])  # the Sphere prior is a projection: no penalty


def _members():
    """Three attacks differing in seed, learning rate, init scale and a shifted box prior."""
    return dict(seeds=[0, 1, 2], lr=[0.01, 0.03, 0.003], init_scale=[0.01, 0.1, 0.5],
                prior=[Shift(torch.full((4,), s), Box(-0.5, 0.5)) for s in (0.0, 0.2, -0.3)])


def test_batched_attack_equals_sequential_attacks(simplex):
    net, _, _ = simplex
    settings = _members()
    batch = attack.reconstruct_batch(net, 6, steps=200, **settings)
    assert batch.candidates.shape == (3, 6, 4) and batch.lam.shape == (3, 6) and batch.history.shape == (201, 3)
    for k in range(3):
        alone = attack.reconstruct(net, 6, steps=200, seed=settings["seeds"][k], lr=settings["lr"][k],
                                   init_scale=settings["init_scale"][k], prior=settings["prior"][k])
        member = batch.member(k)
        assert (member.candidates - alone.candidates).abs().max() < 1e-10
        assert (member.lam - alone.lam).abs().max() < 1e-10
        assert abs(member.history - alone.history).max() < 1e-10 * max(1.0, abs(alone.history).max())


def test_batched_sgd_with_per_member_lr_equals_sequential(simplex):
    net, _, _ = simplex
    batch = attack.reconstruct_batch(net, 4, seeds=[5, 6], lr=[0.01, 0.02], prior=Sphere(1.0), steps=100,
                                     optimizer="sgd", init="sphere", init_radius=[0.5, 2.0])
    for k, (seed, lr, radius) in enumerate([(5, 0.01, 0.5), (6, 0.02, 2.0)]):
        alone = attack.reconstruct(net, 4, seed=seed, lr=lr, prior=Sphere(1.0), steps=100, optimizer="sgd",
                                   init="sphere", init_radius=radius)
        assert (batch.member(k).candidates - alone.candidates).abs().max() < 1e-10


def test_shift_prior_centres_the_initialisation_and_penalises_in_shifted_coordinates():
    offset = torch.tensor([3.0, -2.0, 1.0, 0.5])
    prior = Shift(offset, Box(0.0, 1.0))
    net = models.TwoLayerReLU(4, 6, seed=0)
    result = attack.reconstruct(net, 50, prior=prior, steps=0, init_scale=0.01)
    assert (result.candidates.mean(0) - offset).abs().max() < 0.01
    inside = offset + 0.5
    assert prior.penalty(inside.expand(1, 4)) == 0
    assert prior.penalty((offset - 1.0).expand(1, 4)) == pytest.approx(4.0)


def test_box_penalty_never_clips_candidates_but_projection_does():
    net = models.TwoLayerReLU(4, 6, seed=0)
    start = torch.full((2, 4), 5.0)
    free = attack.reconstruct(net, 2, init=start, prior=Box(-1.0, 1.0), steps=0)
    assert torch.equal(free.candidates, start)  # penalty mode: the given points are untouched
    projected = attack.reconstruct(net, 2, init=start, prior=Box(-1.0, 1.0, enforce="project"), steps=5)
    assert projected.candidates.abs().max() <= 1.0


def test_attack_does_not_modify_the_callers_network(simplex):
    net, _, _ = simplex
    before = [p.detach().clone() for p in net.parameters()]
    attack.reconstruct(net, 4, steps=10, dtype=torch.float32)
    assert all(p.dtype == torch.float64 and torch.equal(p, b) for p, b in zip(net.parameters(), before))


def test_callback_sees_step_zero_every_k_steps_and_the_last_step(simplex):
    net, _, _ = simplex
    seen = []
    attack.reconstruct(net, 4, steps=25, callback=lambda step, state: seen.append((step, state.candidates.shape)),
                       callback_every=10)
    assert seen == [(0, (4, 4)), (10, (4, 4)), (20, (4, 4)), (25, (4, 4))]


def test_non_finite_candidates_raise_with_the_step(simplex):
    net, _, _ = simplex
    with pytest.raises(ValueError, match=r"NaN found in (candidates|attack loss) at step \d+"):
        attack.reconstruct(net, 4, optimizer="sgd", lr=1e300, steps=10)
    with pytest.raises(ValueError, match="infinite value found in attack loss at step 0"):
        huge = 1e200 * torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        attack.reconstruct(net, 4, init=huge, steps=10)


def test_default_soft_gate_attack_runs_on_a_deep_network_and_lowers_its_loss():
    net = models.HomogeneousMLP(4, [6, 5], seed=0)
    result = attack.reconstruct(net, 6, steps=200, seed=0)
    assert result.config.gate == 300.0
    assert result.history[-1] < 0.8 * result.history[0]   # measured 0.70 (an untrained net: no exact KKT set)


def test_default_soft_gate_on_a_network_the_library_does_not_build_asks_for_gate_none():
    net = torch.nn.Sequential(torch.nn.Linear(4, 5, bias=False, dtype=torch.float64), torch.nn.ReLU(),
                              torch.nn.Linear(5, 1, bias=False, dtype=torch.float64), torch.nn.Flatten(0))
    with pytest.raises(ValueError, match="pass gate=None"):
        attack.reconstruct(net, 4, steps=5)
    assert attack.reconstruct(net, 4, steps=5, gate=None).candidates.shape == (4, 4)


def test_paper_preset_is_haim_scale_and_compiled():
    assert AttackConfig.paper().steps == 50_000 and AttackConfig.paper().compile
    assert not AttackConfig().compile and not AttackConfig.haim().compile   # the book runs eagerly


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(n_candidates=0), "n_candidates must be a positive integer"),
    (dict(init="uniform"), "init must be 'gaussian', 'sphere'"),
    (dict(init="sphere"), "needs init_radius"),
    (dict(init=torch.zeros(3, 4)), r"init points must have shape \(4, 4\)"),
    (dict(labels=[1, 0, 1, -1]), "labels must be ±1"),
    (dict(labels=[1, -1]), "labels y have length 2 but there are 4 points"),
    (dict(prior=Box(torch.zeros(5), 1.0)), r"Box.lo must be a number or have shape \(4,\)"),
    (dict(prior=Shift(torch.zeros(3), Box())), r"Shift.offset must have shape \(4,\)"),
    (dict(steps=-1), "steps must be a non-negative integer"),
    (dict(optimizer="lbfgs"), "optimizer must be one of"),
    (dict(learning_rate=0.1), "unknown attack setting"),
])
def test_invalid_attack_inputs_raise(simplex, kwargs, message):
    net, _, _ = simplex
    kwargs = {"n_candidates": 4, **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        attack.reconstruct(net, **kwargs)


def test_invalid_priors_raise():
    with pytest.raises(ValueError, match="Box.lo must be ≤ Box.hi"):
        Box(1.0, 0.0)
    with pytest.raises(ValueError, match="Sphere.radius must be positive"):
        Sphere(-1.0)
    with pytest.raises(ValueError, match="enforce must be one of"):
        Sphere(1.0, enforce="clip")


def test_batched_members_must_agree_on_their_number(simplex):
    net, _, _ = simplex
    with pytest.raises(ValueError, match="disagree on the number of members"):
        attack.reconstruct_batch(net, 4, seeds=[0, 1], lr=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="same kind of prior"):
        attack.reconstruct_batch(net, 4, prior=[Sphere(1.0), Box()])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_without_a_device_raises(simplex):
    net, _, _ = simplex
    with pytest.raises(ValueError, match="no CUDA device is available"):
        attack.reconstruct(net, 4, device="cuda")


def test_batched_attack_leaves_the_callers_per_member_lists_unchanged(simplex):
    net, _, _ = simplex
    scales, lrs = [None, 0.1], [0.01, 0.02]
    result = attack.reconstruct_batch(net, 4, seeds=[0, 1], init_scale=scales, lr=lrs, steps=2)
    assert scales == [None, 0.1] and lrs == [0.01, 0.02]
    assert [m["init_scale"] for m in result.members] == [AttackConfig().init_scale, 0.1]


def test_a_single_lr_in_a_batch_is_the_config_field(simplex):
    net, _, _ = simplex
    by_keyword = attack.reconstruct_batch(net, 4, seeds=[0, 1], lr=0.05, steps=5)
    by_config = attack.reconstruct_batch(net, 4, seeds=[0, 1], config=AttackConfig(lr=0.05, steps=5))
    assert by_keyword.config.lr == 0.05 and [m["lr"] for m in by_keyword.members] == [0.05, 0.05]
    assert torch.equal(by_keyword.candidates, by_config.candidates)


@pytest.mark.parametrize("batched", [False, True])
def test_adam_steps_are_torch_optim_adam_on_the_kkt_loss(batched):
    """The attack's hand-written Adam is torch.optim.Adam (default betas, eps) on kkt_loss, λ′ with its own lr."""
    net = models.TwoLayerReLU(6, 20, init_scale=1.0, dtype=torch.float64, seed=3)
    config = AttackConfig(steps=6, lr=0.02, lam_lr=0.05)
    run = attack.reconstruct_batch if batched else attack.reconstruct
    kwargs = dict(seeds=[0, 1]) if batched else dict(seed=0)
    start = run(net, 8, config=dataclasses.replace(config, steps=0), device="cpu", **kwargs)
    result = run(net, 8, config=config, device="cpu", **kwargs)
    X = start.candidates.clone().requires_grad_(True)
    lam = start.lam.clone().requires_grad_(True)
    opt = torch.optim.Adam([{"params": [X], "lr": config.lr}, {"params": [lam], "lr": config.lam_lr}],
                           betas=config.betas, eps=config.eps)
    for _ in range(config.steps):   # steps + 1 losses, steps updates: the last iterate is returned
        opt.zero_grad()
        loss = kkt.kkt_loss(net, X, start.labels, lam, lam_min=config.lam_min, penalty=config.lam_penalty,
                            gate=config.gate)
        loss.sum().backward()
        opt.step()
    assert torch.allclose(result.candidates, X.detach(), rtol=0, atol=1e-10)
    assert torch.allclose(result.lam, lam.detach(), rtol=0, atol=1e-10)


def test_batched_adam_with_per_member_lr_and_gate_equals_sequential():
    """Per-member lr and gate (tensors in the batched step) round as the shared values of a single attack."""
    net = models.TwoLayerReLU(6, 20, init_scale=1.0, dtype=torch.float64, seed=3)
    settings = [(0, 0.01, 100.0), (1, 0.03, 300.0)]
    batch = attack.reconstruct_batch(net, 8, seeds=[s for s, _, _ in settings], lr=[lr for _, lr, _ in settings],
                                     gate=[g for _, _, g in settings], steps=200, device="cpu")
    for k, (seed, lr, gate) in enumerate(settings):
        alone = attack.reconstruct(net, 8, seed=seed, lr=lr, gate=gate, steps=200, device="cpu")
        assert (batch.member(k).candidates - alone.candidates).abs().max() < 1e-10
        assert (batch.member(k).lam - alone.lam).abs().max() < 1e-10


@pytest.mark.parametrize("kind", ["mlp", "soft_gated"])
def test_per_member_gate_of_every_gate_aware_network_equals_sequential(kind):
    """A per-member gate sweep (vmapped by the generic KKT loss) runs on HomogeneousMLP and on a user's
    nn.Sequential wrapped in SoftGated, and member k equals the single attack with gate k to 1e-10."""
    if kind == "mlp":
        net = models.HomogeneousMLP(5, [7], init_scale=1.0, seed=2)
    else:
        net = models.SoftGated(torch.nn.Sequential(torch.nn.Linear(5, 7, bias=False), torch.nn.ReLU(),
                                                   torch.nn.Linear(7, 1, bias=False)).double())
    gates = [100.0, 300.0]
    batch = attack.reconstruct_batch(net, 6, seeds=[0, 1], gate=gates, steps=20, device="cpu")
    for k, gate in enumerate(gates):
        alone = attack.reconstruct(net, 6, seed=k, gate=gate, steps=20, device="cpu")
        assert (batch.member(k).candidates - alone.candidates).abs().max() < 1e-10
        assert (batch.member(k).lam - alone.lam).abs().max() < 1e-10


def needs_compiler(test):
    """Skip ``test`` without a C++ compiler (torch.compile's on the CPU); ignore torch's own deprecation."""
    test = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")(test)
    return pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                              reason="torch.compile needs a C++ compiler on the CPU")(test)


@needs_compiler
@pytest.mark.parametrize("prior", [Shift(torch.full((6,), 0.3), Box(0.0, 1.0)), Sphere(2.0)],
                         ids=["penalty", "project"])
def test_compiled_step_with_a_prior_equals_the_eager_one(prior):
    """The paper presets compile every step: a penalty prior (the digits' shifted box) and a projection
    (the sphere) run compiled as eagerly, to rounding."""
    net = models.TwoLayerReLU(6, 20, init_scale=1.0, dtype=torch.float64, seed=5)
    kwargs = dict(seeds=[1, 2], prior=[prior, prior], steps=20, device="cpu")
    eager = attack.reconstruct_batch(net, 8, **kwargs)
    compiled = attack.reconstruct_batch(net, 8, compile=True, **kwargs)
    assert (compiled.candidates - eager.candidates).abs().max() < 1e-10
    assert (compiled.lam - eager.lam).abs().max() < 1e-10


@needs_compiler
def test_compiled_step_equals_the_eager_one_to_rounding_and_compiles_once():
    """compile=True runs the same step (to rounding over 20 steps, here ≈ 1e-16); a second attack of the same
    sizes on another network reuses the compiled step (no new graph), best iterate and per-member lr included."""
    from torch._dynamo.utils import counters

    net = models.TwoLayerReLU(6, 20, init_scale=1.0, dtype=torch.float64, seed=3)
    other = models.TwoLayerReLU(6, 20, init_scale=1.0, dtype=torch.float64, seed=4)
    kwargs = dict(seeds=[1, 2], lr=[0.01, 0.02], steps=20, device="cpu", return_best=True)
    eager = attack.reconstruct_batch(net, 8, **kwargs)
    compiled = attack.reconstruct_batch(net, 8, compile=True, **kwargs)
    assert compiled.config.compile and not eager.config.compile
    assert (compiled.candidates - eager.candidates).abs().max() < 1e-10
    assert (compiled.lam - eager.lam).abs().max() < 1e-10
    assert abs(compiled.history - eager.history).max() < 1e-10 * abs(eager.history).max()
    assert [m["step"] for m in compiled.members] == [m["step"] for m in eager.members]
    graphs = counters["stats"]["unique_graphs"]
    again = attack.reconstruct_batch(other, 8, compile=True, **kwargs)
    assert counters["stats"]["unique_graphs"] == graphs
    assert (again.candidates - attack.reconstruct_batch(other, 8, **kwargs).candidates).abs().max() < 1e-10
    with pytest.raises(TypeError, match="compile"):
        attack.AttackConfig(compile="yes")


def test_compile_without_a_working_compiler_names_compile_false():
    """Where torch.compile cannot build the step (here: no C++ compiler), the attack says so at its first
    step and names the eager way out; the same attack with compile=False runs."""
    import torch._inductor.config as inductor

    torch._dynamo.reset()   # no compiled code of an earlier test to reuse
    net = models.TwoLayerReLU(5, 7, init_scale=1.0, dtype=torch.float64, seed=1)
    try:   # inductor's own patch restores the setting (after monkeypatch's undo it reads as missing)
        with inductor.patch({"cpp.cxx": (None, "/nonexistent/c++")}):
            with pytest.raises(RuntimeError, match=r"compile=True: torch.compile could not build .*compile=False"):
                attack.reconstruct(net, 3, steps=4, compile=True, device="cpu")
    finally:
        torch._dynamo.reset()
    assert inductor.cpp.cxx != (None, "/nonexistent/c++")
    assert attack.reconstruct(net, 3, steps=4, device="cpu").candidates.shape == (3, 5)


def test_sphere_projection_of_the_origin_raises():
    X = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="exactly at the origin"):
        Sphere(1.0).project(X)


@needs_compiler
def test_sphere_projection_of_the_origin_is_nan_inside_a_compiled_step():
    """A compiled step cannot branch on values (no graph break per step): the origin becomes NaN there, which
    the attack's check reports with its step."""
    X = torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64)
    got = torch.compile(Sphere(2.0).project, dynamic=False)(X)
    assert torch.allclose(got[0], torch.tensor([1.2, 1.6], dtype=torch.float64)) and got[1].isnan().all()
