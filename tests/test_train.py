"""Claims about reconleak_core.train: training maximises the margin and approaches a KKT point."""

import pytest
import torch

from reconleak_core import models, train
from reconleak_core.certificate import certificate
from reconleak_core.data import sphere


def _small(seed=0):
    X, y = sphere(6, 30, seed=seed)
    return models.TwoLayerReLU(30, 20, init_scale=0.1, seed=seed), X, y


def test_training_increases_the_normalized_margin():
    net, X, y = _small()
    history = train.train_max_margin(net, X, y, steps=1500, progress=False)
    assert history.margin[-1] > 0
    assert history.margin[-1] > history.margin[len(history.margin) // 10]
    assert history.loss[-1] < history.loss[0]


def test_smoothed_margin_recipe_reaches_documented_kkt_quality():
    # Documented in train.py: 5000 steps on sphere(6, 30), width 20 reach eps_rel ≈ 0.05, delta ≈ 0.002.
    net, X, y = _small()
    history = train.train_max_margin(net, X, y, steps=5000, certificate_every=2500, progress=False)
    assert list(history.cert_step) == [2500, 5000]
    assert history.eps_rel[-1] < 0.1
    assert history.delta[-1] < 0.01
    cert = certificate(net, X, y)
    assert cert.eps_rel == pytest.approx(history.eps_rel[-1])


def test_smoothed_margin_recipe_beats_plain_gradient_descent():
    (a, X, y), (b, _, _) = _small(), _small()
    fast = train.train_max_margin(a, X, y, steps=2000, progress=False)
    plain = train.train_max_margin(b, X, y, steps=2000, schedule="constant", lr=1.0, progress=False)
    assert fast.margin[-1] > plain.margin[-1]
    assert certificate(a, X, y).delta < certificate(b, X, y).delta


def test_logistic_loss_trains_too():
    net, X, y = _small()
    history = train.train_max_margin(net, X, y, steps=1000, loss="logistic", progress=False)
    assert history.margin[-1] > 0 and history.loss[-1] < history.loss[0]


def test_divergence_is_reported_with_the_step():
    net, X, y = _small()
    with pytest.raises(ValueError, match=r"(NaN|infinite value) found in .* at step \d+"):
        train.train_max_margin(net, X, y, steps=50, schedule="constant", lr=1e300, progress=False)


def test_clear_errors_on_bad_inputs():
    net, X, y = _small()
    with pytest.raises(ValueError, match="labels must be ±1"):
        train.train_max_margin(net, X, y * 2, steps=1, progress=False)
    with pytest.raises(ValueError, match="dimension"):
        train.train_max_margin(net, X[:, :5], y, steps=1, progress=False)
    with pytest.raises(ValueError, match="length"):
        train.train_max_margin(net, X, y[:4], steps=1, progress=False)
    bad = X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN found in X"):
        train.train_max_margin(net, bad, y, steps=1, progress=False)
    with pytest.raises(TypeError, match="unknown training option"):
        train.train_max_margin(net, X, y, step=1, progress=False)
    with pytest.raises(ValueError, match="schedule"):
        train.TrainConfig(schedule="adam")
    with pytest.raises(ValueError, match="loss"):
        train.TrainConfig(loss="hinge")
    with pytest.raises(ValueError, match="steps"):
        train.TrainConfig(steps=0)
    with pytest.raises(ValueError, match="has a bias"):
        train.train_max_margin(torch.nn.Sequential(torch.nn.Linear(30, 1, dtype=torch.float64)), X, y, steps=1,
                               progress=False)


def test_history_upto_is_the_record_of_the_shorter_run():
    # the recipe does not depend on the run's length: a short run is a prefix of a long one
    net_long, X, y = _small()
    net_short, _, _ = _small()
    long = train.train_max_margin(net_long, X, y, steps=400, certificate_every=100, log_every=1, progress=False)
    short = train.train_max_margin(net_short, X, y, steps=200, certificate_every=100, log_every=1, progress=False)
    prefix = long.upto(200)
    for name in ("step", "loss", "margin", "cert_step", "eps", "eps_rel", "delta"):
        assert getattr(prefix, name).tolist() == getattr(short, name).tolist(), name
    assert long.upto(10_000).step.tolist() == long.step.tolist()
    with pytest.raises(ValueError, match="steps"):
        long.upto(0)
    with pytest.raises(TypeError, match="steps"):
        long.upto(2.5)
