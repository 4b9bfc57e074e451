"""Claims of reconleak_core.calibration: leakage measured against chance.

Synthetic cases with known answers (candidates equal to the training points leak under every rule; null
candidates leak at the chance rate each rule predicts: M/N for rule (i) on held-out splits, 1 − level for
rule (ii)), then a real attack on a tiny trained digits net (≈ 8 s on one core): it beats chance, and the
training images enter only its scoring (two scoring sets, bit-identical candidates).
"""

from __future__ import annotations

import pytest
import torch

from reconleak_core import attack, data, kkt
from reconleak_core.calibration import Scoring, beats_held_out, beats_null_quantile, calibrate, null_candidates
from reconleak_core.priors import Sphere


def _digits(n: int, seed: int = 0):
    """Training digits, held-out digits and their SSIM scoring in pixel coordinates."""
    train, held = data.digits(n, seed=seed), data.digits_held_out(n, seed=seed)
    return train, held, Scoring("ssim", image_shape=train.image_shape, mean=train.mean)


# ------------------------------------------------------------------------------------------- known answers
def test_candidates_at_the_training_points_leak_under_every_rule():
    train, held, scoring = _digits(10)
    noise = 1e-3 * torch.randn(2, 10, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    cal = calibrate(train.X, train.X + noise, scoring=scoring, held_out=held.X,
                    prior=data.pixel_box(0, 1, train.mean), seed=1)
    assert [v.rate for v in cal.verdicts] == [1.0, 1.0, 1.0]
    assert all(v.size == 20 and v.leaked.shape == (10,) for v in cal.verdicts)
    assert torch.equal(cal.score, cal.every_held_out.score) and (cal.score > 0.99).all()


def test_rule_one_chance_on_held_out_splits_is_the_exchangeable_rate_m_over_n():
    """A null set of M held-out digits holds the best of the N held-out digits with probability M/N: its
    chance rate under rule (i) is about M/N, not 0 (the null is never compared with itself)."""
    train, held, scoring = _digits(10, seed=3)
    M, N = 100, len(held)
    verdict = beats_held_out(train.X, held.X[:M], held.X, scoring=scoring, chance_draws=40, seed=0)
    assert verdict.rate == 0.0                      # candidates inside the reference never beat it: hence the split
    assert abs(verdict.chance.mean().item() - M / N) < 0.035, verdict.chance
    assert verdict.null == "held_out" and verdict.chance.shape == (40,)


def test_rule_one_chance_of_prior_noise_is_zero_on_digits():
    train, held, scoring = _digits(10)
    verdict = beats_held_out(train.X, held.X[:20], held.X, scoring=scoring, null=data.pixel_box(0, 1, train.mean),
                             chance_draws=5)
    assert verdict.null == "prior" and verdict.chance_median == 0.0 and verdict.chance_spread == (0.0, 0.0)
    assert (verdict.null_score < verdict.threshold).all()


def test_rule_two_chance_is_one_minus_the_level():
    """Fresh sphere points of the training subspace (a pool far larger than M/(1 − level)): a further null draw
    beats the per-point 95th percentile of 100 draws for about 5 % of the training points."""
    X, _ = data.sphere(20, 10, subspace_dim=3, seed=0)
    pool, _ = data.sphere_held_out(20_000, 20, 10, subspace_dim=3, seed=0)
    scoring = Scoring("l2")
    verdict = beats_null_quantile(X, pool[:10], pool, scoring=scoring, chance_draws=100, seed=2)
    assert 0.03 < verdict.chance.mean().item() < 0.07, verdict.chance.mean()
    assert verdict.rule == "null_quantile" and not verdict.higher_is_better
    on_prior = beats_null_quantile(X, pool[:10], Sphere(1.0), scoring=scoring, chance_draws=100, seed=2)
    assert 0.03 < on_prior.chance.mean().item() < 0.07 and on_prior.null == "prior"


def test_rule_two_chance_on_digits_prior_samples_is_about_five_percent():
    train, _, scoring = _digits(10)
    prior = data.pixel_box(0, 1, train.mean)
    verdict = beats_null_quantile(train.X, null_candidates(prior, (20, 64), seed=9), prior, scoring=scoring,
                                  chance_draws=40, seed=0)
    assert 0.01 < verdict.chance.mean().item() < 0.1 and verdict.rate <= 0.3


def test_a_finite_held_out_pool_saturates_the_quantile_rule_at_its_best_point():
    train, held, scoring = _digits(10)
    verdict = beats_null_quantile(train.X, held.X[:160], held.X, scoring=scoring, seed=0)
    assert (verdict.threshold <= scoring.best(train.X, held.X)).all() and verdict.chance.mean() < 0.05


# --------------------------------------------------------------------------------------------- null swap
def test_null_candidates_take_the_attacks_shape_from_the_prior_or_the_held_out_pool():
    train, held, _ = _digits(10)
    prior = data.pixel_box(0, 1, train.mean)
    noise = null_candidates(prior, (3, 10, 64), seed=4)
    assert noise.shape == (3, 10, 64) and torch.equal(noise, null_candidates(prior, (3, 10, 64), seed=4))
    assert ((noise + train.mean >= 0) & (noise + train.mean <= 1)).all()
    real = null_candidates(held.X, (3, 10, 64), seed=4).reshape(30, 64)
    rows = {tuple(r.tolist()) for r in held.X}
    assert all(tuple(r.tolist()) in rows for r in real) and len({tuple(r.tolist()) for r in real}) == 30
    with pytest.raises(ValueError, match="at least 2000 held-out points"):
        null_candidates(held.X, (2000, 64))


# -------------------------------------------------------------------------------------- a real attack
@pytest.fixture(scope="module")
def tiny_digits_net():
    """8 digits, width 200, 2000 training steps (≈ 5 s): a net that leaks under a 4 × 500-step attack."""
    from reconleak_core.train import TrainConfig
    from reconleak_core.trained_nets import NetSpec, trained_network

    spec = NetSpec(dataset="digits", n=8, d=None, subspace_dim=None, width=200, train=TrainConfig(steps=2000))
    return trained_network(spec, cache=False)


def _attack(net, prior) -> torch.Tensor:
    """The attack's candidates from the network and the prior alone (4 restarts × 500 steps, m = 8)."""
    return attack.reconstruct_batch(net, 8, prior=prior, seeds=[0, 1, 2, 3],
                                    config=attack.AttackConfig(steps=500)).candidates


def test_an_attack_with_the_right_prior_beats_chance_on_a_tiny_digits_net(tiny_digits_net):
    tn = tiny_digits_net
    prior = data.pixel_box(0, 1, tn.mean)
    candidates = _attack(kkt.normalize_margin(tn.net, tn.X, tn.y), prior)
    cal = calibrate(tn.X, candidates, scoring=Scoring("ssim", image_shape=(1, 8, 8), mean=tn.mean),
                    held_out=data.digits_held_out(8, seed=0).X, prior=prior)
    rule_one = cal.every_held_out
    assert rule_one.rate >= 0.25 and rule_one.rate > rule_one.chance_spread[1], rule_one.summary()
    assert cal.prior_quantile.rate > cal.prior_quantile.chance_spread[1]
    assert [s["rule"] for s in cal.summary()] == ["every_held_out", "null_quantile", "null_quantile"]


def test_one_attack_scored_against_two_training_sets_has_bit_identical_candidates(tiny_digits_net):
    """The attack gets the network and the prior, never the training set: the training images enter only
    the scoring, so scoring the same attack against another set changes the verdict, not the candidates."""
    tn = tiny_digits_net
    prior, net = data.pixel_box(0, 1, tn.mean), kkt.normalize_margin(tn.net, tn.X, tn.y)
    held = data.digits_held_out(8, seed=0).X
    scoring = Scoring("ssim", image_shape=(1, 8, 8), mean=tn.mean)
    verdicts, runs = [], []
    for scoring_set in (tn.X, held[:8]):
        candidates = _attack(net, prior)
        runs.append(candidates.clone())
        verdicts.append(beats_held_out(scoring_set, candidates, held[8:], scoring=scoring, chance_draws=2))
        assert torch.equal(candidates, runs[-1])                        # scoring never touches the candidates
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(verdicts[0].leaked, verdicts[1].leaked) and verdicts[0].rate > verdicts[1].rate


# ------------------------------------------------------------------------------------------- input checks
@pytest.mark.parametrize("kwargs, error, match", [
    ({"metric": "ncc"}, ValueError, "metric"),
    ({"metric": "ssim"}, ValueError, "image_shape"),
    ({"metric": "l2", "rescale": True}, ValueError, "rescale"),
    ({"metric": "l2", "rescale": 1}, TypeError, "rescale"),
])
def test_scoring_rejects_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        Scoring(**kwargs)


@pytest.mark.parametrize("call, error, match", [
    (lambda X, C, H: beats_null_quantile(X, C, H, scoring=Scoring("l2"), draws=50), ValueError, "draws"),
    (lambda X, C, H: beats_null_quantile(X, C, H, scoring=Scoring("l2"), level=1.0), ValueError, "level"),
    (lambda X, C, H: beats_null_quantile(X, C, H, scoring=Scoring("l2"), level=0), ValueError, "level"),
    (lambda X, C, H: beats_null_quantile(X, C, "noise", scoring=Scoring("l2")), TypeError, "null source"),
    (lambda X, C, H: beats_held_out(X, C, H, scoring="ssim"), TypeError, "Scoring"),
    (lambda X, C, H: beats_held_out(X, C[:, :3], H, scoring=Scoring("l2")), ValueError, "candidates"),
    (lambda X, C, H: beats_held_out(X, C, H[:, :3], scoring=Scoring("l2")), ValueError, "dimension"),
    (lambda X, C, H: beats_held_out(X, X, H[:4], scoring=Scoring("l2")), ValueError, "more than 4"),
    (lambda X, C, H: beats_held_out(X, C, H, scoring=Scoring("l2"), chance_draws=0), ValueError, "chance_draws"),
    (lambda X, C, H: beats_held_out(X, C, H, scoring=Scoring("l2"), seed=-1), ValueError, "seed"),
    (lambda X, C, H: calibrate(X, C, scoring=Scoring("l2"), held_out=H, prior=Sphere(2.0, "penalty").stack(
        [Sphere(2.0)] * 2, d=6, dtype=torch.float64, device="cpu")), ValueError, "single number"),
])
def test_verdicts_reject_bad_inputs_naming_them(call, error, match):
    X = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    C, H = X[:2] * 1.1, torch.randn(40, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with pytest.raises(error, match=match):
        call(X, C, H)
