"""Property-based fuzzing of the library's contract: bad input gets OUR clear error, never a raw one, never silence.

Every public function is called with valid arguments except one, replaced by a bad value drawn by hypothesis
(booleans, strings, complex numbers, NaN/∞, out-of-range numbers, tensors of the wrong shape, kind or content,
networks that are not usable). The call must raise exactly ``TypeError`` or ``ValueError`` (not a torch
``RuntimeError``, ``IndexError``, ``_LinAlgError``, ``OverflowError``, ...), and the message must name the
argument (or the problem, for networks); returning normally is a failure ("silent result"). Valid arguments
are tiny (4 points in ℝ⁴, 1–2 steps), so the whole file runs in well under two minutes on two cores; in CI
(``CI=true``) hypothesis replays a fixed sequence (see ``conftest.py``).
"""

import hashlib
import math
import os
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from reconleak_core import (
    attack,
    cache,
    checks,
    data,
    experiments,
    kkt,
    lemmas,
    metrics,
    models,
    pooling,
    runtime,
    train,
    trained_nets,
)
from reconleak_core.certificate import certificate

# 25 examples per test keeps the file near 15 s; RECONLEAK_FUZZ_EXAMPLES=500 hunts harder (locally).
FUZZ = settings(max_examples=int(os.environ.get("RECONLEAK_FUZZ_EXAMPLES", "25")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

NET, X, Y, LAM = kkt.simplex_kkt_point(4)
N, D = X.shape


def raises_ours(call, pattern: str):
    """``call()`` must raise exactly TypeError or ValueError with a message matching ``pattern``."""
    try:
        result = call()
    except (TypeError, ValueError) as exc:
        assert type(exc) in (TypeError, ValueError), f"raw {type(exc).__name__}: {exc}"
        assert re.search(pattern, str(exc)), f"message does not name the argument ({pattern!r}): {exc}"
        return
    pytest.fail(f"bad input accepted silently; returned {type(result).__name__}")


# ------------------------------------------------------------------------------------ bad values
COMPLEX = st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=10).filter(lambda z: z.imag != 0)
NOT_A_NUMBER = st.one_of(st.booleans(), st.text(max_size=3), COMPLEX, st.just([1.0]), st.just(object()),
                         st.just({"a": 1}), st.just(np.bool_(True)))
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
NON_POSITIVE = st.one_of(st.floats(max_value=0, allow_nan=False, allow_infinity=False), st.integers(-10**6, 0))
BAD_POSITIVE = st.one_of(NOT_A_NUMBER, st.none(), NON_FINITE, NON_POSITIVE)
BAD_SIZE = st.one_of(st.booleans(), st.floats(), st.text(max_size=3), COMPLEX, st.integers(-10**6, 0),
                     st.just([3]), st.just(object()), st.just(np.float64(3.0)))
BAD_SEED = st.one_of(st.booleans(), st.floats(), st.text(max_size=3), st.integers(max_value=-1),
                     st.integers(min_value=2**63, max_value=2**80), st.just(object()))
BAD_DTYPE = st.sampled_from([torch.int64, torch.int32, torch.bool, torch.complex64, torch.complex128, "float64",
                             np.float64, None, 64])
BAD_DEVICE = st.one_of(st.sampled_from(["tpu", "gpu", "cuda:x", "", "cpu:cpu", "xla?"]), st.integers(), st.none())


@st.composite
def bad_points(draw, n=N, d=D, fixed_dimension=True):
    """A point set that is wrong in one way: kind, shape, dimension (when ``fixed_dimension``), emptiness or content."""
    base = torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(draw(st.integers(0, 9))))
    kinds = ["complex", "nonfinite", "ndim", "empty", "bool", "string", "ragged", "object"]
    kind = draw(st.sampled_from(kinds + ["dimension"] * fixed_dimension))
    if kind == "complex":
        return base + draw(COMPLEX) * 1j
    if kind == "nonfinite":
        bad = base.clone()
        bad[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = draw(NON_FINITE)
        return bad
    if kind == "dimension":
        return torch.ones(n, draw(st.integers(1, 8).filter(lambda k: k != d)), dtype=torch.float64)
    if kind == "ndim":
        return draw(st.sampled_from([torch.ones(n, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)]))
    if kind == "empty":
        return torch.zeros(0, d, dtype=torch.float64)
    if kind == "bool":
        return torch.ones(n, d, dtype=torch.bool)
    if kind == "string":
        return draw(st.text(max_size=4))
    if kind == "ragged":
        return [[1.0] * d, [1.0]]
    return object()


@st.composite
def bad_labels(draw, n=N, batched=False, any_length=False):
    """Labels wrong in one way; a (2, n) matrix is wrong unless the function is batched (kkt_loss), another
    length unless the function sees no points (KKTLoss)."""
    kind = draw(st.sampled_from(["value", "complex", "nan", "string"] + ["matrix"] * (not batched)
                                + ["length"] * (not any_length)))
    y = Y.clone()
    if kind == "value":
        y[draw(st.integers(0, n - 1))] = draw(st.floats(allow_nan=False).filter(lambda v: abs(v) != 1))
        return y
    if kind == "complex":
        return y + 1j
    if kind == "length":
        return torch.ones(draw(st.integers(0, 8).filter(lambda k: k != n)), dtype=torch.float64)
    if kind == "matrix":
        return Y.expand(2, n).clone()
    if kind == "nan":
        y[0] = math.nan
        return y
    return "+-+-"


@st.composite
def bad_multipliers(draw, n=N, allow_negative=True):
    kinds = ["complex", "length", "nan", "string", "scalar"] + ([] if allow_negative else ["negative"])
    kind = draw(st.sampled_from(kinds))
    lam = LAM.clone()
    if kind == "complex":
        return lam + 1j
    if kind == "length":
        return torch.ones(draw(st.integers(1, 8).filter(lambda k: k != n)), dtype=torch.float64)
    if kind == "nan":
        lam[draw(st.integers(0, n - 1))] = draw(NON_FINITE)
        return lam
    if kind == "negative":
        lam[0] = -draw(st.floats(min_value=1e-3, max_value=1e3))
        return lam
    if kind == "string":
        return "1111"
    return torch.tensor(1.0, dtype=torch.float64)


def _nan_net():
    net = kkt.simplex_kkt_point(4)[0]
    with torch.no_grad():
        net.W[0, 0] = math.nan
    return net


def _wide_net():
    return nn.Sequential(nn.Linear(D, 4, bias=False, dtype=torch.float64), nn.ReLU(),
                         nn.Linear(4, 3, bias=False, dtype=torch.float64))


BAD_NET = st.sampled_from([
    ("not a module", lambda: "net"), ("not a module", lambda: object()), ("not a module", lambda: NET.W),
    ("nan", _nan_net), ("wide", _wide_net),
    ("bias", lambda: nn.Sequential(nn.Linear(D, 3, dtype=torch.float64), nn.ReLU(),
                                   nn.Linear(3, 1, bias=False, dtype=torch.float64))),
    ("no params", lambda: nn.Sequential(nn.ReLU())),
])
NET_MESSAGE = r"net must be a torch.nn.Module|network parameters contain|one number per point|has a bias|" \
              r"no trainable parameters|TwoLayerReLU|not .*homogeneous"
POINTS_MESSAGE = r"\bX\b|real|booleans|numbers|points|dimension|shape|labels y have length"


# ------------------------------------------------------------------------------------------ checks
@FUZZ
@given(value=st.one_of(BAD_POSITIVE, st.just("0.1")))
def test_check_positive_fuzz(value):
    raises_ours(lambda: checks.check_positive(value, "lr"), r"\blr\b")


@FUZZ
@given(value=BAD_SIZE)
def test_check_int_fuzz(value):
    raises_ours(lambda: checks.check_int(value, "width"), r"\bwidth\b")


@FUZZ
@given(value=BAD_SEED)
def test_seed_fuzz(value):
    raises_ours(lambda: runtime.set_seed(value), r"\bseed\b")
    raises_ours(lambda: data.sphere(4, 3, seed=value), r"\bseed\b")
    raises_ours(lambda: models.TwoLayerReLU(3, 3, seed=value), r"\bseed\b")


@FUZZ
@given(device=BAD_DEVICE)
def test_get_device_fuzz(device):
    raises_ours(lambda: runtime.get_device(device), r"device")


@FUZZ
@given(X=bad_points())
def test_check_points_fuzz(X):
    raises_ours(lambda: checks.check_points(X, "X", d=D), POINTS_MESSAGE)


# ------------------------------------------------------------------------------------------ models
@FUZZ
@given(arg=st.sampled_from(["d", "width", "init_scale", "dtype", "seed"]), data_=st.data())
def test_two_layer_relu_fuzz(arg, data_):
    bad = data_.draw({"d": BAD_SIZE, "width": BAD_SIZE, "init_scale": BAD_POSITIVE, "dtype": BAD_DTYPE,
                      "seed": BAD_SEED}[arg])
    kwargs = {"d": 3, "width": 4, arg: bad}
    raises_ours(lambda: models.TwoLayerReLU(**kwargs), arg)
    if arg != "width":
        mlp_kwargs = {"widths": [3], **{k: v for k, v in kwargs.items() if k != "width"}}
        raises_ours(lambda: models.HomogeneousMLP(**mlp_kwargs), arg)


@FUZZ
@given(widths=st.one_of(st.just([]), st.lists(BAD_SIZE, min_size=1, max_size=2), st.just(3), st.just(None)))
def test_homogeneous_mlp_widths_fuzz(widths):
    raises_ours(lambda: models.HomogeneousMLP(3, widths), r"widths")


@FUZZ
@given(alpha=st.one_of(NOT_A_NUMBER, NON_FINITE, NON_POSITIVE))
def test_soft_gate_relu_fuzz(alpha):
    raises_ours(lambda: models.soft_gate_relu(torch.ones(3), alpha), r"alpha")


@FUZZ
@given(span=bad_points(n=2, d=3), dtype=st.one_of(st.just(torch.float64), BAD_DTYPE))
def test_span_projector_fuzz(span, dtype):
    raises_ours(lambda: models.span_projector(span, 3, dtype=dtype), r"span|dtype|" + POINTS_MESSAGE)


@FUZZ
@given(net=BAD_NET)
def test_homogeneity_degree_fuzz(net):
    raises_ours(lambda: models.homogeneity_degree(net[1]()), NET_MESSAGE)


# -------------------------------------------------------------------------------------------- data
@FUZZ
@given(arg=st.sampled_from(["n", "d", "subspace_dim", "radius", "seed", "dtype"]), data_=st.data())
def test_sphere_fuzz(arg, data_):
    bad = data_.draw({"n": BAD_SIZE, "d": BAD_SIZE, "subspace_dim": BAD_SIZE, "radius": BAD_POSITIVE,
                      "seed": BAD_SEED, "dtype": BAD_DTYPE}[arg])
    raises_ours(lambda: data.sphere(**{"n": 4, "d": 3, arg: bad}), arg)


@FUZZ
@given(arg=st.sampled_from(["n", "seed", "dtype", "classes", "flatten"]), data_=st.data())
def test_digits_fuzz(arg, data_):
    bad = data_.draw({"n": st.one_of(BAD_SIZE, st.just(7)), "seed": BAD_SEED, "dtype": BAD_DTYPE,
                      "classes": st.one_of(st.text(max_size=4), st.just((3, 3)), st.just((1, 2, 3)), st.just((3, 11)),
                                           st.just(5)),
                      "flatten": st.one_of(st.integers(), st.text(max_size=2), st.none())}[arg])
    raises_ours(lambda: data.digits(**{"n": 4, arg: bad}), arg if arg != "classes" else r"class|pair|odd_vs_even")


@FUZZ
@given(X=bad_points(fixed_dimension=False), offset=st.just(0.5))
def test_shift_points_fuzz(X, offset):
    raises_ours(lambda: data.shift(X, offset), POINTS_MESSAGE)


@FUZZ
@given(offset=st.one_of(COMPLEX, NON_FINITE, st.text(max_size=3), st.just(torch.ones(D + 1)),
                        st.just(torch.ones(2, 2))))
def test_shift_offset_fuzz(offset):
    raises_ours(lambda: data.shift(X, offset), r"offset")


# ------------------------------------------------------------------------------------------- train
@FUZZ
@given(arg=st.sampled_from(["steps", "lr", "loss", "schedule"]), data_=st.data())
def test_train_config_fuzz(arg, data_):
    bad = data_.draw({"steps": BAD_SIZE, "lr": st.one_of(BAD_POSITIVE, st.just("0.3")),
                      "loss": st.one_of(st.text(max_size=4), st.none()),
                      "schedule": st.one_of(st.text(max_size=4), st.integers())}[arg])
    raises_ours(lambda: train.TrainConfig(**{arg: bad}), arg)


@FUZZ
@given(which=st.sampled_from(["X", "y", "net", "log_every", "certificate_every", "progress"]), data_=st.data())
def test_train_max_margin_fuzz(which, data_):
    net, X_, y_ = models.TwoLayerReLU(D, 4, init_scale=0.1), X, Y
    kwargs = {}
    pattern = which
    if which == "X":
        X_, pattern = data_.draw(bad_points()), POINTS_MESSAGE
    elif which == "y":
        y_, pattern = data_.draw(bad_labels()), r"\by\b|labels"
    elif which == "net":
        net, pattern = data_.draw(BAD_NET)[1](), NET_MESSAGE
    elif which == "progress":
        kwargs["progress"] = data_.draw(st.one_of(st.integers(), st.text(max_size=2), st.none()))
    else:
        kwargs[which] = data_.draw(BAD_SIZE)
    kwargs.setdefault("progress", False)
    raises_ours(lambda: train.train_max_margin(net, X_, y_, steps=2, **kwargs), pattern)


# --------------------------------------------------------------------------------------------- kkt
@FUZZ
@given(which=st.sampled_from(["net", "X", "y"]), fn=st.sampled_from(["margins", "normalize_margin", "certificate"]),
       data_=st.data())
def test_kkt_network_functions_fuzz(which, fn, data_):
    net, X_, y_ = NET, X, Y
    if which == "net":  # margins are defined for any network, homogeneous or not
        net, pattern = data_.draw(BAD_NET.filter(lambda k: fn != "margins" or k[0] != "bias"))[1](), NET_MESSAGE
    elif which == "X":
        X_, pattern = data_.draw(bad_points()), POINTS_MESSAGE
    else:
        y_, pattern = data_.draw(bad_labels()), r"\by\b|labels"
    call = {"margins": kkt.margins, "normalize_margin": kkt.normalize_margin, "certificate": certificate}[fn]
    raises_ours(lambda: call(net, X_, y_), pattern)


@FUZZ
@given(which=st.sampled_from(["net", "X", "y", "lam", "lam_min", "penalty", "gate", "method", "batch"]),
       fn=st.sampled_from(["kkt_loss", "stationarity_sum", "KKTLoss"]), data_=st.data())
def test_kkt_loss_fuzz(which, fn, data_):
    net, X_, y_, lam = NET, X, Y, LAM
    kwargs, pattern = {}, which
    if which == "net":
        net, pattern = data_.draw(BAD_NET)[1](), NET_MESSAGE
    elif which == "X":
        X_, pattern = data_.draw(bad_points()), POINTS_MESSAGE + r"|lam"
    elif which == "y":
        y_, pattern = data_.draw(bad_labels(batched=True, any_length=fn == "KKTLoss")), r"\by\b|labels"
    elif which == "lam":
        lam, pattern = data_.draw(bad_multipliers()), r"\blam\b"
    elif which == "batch":
        X_, lam, pattern = X.expand(3, N, D), LAM.expand(2, N), r"batch dimensions"
    elif which == "method":
        kwargs["method"] = data_.draw(st.one_of(st.text(max_size=5), st.integers(), st.none()))
    elif which == "gate":
        kwargs["gate"] = data_.draw(st.one_of(NOT_A_NUMBER, NON_FINITE, NON_POSITIVE))
    else:
        if fn == "stationarity_sum":
            return
        kwargs[which] = data_.draw(st.one_of(NOT_A_NUMBER, NON_FINITE) if which == "lam_min" else BAD_POSITIVE
                                   .filter(lambda v: not (isinstance(v, (int, float)) and v == 0)))
    if fn == "KKTLoss":
        if which in ("X", "lam", "batch"):
            return  # KKTLoss.__call__ checks types and shapes only (documented); kkt_loss covers the values
        call = lambda: kkt.KKTLoss(net, y_, **kwargs)  # noqa: E731
    else:
        call = lambda: getattr(kkt, fn)(net, X_, y_, lam, **kwargs)  # noqa: E731
    raises_ours(call, pattern)


@FUZZ
@given(arg=st.sampled_from(["kink_tol", "support_tol", "max_iter"]), data_=st.data())
def test_certificate_options_fuzz(arg, data_):
    bad = data_.draw(st.one_of(NOT_A_NUMBER, NON_FINITE, st.floats(min_value=1, max_value=1e9),
                               st.floats(max_value=-1e-9, min_value=-1e9)) if arg != "max_iter" else BAD_SIZE
                     .filter(lambda v: v != 0 or isinstance(v, bool)))
    raises_ours(lambda: certificate(NET, X, Y, **{arg: bad}), arg)


@FUZZ
@given(n=BAD_SIZE)
def test_simplex_kkt_point_fuzz(n):
    raises_ours(lambda: kkt.simplex_kkt_point(n), r"\bn\b")


# ------------------------------------------------------------------------------------------ lemmas
@FUZZ
@given(which=st.sampled_from(["net", "X", "y", "lam", "i", "nu", "alpha", "r", "fraction"]), data_=st.data())
def test_lemmas_fuzz(which, data_):
    net, X_, y_, lam = NET, X, Y, LAM
    pattern = which
    if which == "net":
        net, pattern = data_.draw(BAD_NET)[1](), NET_MESSAGE
    elif which == "X":
        X_, pattern = data_.draw(bad_points()), POINTS_MESSAGE
    elif which == "y":
        y_, pattern = data_.draw(bad_labels()), r"\by\b|labels"
    elif which == "lam":
        lam, pattern = data_.draw(bad_multipliers(allow_negative=False)), r"\blam\b"
    calls = {
        "net": lambda: lemmas.kkt_residuals(net, X_, y_, lam), "X": lambda: lemmas.merge(net, X_, y_, lam, 0, 2),
        "y": lambda: lemmas.mergeable_pairs(net, X_, y_), "lam": lambda: lemmas.far_kkt_set(net, X_, y_, lam, 2.0),
        "i": lambda: lemmas.splitting_directions(net, X, Y, data_.draw(
            st.one_of(BAD_SIZE, st.integers(N, 100)).filter(lambda v: v != 0 or isinstance(v, bool)))),
        "nu": lambda: lemmas.split_budget(net, X[0], data_.draw(bad_points(n=1, d=D).map(
            lambda p: p[0] if isinstance(p, torch.Tensor) and p.dim() == 2 and p.shape[0] else p))),
        "alpha": lambda: lemmas.split(net, X, Y, LAM, 0, torch.ones(D, dtype=torch.float64),
                                      alpha=data_.draw(BAD_POSITIVE), beta=0.5),
        "r": lambda: lemmas.far_kkt_set(net, X, Y, LAM, data_.draw(BAD_POSITIVE)),
        "fraction": lambda: lemmas.split_kkt_set(net, X, Y, LAM, fraction=data_.draw(BAD_POSITIVE)),
    }
    if which in ("i",):
        pattern = r"\bi\b"
    elif which == "nu":
        pattern = r"\bnu\b|\bx\b"
    raises_ours(calls[which], pattern)


# ------------------------------------------------------------------------------------------ attack
ATTACK_FIELDS = {
    "steps": st.one_of(st.booleans(), st.floats(), st.text(max_size=2), st.integers(max_value=-1)),
    "optimizer": st.one_of(st.text(max_size=4), st.none()), "lr": BAD_POSITIVE, "lam_lr": BAD_POSITIVE.filter(
        lambda v: v is not None), "momentum": st.one_of(NOT_A_NUMBER, NON_FINITE, st.floats(min_value=1, max_value=9)),
    "eps": BAD_POSITIVE, "lam_min": st.one_of(NOT_A_NUMBER, NON_FINITE, st.floats(max_value=-1e-9, min_value=-9)),
    "lam_penalty": BAD_POSITIVE, "prior_weight": BAD_POSITIVE, "init_scale": BAD_POSITIVE,
    "gate": BAD_POSITIVE.filter(lambda v: v is not None), "betas": st.one_of(st.just((0.9,)), st.just((1.0, 0.9)),
                                                                           st.just("ab"), st.just((True, 0.9))),
}


@FUZZ
@given(field=st.sampled_from(sorted(ATTACK_FIELDS)), data_=st.data())
def test_attack_config_fuzz(field, data_):
    raises_ours(lambda: attack.AttackConfig(**{field: data_.draw(ATTACK_FIELDS[field])}), field)


@FUZZ
@given(kind=st.sampled_from(["Box.lo", "Box.hi", "Box.shapes", "Sphere.radius", "Shift.offset", "enforce"]),
       value=st.one_of(COMPLEX, st.just(math.nan), st.text(max_size=3), st.just(object())))
def test_priors_fuzz(kind, value):
    calls = {"Box.lo": lambda: attack.Box(lo=value), "Box.hi": lambda: attack.Box(hi=value),
             "Box.shapes": lambda: attack.Box(lo=torch.zeros(3), hi=torch.ones(2)),
             "Sphere.radius": lambda: attack.Sphere(value), "Shift.offset": lambda: attack.Shift(value),
             "enforce": lambda: attack.Sphere(1.0, enforce=str(value))}
    pattern = {"Box.shapes": "Box.lo and Box.hi", "enforce": "enforce"}.get(kind, re.escape(kind))
    raises_ours(calls[kind], pattern)


@FUZZ
@given(which=st.sampled_from(["net", "n_candidates", "labels", "init", "seed", "device", "dtype", "init_scale",
                              "callback_every", "prior", "lr"]), data_=st.data())
def test_reconstruct_fuzz(which, data_):
    net, m, kwargs, pattern = NET, 4, {"steps": 2, "gate": None}, which
    if which == "net":
        net, pattern = data_.draw(BAD_NET)[1](), NET_MESSAGE + r"|input dimension"
    elif which == "n_candidates":
        m = data_.draw(BAD_SIZE)
    elif which == "labels":
        kwargs["labels"], pattern = data_.draw(bad_labels()), r"\by\b|labels"
    elif which == "init":
        kwargs["init"], pattern = data_.draw(st.one_of(bad_points(), st.text(max_size=5))), POINTS_MESSAGE + "|init"
    elif which == "seed":
        kwargs["seed"] = data_.draw(BAD_SEED.filter(lambda v: not isinstance(v, str)))
    elif which == "device":
        kwargs["device"] = data_.draw(BAD_DEVICE)
    elif which == "dtype":
        kwargs["dtype"] = data_.draw(BAD_DTYPE.filter(lambda v: v is not None))
    elif which == "init_scale":
        kwargs["init_scale"] = data_.draw(BAD_POSITIVE.filter(lambda v: v is not None and not isinstance(v, list)))
    elif which == "callback_every":
        kwargs["callback_every"] = data_.draw(BAD_SIZE)
    elif which == "prior":
        kwargs["prior"], pattern = data_.draw(st.sampled_from([object(), "box", attack.Box(torch.zeros(D + 1))])), \
            r"prior|Box.lo"
    else:
        kwargs["lr"] = data_.draw(BAD_POSITIVE.filter(lambda v: v is not None and not isinstance(v, list)))
    raises_ours(lambda: attack.reconstruct(net, m, **kwargs), pattern)


@FUZZ
@given(lr=st.floats(min_value=1e4, max_value=1e12), optimizer=st.sampled_from(["adam", "sgd"]))
def test_diverging_attacks_never_finish_silently(lr, optimizer):
    raises_ours(lambda: attack.reconstruct(NET, 4, steps=40, lr=lr, optimizer=optimizer), r"at step \d+")


# ----------------------------------------------------------------------------------------- metrics
@FUZZ
@given(fn=st.sampled_from(["nearest_distances", "hausdorff", "min_set_distance", "matching", "pairwise_distances",
                           "span_residuals"]), X_bad=bad_points(), first=st.booleans())
def test_set_metrics_fuzz(fn, X_bad, first):
    args = (X_bad, X) if first else (X, X_bad)
    raises_ours(lambda: getattr(metrics, fn)(*args), r"X_train|X_rec|\bA\b|\bB\b|" + POINTS_MESSAGE)


@FUZZ
@given(arg=st.sampled_from(["data_range", "sigma", "K1", "K2", "window_size"]), data_=st.data())
def test_ssim_options_fuzz(arg, data_):
    img = torch.rand(1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    bad = data_.draw(BAD_SIZE.filter(lambda v: not isinstance(v, int) or isinstance(v, bool) or v <= 0) if
                     arg == "window_size" else BAD_POSITIVE)
    raises_ours(lambda: metrics.ssim(img, img, **{arg: bad}), arg)


# ------------------------------------------------------------------------------------- experiments
NETSPEC_FIELDS = {"n": BAD_SIZE, "d": BAD_SIZE, "width": BAD_SIZE, "steps": BAD_SIZE, "seed": BAD_SEED,
                  "lr": BAD_POSITIVE, "init_scale": BAD_POSITIVE, "offset": st.one_of(NOT_A_NUMBER, NON_FINITE),
                  "in_span": st.one_of(st.integers(), st.text(max_size=2), st.none()),
                  "dataset": st.text(max_size=5), "arch": st.text(max_size=5)}


@FUZZ
@given(field=st.sampled_from(sorted(NETSPEC_FIELDS)), data_=st.data())
def test_netspec_fuzz(field, data_):
    bad = data_.draw(NETSPEC_FIELDS[field])
    if field == "n" and isinstance(bad, int) and not isinstance(bad, bool) and bad == 1:
        bad = 0
    raises_ours(lambda: trained_nets.NetSpec(**{field: bad}), field)


@FUZZ
@given(name=st.text(max_size=8), seed=BAD_SEED, scale=st.text(max_size=5))
def test_run_fuzz(name, seed, scale):
    raises_ours(lambda: experiments.run(name), r"unknown experiment")
    raises_ours(lambda: experiments.run("init_radius", scale, cache=False), r"scale")
    raises_ours(lambda: experiments.run("init_radius", "test", seed=seed, cache=False), r"seed")


# ------------------------------------------------------------------------------------------- cache
@FUZZ
@given(value=st.one_of(st.just(object()), st.just(math.nan), st.just(math.inf), st.just({1: 2}), st.just([1, 2]),
                       st.just(b"bytes"), COMPLEX))
def test_cache_key_fuzz(value):
    config = value if isinstance(value, list) else {"a": value}
    raises_ours(lambda: cache.cache_key(config), r"config")


# --------------------------------------------------------------------- issue 27: the categories of round two
class _Declared(nn.Sequential):
    """A 2-homogeneous nn.Sequential; the fuzzed value is set as its declared ``degree``."""


def _declaring(degree, *layers):
    net = _Declared(*(layers or (nn.Linear(D, 5, bias=False), nn.ReLU(), nn.Linear(5, 1, bias=False)))).double()
    net.degree = degree
    return net


@FUZZ
@given(degree=st.one_of(st.integers(-10, 10).filter(lambda k: k != 2), st.floats(allow_nan=False),
                        st.booleans(), st.text(max_size=2)),
       fn=st.sampled_from(["network_degree", "kkt_loss", "normalize_margin", "certificate", "train"]))
def test_a_declared_degree_that_is_not_the_measured_integer_is_refused_everywhere(degree, fn):
    net = _declaring(degree)
    calls = {"network_degree": lambda: models.network_degree(net), "kkt_loss": lambda: kkt.kkt_loss(net, X, Y, LAM),
             "normalize_margin": lambda: kkt.normalize_margin(net, X, Y), "certificate": lambda: certificate(net, X, Y),
             "train": lambda: train.train_max_margin(net, X, Y, steps=1)}
    raises_ours(calls[fn], r"declare")


@FUZZ
@given(layer=st.sampled_from([nn.Sigmoid, nn.Tanh, nn.Softplus, nn.GELU, nn.ELU]), degree=st.integers(1, 4),
       late_bias=st.booleans())
def test_a_declared_degree_never_excuses_a_late_bias_or_a_non_homogeneous_activation(layer, degree, late_bias):
    act = nn.ReLU() if late_bias else layer()
    net = _declaring(degree, nn.Linear(D, 5, bias=False), act, nn.Linear(5, 1, bias=late_bias))
    raises_ours(lambda: kkt.kkt_loss(net, X, Y, LAM), r"not homogeneous|not known to be homogeneous")


@FUZZ
@given(scale=st.floats(min_value=1e160, max_value=1e300), target=st.sampled_from(["X", "lam"]),
       fn=st.sampled_from(["kkt_loss", "stationarity_sum", "certificate"]))
def test_overflowing_inputs_give_our_error_never_inf_nan_or_a_linalg_error(scale, target, fn):
    X_, lam = (X * scale, LAM) if target == "X" else (X, LAM * scale)
    calls = {"kkt_loss": lambda: kkt.kkt_loss(NET, X_, Y, lam),
             "stationarity_sum": lambda: kkt.stationarity_sum(NET, X * scale, Y, LAM * scale),   # ‖·‖ ~ scale²
             "certificate": lambda: certificate(NET, X * scale, Y)}                     # it fits its own λ
    raises_ours(calls[fn], r"overflowed|not finite|infinite|too large")


@FUZZ
@given(m=st.integers(1, 4), n=st.integers(1, 4))
def test_ncc_of_one_pixel_images_is_our_error_not_nan(m, n):
    raises_ours(lambda: metrics.ncc_distances(torch.rand(m, 1), torch.rand(n, 1)), r"pixel")


META = torch.empty(N, D, device="meta")
META_CALLS = {
    "kkt_loss": lambda: kkt.kkt_loss(NET, META, Y, LAM), "margins": lambda: kkt.margins(NET, META, Y),
    "pairwise_distances": lambda: metrics.pairwise_distances(META, X),
    "ssim": lambda: metrics.ssim(torch.empty(2, 1, 4, 4, device="meta"), torch.rand(2, 1, 4, 4)),
    "meta net": lambda: kkt.kkt_loss(models.TwoLayerReLU(D, 3).to("meta"), X, Y, LAM),
    "reconstruct": lambda: attack.reconstruct(NET, 4, init=META, steps=1),
    "pool_scores": lambda: pooling.pool_scores(X, META, metric="l2", threshold=1.0),
    "check_real": lambda: checks.check_real(torch.tensor(1.0, device="meta"), "value"),
    "shift": lambda: data.shift(META, 1.0),
}


@FUZZ
@given(fn=st.sampled_from(sorted(META_CALLS)))
def test_meta_device_tensors_get_our_error(fn):
    raises_ours(META_CALLS[fn], r"'meta' device")


@FUZZ
@given(steps=st.integers(10**11, 10**15), batch=st.booleans())
def test_a_step_count_beyond_memory_is_refused_with_the_reason(steps, batch):
    call = (lambda: attack.reconstruct_batch(NET, 4, seeds=[0, 1], steps=steps)) if batch else \
        (lambda: attack.reconstruct(NET, 4, steps=steps))
    raises_ours(call, r"steps=\d+ .* needs .* GiB")


@FUZZ
@given(dtype=BAD_DTYPE)
def test_simplex_kkt_point_dtype_fuzz(dtype):
    raises_ours(lambda: kkt.simplex_kkt_point(4, dtype=dtype), r"dtype")


CANDIDATES = torch.randn(2, N, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
POOL_BAD = {
    "candidates": st.one_of(st.just(CANDIDATES + 1j), st.just(CANDIDATES.bool()), st.just("cands"),
                            st.just(torch.ones(2, N, D + 1)), st.just(CANDIDATES * math.nan)),
    "image_shape": st.one_of(st.just(5), st.just((1, 2, 3)), st.just((1, 2, 2.0)), st.just("1x2x2"),
                             st.just((True, 2, 2))),
    "mean": st.one_of(st.just([1.0, 2.0]), st.just("m"), st.just(torch.full((D,), math.nan)), COMPLEX),
    "lam": st.one_of(st.just(torch.ones(3)), st.just("lam"), st.just(torch.full((2 * N,), math.inf))),
    "kkt": st.one_of(st.just(torch.ones(3)), st.just(torch.full((2,), math.nan)), st.just(object())),
}


@FUZZ
@given(field=st.sampled_from(sorted(POOL_BAD)), data_=st.data())
def test_pool_scores_fuzz(field, data_):
    kwargs = {"candidates": CANDIDATES, "metric": "ssim", "image_shape": (1, 2, 2)}
    kwargs[field] = data_.draw(POOL_BAD[field])
    candidates = kwargs.pop("candidates")
    raises_ours(lambda: pooling.pool_scores(X, candidates, **kwargs), field + r"|real|numbers|booleans|NaN|infinite")


IMAGES = torch.rand(4, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
HAIM_BAD = {"image_shape": st.one_of(st.none(), st.just(16), st.just((1, 2, 8.0)), st.just((1, 3, 3))),
            "search_scale": st.one_of(st.floats(min_value=1e-6, max_value=0.24), st.just(0.0), st.just(2.0), COMPLEX),
            "mean": st.one_of(st.just([1.0, 2.0]), st.just(torch.ones(2, 16)), st.just("mean"))}


@FUZZ
@given(field=st.sampled_from(sorted(HAIM_BAD)), data_=st.data())
def test_haim_score_fuzz(field, data_):
    kwargs = {"image_shape": (1, 4, 4), "k": 2, field: data_.draw(HAIM_BAD[field])}
    raises_ours(lambda: metrics.haim_score(IMAGES, IMAGES.flip(0), **kwargs), field + r"|real|numbers|shrinks")


@FUZZ
@given(value=st.one_of(st.integers(), st.booleans(), st.floats(allow_nan=False), st.just(object())),
       field=st.sampled_from(["checkpoints", "classes"]))
def test_netspec_sequence_fields_refuse_scalars(value, field):
    raises_ours(lambda: trained_nets.NetSpec(**{field: value}), field)


@FUZZ
@given(k=st.one_of(st.booleans(), st.just(np.bool_(True)), st.floats(), st.text(max_size=2), st.just(None)))
def test_attack_result_member_refuses_a_non_integer_index(k):
    result = attack.reconstruct_batch(NET, 4, seeds=[0, 1], steps=1, gate=None)
    raises_ours(lambda: result.member(k), r"member index")


@FUZZ
@given(refresh=st.one_of(st.text(max_size=3), st.integers(), st.none(), st.floats()),
       fallbacks=st.one_of(st.text(min_size=1, max_size=8), st.just(3), st.just([3]), st.just([None])),
       which=st.sampled_from(["refresh", "fallbacks"]))
def test_cached_refresh_and_fallbacks_fuzz(tmp_path_factory, refresh, fallbacks, which):
    root = tmp_path_factory.mktemp("cache")
    kwargs = {"refresh": refresh} if which == "refresh" else {"fallbacks": fallbacks}
    raises_ours(lambda: cache.cached({"a": 1}, lambda: pytest.fail("computed"), root=root, **kwargs), which[:8])


@FUZZ
@given(content=st.binary(max_size=200), header=st.booleans())
def test_entry_config_of_any_bytes_is_a_value_error(tmp_path_factory, content, header):
    path = tmp_path_factory.mktemp("entry") / "x.pt"
    if header:   # a valid digest over garbage: the payload itself is refused
        content = b"reconleak-cache 1 " + hashlib.sha256(content).hexdigest().encode() + b"\n" + content
    path.write_bytes(content)
    raises_ours(lambda: cache.entry_config(path), r"not an intact reconleak cache entry")


@FUZZ
@given(fn=st.sampled_from(["achievable_split_distance", "split_budget", "far_kkt_set", "mergeable_pairs"]),
       seed=st.integers(0, 5))
def test_lemmas_refuse_a_first_layer_bias(fn, seed):
    net = models.TwoLayerReLU(D, 6, bias=True, seed=seed)
    calls = {"achievable_split_distance": lambda: lemmas.achievable_split_distance(net, X, Y, LAM),
             "split_budget": lambda: lemmas.split_budget(net, X[0], X[1]),
             "far_kkt_set": lambda: lemmas.far_kkt_set(net, X, Y, LAM, 1.0),
             "mergeable_pairs": lambda: lemmas.mergeable_pairs(net, X, Y)}
    raises_ours(calls[fn], r"first-layer bias")
