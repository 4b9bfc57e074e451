"""A held-out hostile-input sweep of reconleak_core: about 500 bad or edge inputs, one corrupted argument each.

Run it from the repository root (``PYTHONPATH=. python tools/hostile_sweep.py``; ``--only GROUP`` runs one group,
``--sample K`` every K-th case, ``--no-cli`` skips the command-line cases, which start a Python each). Every case
is a valid call with ONE input replaced by a bad or edge value; the cases differ from those of
``tests/test_fuzz.py`` and ``tests/test_checks*.py`` (other sizes, other networks, other bad values). A case
is classified as

- ``OK``: the library's own clear error (``TypeError``, ``ValueError``, an ``OSError`` such as
  ``FileNotFoundError``, or ``claims.ClaimFailed``, raised from a ``reconleak_core`` frame, with a message), or a
  correct result (for an edge input that is valid: finite, and right where the case says what is right);
- ``RAW``: an exception raised inside torch, numpy or Python itself, or an ``AssertionError``, ``IndexError``,
  ``KeyError``, ``ZeroDivisionError``, ``RuntimeError``, ``AttributeError``, ``LinAlgError``... escaping;
- ``SILENT``: a bad input accepted (the call returned), or a result holding NaN/inf or a wrong value;
- ``HANG``: no answer within 20 s (``signal.alarm``; a subprocess timeout for the command line).

It prints the counts per category and every case that is not OK, and exits 1 when RAW + SILENT + HANG > 5
(issue 27's bound). The committed checkpoints are never modified: the checkpoint cases damage a temporary copy.
A memory limit (8 GiB of address space) keeps a case that asks for terabytes from touching the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconleak_core import (  # noqa: E402
    attack,
    cache,
    calibration,
    certificate,
    checks,
    claims,
    data,
    experiments,
    kkt,
    lemmas,
    metrics,
    models,
    pooling,
    priors,
    runtime,
    sliders,
    sweep,
    train,
    trained_nets,
    viz,
)

TIMEOUT = 20
OK_TYPES = (TypeError, ValueError, OSError, claims.ClaimFailed)
RAW_TYPES = (
    AssertionError,
    LookupError,
    ArithmeticError,
    RuntimeError,
    AttributeError,
    np.linalg.LinAlgError,
    RecursionError,
    MemoryError,
    NotImplementedError,
)
RAISE, FINITE, BATCH = "raise", "finite", "batch"  # BATCH: a batch, valid where the function batches


class Hang(Exception):
    pass


@dataclasses.dataclass
class Case:
    group: str
    name: str
    call: object
    expect: object = RAISE  # RAISE: must raise ours; FINITE: may return a finite result; callable: result check
    batched: bool = False  # whether the function takes batches (..., n, d) (kkt_loss, stationarity_sum)


CASES: list[Case] = []


def case(group, name, call, expect=RAISE, batched=False):
    CASES.append(Case(group, name, call, expect, batched))


def _nonfinite(value, depth=0) -> bool:
    """Whether ``value`` holds NaN or inf anywhere (tensors, arrays, numbers, containers, dataclasses)."""
    if depth > 4:
        return False
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() and not value.is_meta and not bool(torch.isfinite(value.detach()).all())
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f" and not bool(np.isfinite(value).all())
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return any(_nonfinite(v, depth + 1) for v in value[:50])
    if isinstance(value, dict):
        return any(_nonfinite(v, depth + 1) for v in list(value.values())[:50])
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(_nonfinite(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    if isinstance(value, nn.Module):
        return any(_nonfinite(p, depth + 1) for p in value.parameters())
    return False


def _ours(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and "/reconleak_core/" in last


def classify(c: Case):
    """(category, detail) of one case."""

    def alarm(*_):
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(TIMEOUT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = c.call()
    except Hang:
        return "HANG", f"no answer in {TIMEOUT} s"
    except BaseException as exc:  # noqa: BLE001 - classified here
        if isinstance(exc, KeyboardInterrupt):
            raise
        text = f"{type(exc).__name__}: {str(exc)[:160]}"
        if isinstance(exc, claims.ClaimFailed):
            return "OK", text
        if isinstance(exc, RAW_TYPES) or not isinstance(exc, OK_TYPES):
            return "RAW", text + _where(exc)
        if not _ours(exc) or not str(exc).strip():
            return "RAW", text + _where(exc)
        return "OK", text
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        _close_figures()
    if c.expect == RAISE or (c.expect == BATCH and not c.batched):
        return "SILENT", f"returned {_short(result)}"
    if callable(c.expect):  # the case's own check of the result (where inf or NaN can be right, it says so)
        verdict = c.expect(result)
        if verdict is not True:
            return "SILENT", f"wrong result: {_short(verdict)}"
    elif _nonfinite(result):
        return "SILENT", f"non-finite result {_short(result)}"
    return "OK", f"returned {_short(result)}"


def _where(exc) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f" [at {Path(frames[-1].filename).name}:{frames[-1].lineno}]" if frames else ""


def _short(value) -> str:
    if isinstance(value, torch.Tensor):
        shown = value.flatten()[:3].tolist() if value.numel() and not value.is_meta else ""
        return f"tensor{tuple(value.shape)} {shown}"
    return f"{type(value).__name__} {str(value)[:80]!r}"


def _close_figures():
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


# ============================================================================================ valid templates
G = torch.Generator().manual_seed(11)
D0, N0 = 3, 6
X0 = torch.randn(N0, D0, dtype=torch.float64, generator=G)
X0 = X0 / X0.norm(dim=1, keepdim=True)
Y0 = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
LAM0 = torch.rand(N0, dtype=torch.float64, generator=G) + 0.1
NET0 = models.TwoLayerReLU(D0, 5, init_scale=0.5, seed=3)
NETS, XS, YS, LAMS = kkt.simplex_kkt_point(4, d=5)  # a separating network (a KKT point) for the certificate
MLP0 = models.HomogeneousMLP(D0, (4, 3), init_scale=0.5, seed=4)
SEQ0 = nn.Sequential(nn.Linear(D0, 4, bias=False), nn.ReLU(), nn.Linear(4, 1, bias=False)).double()
IMG = torch.rand(5, 1, 6, 6, dtype=torch.float64, generator=G)
FLAT = IMG.reshape(5, 36)
SHAPE = (1, 6, 6)


def _meta(shape):
    return torch.empty(*shape, device="meta", dtype=torch.float64)


def _noncontig(X):
    return X.t().contiguous().t()


def bad_points(X, *, edges=True):
    """(label, value, expect) triples: X corrupted in one way (RAISE), or an edge form of a valid X (FINITE)."""
    n, d = X.shape
    nan, inf = X.clone(), X.clone()
    nan[1, 0], inf[0, -1] = math.nan, -math.inf
    out = [
        ("None", None, RAISE),
        ("str", "points", RAISE),
        ("float", 2.5, RAISE),
        ("bool", True, RAISE),
        ("complex", X.to(torch.complex128), RAISE),
        ("nan", nan, RAISE),
        ("-inf", inf, RAISE),
        ("empty", X[:0], RAISE),
        ("1-D", X[0], RAISE),
        ("3-D", X.unsqueeze(0).expand(2, n, d), BATCH),
        ("wrong d", torch.ones(n, d + 2, dtype=torch.float64), RAISE),
        ("meta", _meta((n, d)), RAISE),
        ("bool tensor", X > 0, RAISE),
        ("1e308 scale", X * 1e308, FINITE),
        ("dict", {"X": X}, RAISE),
    ]
    if edges:
        out += [
            ("float16", X.half(), FINITE),
            ("int64", (X * 3).round().long(), FINITE),
            ("non-contiguous", _noncontig(X), FINITE),
            ("requires_grad", X.clone().requires_grad_(), FINITE),
            ("numpy", X.numpy(), FINITE),
            ("duplicate points", torch.cat([X[:1], X[:1], X[2:]]), FINITE),
            ("zero vector", torch.cat([torch.zeros(1, d, dtype=X.dtype), X[1:]]), FINITE),
        ]
    return out


def bad_labels(y):
    n = len(y)
    return [
        ("0/1 labels", (y + 1) / 2, RAISE),
        ("labels 2", y * 2, RAISE),
        ("None", None, RAISE),
        ("wrong length", y[:-1], RAISE),
        ("str", "+-" * (n // 2), RAISE),
        ("bool", y > 0, RAISE),
        ("nan", torch.full_like(y, math.nan), RAISE),
        ("complex", y.to(torch.complex128), RAISE),
        ("2-D", y.reshape(1, -1).expand(2, n), BATCH),
        ("meta", _meta((n,)), RAISE),
        ("one class only", torch.ones_like(y), FINITE),
        ("int labels", y.long(), FINITE),
        ("list", y.tolist(), FINITE),
        ("float32", y.float(), FINITE),
    ]


def bad_counts(valid=3):
    return [
        ("None", None, RAISE),
        ("bool", True, RAISE),
        ("float", 2.5, RAISE),
        ("str", "3", RAISE),
        ("zero", 0, RAISE),
        ("negative", -2, RAISE),
        ("huge", 10**13, RAISE),
        ("complex", 3 + 0j, RAISE),
        ("nan", math.nan, RAISE),
        ("np.int64", np.int64(valid), FINITE),
        ("tensor int", torch.tensor(valid), RAISE),
    ]


def bad_reals(positive=True):
    out = [
        ("None", None, RAISE),
        ("bool", False, RAISE),
        ("str", "0.1", RAISE),
        ("complex", 0.1 + 1j, RAISE),
        ("nan", math.nan, RAISE),
        ("inf", math.inf, RAISE),
        ("list", [0.1], RAISE),
        ("np.float32", np.float32(0.25), FINITE),
    ]
    if positive:
        out += [("negative", -0.5, RAISE), ("zero", 0.0, RAISE)]
    return out


def sweep_arg(group, fname, call, arg, variants, base):
    """One case per variant: ``call(**{**base, arg: value})``."""
    for label, value, expect in variants:
        case(group, f"{fname}({arg}={label})", lambda v=value: call(**{**base, arg: v}), expect)


# ================================================================================================= checks
def _checks():
    g = "checks"
    for label, v, e in bad_points(X0)[1::2]:
        case(g, f"check_points({label})", lambda v=v: checks.check_points(v, "X", d=D0), e)
    for label, v, e in bad_labels(Y0)[::2]:
        case(g, f"check_labels({label})", lambda v=v: checks.check_labels(v, n=N0), e)
    case(g, "check_int(np.uint8 255)", lambda: checks.check_int(np.uint8(255), "k"), lambda r: r == 255 or r)
    case(g, "check_int(2**200)", lambda: checks.check_int(2**200, "k", maximum=10))
    case(g, "check_reals(generator)", lambda: checks.check_reals((x for x in [1.0, 2.0]), "v"), FINITE)
    case(g, "check_reals(dict)", lambda: checks.check_reals({"a": 1.0}, "v"))
    case(g, "check_reals(np.nan in array)", lambda: checks.check_reals(np.array([1.0, np.nan]), "v"))
    case(g, "check_fraction(1.0)", lambda: checks.check_fraction(1.0, "f"))
    case(g, "check_image_shape((1,6,6) vs 35)", lambda: checks.check_image_shape((1, 6, 6), 35))
    case(
        g,
        "check_image_shape(np.array)",
        lambda: checks.check_image_shape(np.array([1, 6, 6]), 36),
        lambda r: r == (1, 6, 6) or r,
    )
    case(g, "check_image_shape(torch 0-dim)", lambda: checks.check_image_shape(torch.tensor(36), 36))
    case(g, "check_multipliers(2-D wrong)", lambda: checks.check_multipliers(torch.ones(N0, 2), N0))
    case(g, "check_network(list of modules)", lambda: checks.check_network([NET0]))
    case(g, "check_network(half-nan)", lambda: checks.check_network(_set_param(NET0, math.inf)))
    case(g, "scalar_output((n,2))", lambda: checks.scalar_output(torch.ones(N0, 2), X0))
    case(g, "scalar_output(np array)", lambda: checks.scalar_output(np.ones(N0), X0))
    case(g, "as_tensor(ragged numpy object)", lambda: checks.as_tensor(np.array([1, "a"], dtype=object), "v"))
    case(g, "as_tensor(float16 dtype)", lambda: checks.as_tensor([1.0], "v", dtype=torch.float16), FINITE)
    case(g, "check_float_dtype(np.float64)", lambda: checks.check_float_dtype(np.float64))
    case(g, "check_seed(np.uint64 max)", lambda: checks.check_seed(np.uint64(2**64 - 1)))


def _set_param(net, value):
    copy = models.TwoLayerReLU(D0, 5, init_scale=0.5, seed=3)
    with torch.no_grad():
        copy.v[0] = value
    return copy


# ================================================================================================= models
def _models():
    g = "models"
    base = {"d": D0, "width": 5}
    for arg, variants in (("d", bad_counts()[::2]), ("width", bad_counts()[1::2]), ("init_scale", bad_reals()[::2])):
        sweep_arg(g, "TwoLayerReLU", lambda **k: models.TwoLayerReLU(**k), arg, variants, base)
    sweep_arg(
        g,
        "TwoLayerReLU",
        lambda **k: models.TwoLayerReLU(**k),
        "span",
        [
            ("wrong dim", torch.ones(2, D0 + 1, dtype=torch.float64), RAISE),
            ("zero span", torch.zeros(2, D0, dtype=torch.float64), RAISE),
            ("nan span", torch.full((2, D0), math.nan), RAISE),
            ("str", "span", RAISE),
            ("1 point", X0[:1], FINITE),
        ],
        base,
    )
    sweep_arg(
        g,
        "TwoLayerReLU",
        lambda **k: models.TwoLayerReLU(**k),
        "fixed_second_layer",
        [("int 1", 1, RAISE), ("str", "yes", RAISE), ("None", None, RAISE)],
        base,
    )
    sweep_arg(
        g,
        "TwoLayerReLU",
        lambda **k: models.TwoLayerReLU(**k),
        "bias",
        [("int 0", 0, RAISE), ("str", "no", RAISE)],
        base,
    )
    sweep_arg(
        g,
        "TwoLayerReLU",
        lambda **k: models.TwoLayerReLU(**k),
        "dtype",
        [("float16", torch.float16, FINITE), ("str", "float32", RAISE), ("uint8", torch.uint8, RAISE)],
        base,
    )
    sweep_arg(
        g,
        "HomogeneousMLP",
        lambda **k: models.HomogeneousMLP(**k),
        "widths",
        [
            ("zero width", (3, 0), RAISE),
            ("tuple of str", ("3",), RAISE),
            ("np array", np.array([3, 2]), FINITE),
            ("huge", (10**7, 10**7), RAISE),
            ("dict", {3: 1}, RAISE),
            ("negative", (2, -1), RAISE),
            ("float", (2.0,), RAISE),
            ("generator", (w for w in (2, 2)), FINITE),
        ],
        {"d": D0, "widths": (3,)},
    )
    sweep_arg(
        g,
        "HomogeneousMLP",
        lambda **k: models.HomogeneousMLP(**k),
        "init_scale",
        bad_reals()[1::2],
        {"d": D0, "widths": (3,)},
    )
    z = torch.linspace(-2, 2, 7, dtype=torch.float64)
    sweep_arg(
        g,
        "soft_gate_relu",
        lambda **k: models.soft_gate_relu(**k),
        "z",
        [
            ("int tensor", torch.arange(-3, 4), FINITE),
            ("list", [0.1, -0.2], RAISE),
            ("None", None, RAISE),
            ("nan", torch.tensor([math.nan]), RAISE),
            ("complex", z.to(torch.complex128), RAISE),
            ("meta", _meta((3,)), RAISE),
            ("requires_grad", z.clone().requires_grad_(), FINITE),
            ("empty", z[:0], FINITE),
        ],
        {"z": z, "alpha": 10.0},
    )
    sweep_arg(
        g,
        "soft_gate_relu",
        lambda **k: models.soft_gate_relu(**k),
        "form",
        [("unknown", "soft", RAISE), ("None", None, RAISE), ("int", 1, RAISE)],
        {"z": z, "alpha": 10.0},
    )
    sweep_arg(
        g,
        "soft_gate_relu",
        lambda **k: models.soft_gate_relu(**k),
        "alpha",
        [
            ("tensor wrong shape", torch.ones(3), RAISE),
            ("huge", 1e308, FINITE),
            ("tensor nan", torch.tensor(math.nan), RAISE),
        ],
        {"z": z, "alpha": 10.0},
    )
    case(g, "SoftGated(str)", lambda: models.SoftGated("net"))
    case(g, "SoftGated(no ReLU)", lambda: models.SoftGated(nn.Sequential(nn.Linear(3, 1, bias=False))))
    case(g, "SoftGated(functional relu net)", lambda: models.SoftGated(_FunctionalRelu()))
    case(g, "SoftGated(SoftGated)", lambda: models.SoftGated(models.SoftGated(SEQ0)), FINITE)
    case(g, "GatedReLU()(int tensor)", lambda: models.GatedReLU()(torch.arange(3)), FINITE)
    for label, net in _bad_nets()[::2]:
        case(
            g,
            f"homogeneity_degree({label})",
            lambda net=net: models.homogeneity_degree(net()),
            FINITE if "valid" in label or "declared" in label else RAISE,
        )  # it measures, whatever is declared
        case(g, f"network_degree({label})", lambda net=net: models.network_degree(net()), _e(label))
    sweep_arg(
        g,
        "homogeneity_degree",
        lambda **k: models.homogeneity_degree(**k),
        "tol",
        [
            ("zero", 0.0, RAISE),
            ("negative", -1e-6, RAISE),
            ("nan", math.nan, RAISE),
            ("10", 10.0, RAISE),
            ("str", "1e-6", RAISE),
        ],
        {"net": NET0},
    )
    case(g, "homogeneity_degree(net zero weights)", lambda: models.homogeneity_degree(_zero_net()))
    case(
        g,
        "homogeneity_degree(degree 4 MLP)",
        lambda: models.homogeneity_degree(models.HomogeneousMLP(D0, (3, 3, 3), seed=1)),
        lambda r: r == 4 or f"degree {r}",
    )
    case(g, "input_dim(str)", lambda: models.input_dim("net"))
    case(g, "input_dim(d attr float)", lambda: models.input_dim(_with_attr(SEQ0, "d", 3.0)))
    case(g, "input_dim(d attr 0)", lambda: models.input_dim(_with_attr(SEQ0, "d", 0)))
    case(g, "input_dim(Conv first)", lambda: models.input_dim(nn.Sequential(nn.Conv2d(1, 1, 3))), FINITE)
    case(g, "parameter_vector(None)", lambda: models.parameter_vector(None))
    case(g, "parameter_vector(no params)", lambda: models.parameter_vector(nn.ReLU()))
    case(g, "parameter_vector(meta)", lambda: models.parameter_vector(models.TwoLayerReLU(3, 3).to("meta")))
    case(
        g,
        "parameter_vector(mixed dtypes)",
        lambda: models.parameter_vector(
            nn.Sequential(nn.Linear(3, 2, bias=False).double(), nn.Linear(2, 1, bias=False).float())
        ),
        FINITE,
    )
    sweep_arg(
        g,
        "span_projector",
        lambda **k: models.span_projector(**k),
        "span",
        [
            ("zeros", torch.zeros(2, D0, dtype=torch.float64), RAISE),
            ("1e-300", X0[:2] * 1e-300, FINITE),
            ("1e300", X0[:2] * 1e300, FINITE),
            ("meta", _meta((2, D0)), RAISE),
            ("int", torch.eye(D0).long(), FINITE),
            ("rank deficient", torch.stack([X0[0], 2 * X0[0]]), FINITE),
        ],
        {"span": X0[:2], "d": D0},
    )
    sweep_arg(
        g,
        "span_projector",
        lambda **k: models.span_projector(**k),
        "d",
        [("mismatch", D0 + 1, RAISE), ("zero", 0, RAISE), ("float", 3.0, RAISE), ("None", None, RAISE)],
        {"span": X0[:2], "d": D0},
    )


class _FunctionalRelu(nn.Module):
    d = D0

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(D0, 3, bias=False).double()
        self.b = nn.Linear(3, 1, bias=False).double()

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


def _zero_net():
    net = models.TwoLayerReLU(D0, 5, seed=1)
    with torch.no_grad():
        net.W.zero_()
    return net


def _with_attr(net, key, value):
    copy = nn.Sequential(*net).double()
    setattr(copy, key, value)
    return copy


def _e(label):
    """Valid networks among the bad ones may give a finite result (or our error); the others must be refused."""
    return FINITE if "(valid)" in label else RAISE


def _bad_nets():
    return [
        ("None", lambda: None),
        ("tensor", lambda: NET0.W.detach()),
        ("class not instance", lambda: models.TwoLayerReLU),
        ("inf weight", lambda: _set_param(NET0, math.inf)),
        (
            "LeakyReLU (valid)",
            lambda: nn.Sequential(
                nn.Linear(D0, 3, bias=False), nn.LeakyReLU(0.1), nn.Linear(3, 1, bias=False)
            ).double(),
        ),
        (
            "Softplus",
            lambda: nn.Sequential(nn.Linear(D0, 3, bias=False), nn.Softplus(), nn.Linear(3, 1, bias=False)).double(),
        ),
        (
            "two outputs",
            lambda: nn.Sequential(nn.Linear(D0, 3, bias=False), nn.ReLU(), nn.Linear(3, 2, bias=False)).double(),
        ),
        ("bias last", lambda: nn.Sequential(nn.Linear(D0, 3, bias=False), nn.ReLU(), nn.Linear(3, 1)).double()),
        (
            "float32 seq (valid)",
            lambda: nn.Sequential(nn.Linear(D0, 3, bias=False), nn.ReLU(), nn.Linear(3, 1, bias=False)),
        ),
        ("zero weights (valid)", _zero_net),
        ("declared degree 3", lambda: _with_attr(SEQ0, "degree", 3)),
        ("declared degree '2'", lambda: _with_attr(SEQ0, "degree", "2")),
        (
            "BatchNorm",
            lambda: nn.Sequential(
                nn.Linear(D0, 3, bias=False), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 1, bias=False)
            ).double(),
        ),
    ]


# ==================================================================================================== kkt
def _kkt():
    g = "kkt"
    base = {"net": NET0, "X": X0, "y": Y0, "lam": LAM0}
    kl = lambda **k: kkt.kkt_loss(k.pop("net"), k.pop("X"), k.pop("y"), k.pop("lam"), **k)  # noqa: E731
    for label, v, e in bad_points(X0)[::2]:
        case(g, f"kkt_loss(X={label})", lambda v=v: kkt.kkt_loss(NET0, v, Y0, LAM0), e, batched=True)
    for label, v, e in bad_points(X0)[::3]:
        case(g, f"margins(X={label})", lambda v=v: kkt.margins(MLP0, v, Y0), e)
    for label, v, e in bad_labels(YS)[::2]:
        case(g, f"kkt_loss(y={label})", lambda v=v: kkt.kkt_loss(NETS, XS, v, LAMS), e, batched=True)
        case(
            g,
            f"normalize_margin(y={label})",
            lambda v=v: kkt.normalize_margin(NETS, XS, v),
            RAISE if label == "one class only" else e,
        )
    for label, net in _bad_nets():
        case(g, f"kkt_loss(net={label})", lambda net=net: kkt.kkt_loss(net(), X0, Y0, LAM0), _e(label))
    sweep_arg(
        g,
        "kkt_loss",
        kl,
        "lam",
        [
            ("negative", -LAM0, FINITE),
            ("1e300", LAM0 * 1e300, RAISE),
            ("int", torch.ones(N0).long(), FINITE),
            ("float16", LAM0.half(), FINITE),
            ("list", LAM0.tolist(), FINITE),
            ("batch (2, 3, n)", LAM0.expand(2, 3, N0), FINITE),
            ("zeros", torch.zeros(N0, dtype=torch.float64), FINITE),
            ("meta", _meta((N0,)), RAISE),
            ("numpy", LAM0.numpy(), FINITE),
        ],
        base,
    )
    sweep_arg(
        g,
        "kkt_loss",
        kl,
        "lam_min",
        bad_reals(positive=False) + [("tensor per point", LAM0, FINITE), ("1e308", 1e308, RAISE)],
        base,
    )
    sweep_arg(g, "kkt_loss", kl, "penalty_form", [("unknown", "quadratic!", RAISE), ("None", None, RAISE)], base)
    sweep_arg(g, "kkt_loss", kl, "lam_scale", [("unknown", "mean!", RAISE), ("int", 1, RAISE)], base)
    sweep_arg(
        g,
        "kkt_loss",
        kl,
        "gate",
        [
            ("list wrong len", [1.0, 2.0, 3.0], RAISE),
            ("str", "300", RAISE),
            ("huge", 1e308, FINITE),
            ("tiny", 1e-300, FINITE),
        ],
        base,
    )
    sweep_arg(g, "kkt_loss", kl, "gate_form", [("unknown", "hard", RAISE), ("None", None, RAISE)], base)
    sweep_arg(
        g,
        "kkt_loss",
        kl,
        "method",
        [("unknown", "fast", RAISE), ("closed on MLP", "closed", RAISE)],
        {**base, "net": MLP0},
    )
    sweep_arg(g, "kkt_loss", kl, "penalty", [("huge", 1e308, FINITE), ("negative", -1.0, RAISE)], base)
    case(g, "kkt_loss(zero net)", lambda: kkt.kkt_loss(_zero_net(), X0, Y0, LAM0), FINITE)
    case(g, "KKTLoss(y one class)", lambda: kkt.KKTLoss(NET0, torch.ones(N0, dtype=torch.float64))(X0, LAM0), FINITE)
    case(g, "KKTLoss()(X wrong d)", lambda: kkt.KKTLoss(NET0, Y0)(torch.ones(N0, D0 + 1), LAM0))
    case(g, "KKTLoss()(lam wrong len)", lambda: kkt.KKTLoss(NET0, Y0)(X0, LAM0[:-1]))
    case(g, "KKTLoss()(X str)", lambda: kkt.KKTLoss(NET0, Y0)("X", LAM0))
    case(g, "KKTLoss(net str)", lambda: kkt.KKTLoss("net", Y0))
    case(g, "closed_form(str)", lambda: kkt.closed_form("net"))
    case(g, "closed_form(seq)", lambda: kkt.closed_form(SEQ0), lambda r: r is None or r)
    case(g, "gate_aware(None)", lambda: kkt.gate_aware(None))
    case(g, "check_data(batched=1)", lambda: kkt.check_data(NET0, X0, Y0, batched=1))
    case(g, "check_data(X 3-D batched)", lambda: kkt.check_data(NET0, X0.expand(2, N0, D0), Y0, batched=True), FINITE)
    sweep_arg(
        g,
        "simplex_kkt_point",
        lambda **k: kkt.simplex_kkt_point(**k),
        "n",
        [("one", 1, FINITE), ("huge", 10**7, RAISE), ("np.int32", np.int32(3), FINITE)],
        {"n": 3},
    )
    sweep_arg(
        g,
        "simplex_kkt_point",
        lambda **k: kkt.simplex_kkt_point(**k),
        "d",
        [
            ("smaller than n-1", 1, RAISE),
            ("zero", 0, RAISE),
            ("str", "4", RAISE),
            ("float", 4.0, RAISE),
            ("large", 50, FINITE),
        ],
        {"n": 4},
    )
    sweep_arg(
        g,
        "simplex_kkt_point",
        lambda **k: kkt.simplex_kkt_point(**k),
        "dtype",
        [("float16", torch.float16, FINITE), ("bfloat16", torch.bfloat16, FINITE)],
        {"n": 4},
    )
    case(g, "margins(net not separating)", lambda: kkt.margins(NET0, X0, -Y0), FINITE)
    case(g, "normalize_margin(not separating)", lambda: kkt.normalize_margin(NET0, X0, -Y0))
    case(g, "normalize_margin(X 1e-200)", lambda: kkt.normalize_margin(NETS, XS * 1e-200, YS), FINITE)
    case(
        g,
        "stationarity_sum(lam 2-D batch vs X)",
        lambda: kkt.stationarity_sum(NET0, X0, Y0, LAM0.expand(3, N0)),
        FINITE,
    )
    case(
        g,
        "stationarity_sum(method torch.func on Seq)",
        lambda: kkt.stationarity_sum(SEQ0, X0, Y0, LAM0, method="autograd"),
        FINITE,
    )


# ============================================================================================ certificate
def _certificate():
    g = "certificate"
    for label, v, e in bad_points(XS)[1::2]:
        case(g, f"certificate(X={label})", lambda v=v: certificate.certificate(NETS, v, YS), e)
    for label, v, e in bad_labels(YS)[:9]:
        case(g, f"certificate(y={label})", lambda v=v: certificate.certificate(NETS, XS, v), e)
    for label, net in _bad_nets():
        case(g, f"certificate(net={label})", lambda net=net: certificate.certificate(net(), XS, YS), _e(label))
    base = {"net": NETS, "X": XS, "y": YS}
    cf = lambda **k: certificate.certificate(k.pop("net"), k.pop("X"), k.pop("y"), **k)  # noqa: E731
    sweep_arg(
        g,
        "certificate",
        cf,
        "kink_tol",
        [("np.float64", np.float64(1e-3), FINITE), ("str", "1e-4", RAISE), ("None", None, RAISE), ("1", 1.0, RAISE)],
        base,
    )
    sweep_arg(
        g,
        "certificate",
        cf,
        "max_iter",
        [("huge", 10**12, FINITE), ("np.int64", np.int64(10), FINITE), ("float", 10.0, RAISE)],
        base,
    )
    case(g, "certificate(not separating)", lambda: certificate.certificate(NETS, XS, -YS))
    case(g, "certificate(MLP)", lambda: certificate.certificate(MLP0, X0, torch.sign(MLP0(X0).detach())), FINITE)
    case(g, "Certificate(eps=str)", lambda: certificate.Certificate("a", 0.1, 0.1, LAM0, LAM0 > 0, X0[:, 0], 1.0, 2))
    case(g, "clarke_form(None)", lambda: certificate.clarke_form(None))
    case(g, "clarke_form(SEQ)", lambda: certificate.clarke_form(SEQ0), lambda r: r is None or r)


# ================================================================================================== train
def _train():
    g = "train"
    sweep_arg(
        g,
        "TrainConfig",
        lambda **k: train.TrainConfig(**k),
        "steps",
        [
            ("huge", 10**15, FINITE),
            ("np.int64", np.int64(10), FINITE),
            ("tensor", torch.tensor(10), RAISE),
            ("float", 10.0, RAISE),
        ],
        {},
    )
    sweep_arg(
        g,
        "TrainConfig",
        lambda **k: train.TrainConfig(**k),
        "lr",
        [("1e308", 1e308, FINITE), ("np.float32", np.float32(0.1), FINITE), ("tensor", torch.tensor(0.1), FINITE)],
        {},
    )
    sweep_arg(
        g,
        "TrainConfig",
        lambda **k: train.TrainConfig(**k),
        "loss",
        [("Exponential", "Exponential", RAISE), ("callable", torch.exp, RAISE)],
        {},
    )
    net = lambda: models.TwoLayerReLU(D0, 5, init_scale=0.5, seed=3)  # noqa: E731
    for label, v, e in bad_points(X0)[::3]:
        case(
            g,
            f"train_max_margin(X={label})",
            lambda v=v: train.train_max_margin(net(), v, Y0, steps=2, progress=False),
            e,
        )
    for label, v, e in bad_labels(Y0)[1::3]:
        case(
            g,
            f"train_max_margin(y={label})",
            lambda v=v: train.train_max_margin(net(), X0, v, steps=2, progress=False),
            e,
        )
    for label, n in _bad_nets():
        case(
            g,
            f"train_max_margin(net={label})",
            lambda n=n: train.train_max_margin(n(), X0, Y0, steps=2, progress=False),
            _e(label),
        )
    base = {"net": None, "X": X0, "y": Y0, "steps": 2, "progress": False}
    tm = lambda **k: train.train_max_margin(net(), **{a: b for a, b in k.items() if a != "net"})  # noqa: E731
    sweep_arg(
        g, "train_max_margin", tm, "steps", [("zero", 0, RAISE), ("huge", 10**13, RAISE), ("float", 2.0, RAISE)], base
    )
    sweep_arg(g, "train_max_margin", tm, "lr", [("1e308", 1e308, RAISE), ("1e6", 1e6, RAISE)], {**base, "steps": 20})
    sweep_arg(g, "train_max_margin", tm, "config", [("dict", {"steps": 2}, RAISE), ("str", "fast", RAISE)], base)
    sweep_arg(g, "train_max_margin", tm, "unknown_override", [("7", 7, RAISE)], base)
    sweep_arg(g, "train_max_margin", tm, "certificate_every", [("bigger than steps", 100, FINITE)], base)
    case(g, "History(step wrong type)", lambda: train.History("a", np.zeros(1), np.zeros(1)))
    case(g, "History(lengths differ)", lambda: train.History(np.arange(3), np.zeros(2), np.zeros(3)))


# =================================================================================================== data
def _data():
    g = "data"
    for arg, k in (("n", 0), ("d", 1)):
        sweep_arg(g, "sphere", lambda **k: data.sphere(**k), arg, bad_counts()[k::2], {"n": 5, "d": 3})
    sweep_arg(
        g,
        "sphere",
        lambda **k: data.sphere(**k),
        "radius",
        bad_reals()[1::2] + [("1e308", 1e308, FINITE), ("tensor", torch.tensor(2.0), FINITE)],
        {"n": 5, "d": 3},
    )
    sweep_arg(
        g,
        "sphere",
        lambda **k: data.sphere(**k),
        "subspace_dim",
        [("> d", 4, RAISE), ("zero", 0, RAISE), ("float", 2.0, RAISE), ("equal d", 3, FINITE)],
        {"n": 5, "d": 3},
    )
    sweep_arg(g, "sphere", lambda **k: data.sphere(**k), "n", [("one", 1, FINITE)], {"n": 5, "d": 3})
    sweep_arg(
        g, "sphere_held_out", lambda **k: data.sphere_held_out(**k), "m", bad_counts()[:8:2], {"m": 3, "n": 5, "d": 3}
    )
    sweep_arg(
        g,
        "sphere_held_out",
        lambda **k: data.sphere_held_out(**k),
        "d",
        [("one", 1, FINITE), ("zero", 0, RAISE)],
        {"m": 3, "n": 5, "d": 3},
    )
    sweep_arg(
        g,
        "digits",
        lambda **k: data.digits(**k),
        "n",
        [
            ("odd 5", 5, RAISE),
            ("more than exist", 10**6, RAISE),
            ("huge", 10**13, RAISE),
            ("2", 2, FINITE),
            ("np.int64", np.int64(4), FINITE),
        ],
        {"n": 4},
    )
    sweep_arg(
        g,
        "digits",
        lambda **k: data.digits(**k),
        "classes",
        [
            ("list pair", [3, 8], FINITE),
            ("negative", (-1, 3), RAISE),
            ("float", (3.0, 8.0), RAISE),
            ("bool", (True, False), RAISE),
            ("set", {1, 2}, RAISE),
            ("None", None, RAISE),
            ("numpy", np.array([1, 7]), FINITE),
            ("bytes", b"odd_vs_even", RAISE),
        ],
        {"n": 4},
    )
    sweep_arg(
        g,
        "digits",
        lambda **k: data.digits(**k),
        "center",
        [("int", 1, RAISE), ("str", "yes", RAISE), ("None", None, RAISE)],
        {"n": 4},
    )
    sweep_arg(
        g,
        "digits_held_out",
        lambda **k: data.digits_held_out(**k),
        "n",
        [("zero", 0, RAISE), ("huge", 10**6, RAISE), ("str", "4", RAISE)],
        {"n": 4},
    )
    sweep_arg(
        g,
        "digits_held_out",
        lambda **k: data.digits_held_out(**k),
        "seed",
        [("negative", -3, RAISE), ("float", 1.5, RAISE)],
        {"n": 4},
    )
    sweep_arg(
        g,
        "shift",
        lambda **k: data.shift(**k),
        "offset",
        [
            ("1e308", 1e308, RAISE),
            ("tensor d", torch.full((D0,), 0.5), FINITE),
            ("None", None, RAISE),
            ("bool", True, RAISE),
            ("numpy 0-d", np.float64(0.5), FINITE),
            ("tensor 2-D", torch.ones(1, D0), RAISE),
            ("list wrong len", [0.1, 0.2], RAISE),
            ("meta", _meta((D0,)), RAISE),
        ],
        {"X": X0, "offset": 0.5},
    )
    sweep_arg(
        g,
        "shift",
        lambda **k: data.shift(**k),
        "X",
        [("1e308 X", X0 * 1.7e308, RAISE), ("int", torch.ones(3, 2).long(), FINITE)],
        {"X": X0, "offset": 1e308},
    )
    for arg, values in (
        (
            "lo",
            [
                ("nan", math.nan, RAISE),
                ("str", "0", RAISE),
                ("> hi", 2.0, RAISE),
                ("tensor wrong", torch.zeros(3, 3), RAISE),
            ],
        ),
        ("hi", [("inf", math.inf, RAISE), ("complex", 1j, RAISE), ("equal lo", 0.0, RAISE)]),
        ("mean", [("None", None, RAISE), ("str", "mean", RAISE), ("nan", torch.full((64,), math.nan), RAISE)]),
        ("enforce", [("unknown", "clip", RAISE), ("None", None, RAISE)]),
    ):
        sweep_arg(
            g,
            "pixel_box",
            lambda **k: data.pixel_box(**k),
            arg,
            values,
            {"lo": 0.0, "hi": 1.0, "mean": torch.zeros(64, dtype=torch.float64)},
        )
    tmp = Path(tempfile.mkdtemp(prefix="hostile-cifar-"))
    (tmp / "file").write_text("x")
    garbage = tmp / "garbage"
    garbage.mkdir()
    (garbage / "cifar-10-python.tar.gz").write_bytes(b"not a tar" * 10)
    lc = lambda **k: data.load_cifar10(**k)  # noqa: E731
    sweep_arg(
        g,
        "load_cifar10",
        lc,
        "root",
        [
            ("None", None, RAISE),
            ("int", 5, RAISE),
            ("missing", tmp / "missing", RAISE),
            ("a file", tmp / "file", RAISE),
            ("garbage archive", garbage, RAISE),
            ("NUL in path", "a\0b", RAISE),
            ("empty str", "", RAISE),
        ],
        {"root": tmp},
    )
    sweep_arg(
        g,
        "load_cifar10",
        lc,
        "url",
        [
            ("ftp", "ftp://example.invalid/c.tgz", RAISE),
            ("file", "file:///etc/passwd", RAISE),
            ("data", "data:text/plain,x", RAISE),
            ("None", None, RAISE),
            ("int", 3, RAISE),
        ],
        {"root": tmp / "dl", "download": True},
    )
    sweep_arg(
        g,
        "load_cifar10",
        lc,
        "expected_sha256",
        [("short", "abc", RAISE), ("None", None, RAISE), ("upper non-hex", "Z" * 64, RAISE)],
        {"root": garbage},
    )
    sweep_arg(g, "load_cifar10", lc, "download", [("str", "yes", RAISE), ("int", 1, RAISE)], {"root": tmp})
    sweep_arg(
        g,
        "load_cifar10",
        lc,
        "classes",
        [("one class", (1, 1), RAISE), ("11", (0, 11), RAISE), ("unknown name", "cats", RAISE)],
        {"root": garbage},
    )
    case(g, "ImageSet(mismatched)", lambda: data.ImageSet(X0, Y0[:2], torch.zeros(D0), 0.0, (1, 1, 3)))
    case(g, "ImageSet(image_shape wrong)", lambda: data.ImageSet(X0, Y0, torch.zeros(D0), 0.0, (1, 2, 2)))


# ================================================================================================= metrics
def _metrics():
    g = "metrics"
    A, B = X0, X0[:4] + 0.1
    for fn in (
        "pairwise_distances",
        "hausdorff",
        "min_set_distance",
        "matching",
        "nearest_distances",
        "span_residuals",
    ):
        f = getattr(metrics, fn)
        for label, v, e in bad_points(A, edges=False)[::4] + [
            ("1e200 points", A * 1e200, RAISE),
            ("float16", A.half(), FINITE),
            ("zero points", torch.zeros(3, D0), FINITE),
        ]:
            case(g, f"{fn}(second={label})", lambda f=f, v=v: f(B, v), e)
    case(g, "matching(more rec than train)", lambda: metrics.matching(X0[:2], X0), FINITE)
    case(g, "span_residuals(train all zero)", lambda: metrics.span_residuals(torch.zeros(3, D0), X0), FINITE)
    case(g, "hausdorff(different d)", lambda: metrics.hausdorff(X0, torch.ones(2, D0 + 1)))
    img = IMG[:2]
    ss = lambda **k: metrics.ssim(**k)  # noqa: E731
    base = {"img1": img, "img2": img.flip(0)}
    sweep_arg(
        g,
        "ssim",
        ss,
        "img2",
        [
            ("shape mismatch", IMG[:3], RAISE),
            ("2-D", img[:, 0], FINITE),
            ("zeros", torch.zeros_like(img), FINITE),
            ("constant", torch.full_like(img, 0.3), FINITE),
            ("nan", img * math.nan, RAISE),
            ("1e200", img * 1e200, RAISE),
            ("int", (img * 255).long(), FINITE),
            ("str", "img", RAISE),
            ("5-D", img.unsqueeze(0), RAISE),
            ("1x1 image", torch.rand(2, 1, 1, 1), RAISE),
            ("float16", img.half(), FINITE),
        ],
        base,
    )
    sweep_arg(
        g,
        "ssim",
        ss,
        "window_size",
        [("even", 4, RAISE), ("bigger than image", 9, FINITE), ("np.int64", np.int64(3), FINITE)],
        base,
    )
    sweep_arg(
        g,
        "ssim",
        ss,
        "padding",
        [("unknown", "reflect!", RAISE), ("None", None, RAISE), ("valid", "valid", FINITE)],
        base,
    )
    br = lambda **k: metrics.best_reconstructions(**k)  # noqa: E731
    bbase = {"X_train": FLAT, "X_rec": FLAT.flip(0), "k": 2, "image_shape": SHAPE}
    sweep_arg(
        g,
        "best_reconstructions",
        br,
        "k",
        [("zero", 0, RAISE), ("more than train", 6, RAISE), ("float", 2.0, RAISE), ("None", None, RAISE)],
        bbase,
    )
    sweep_arg(
        g,
        "best_reconstructions",
        br,
        "metric",
        [("unknown", "psnr", RAISE), ("None", None, RAISE), ("l2", "l2", FINITE)],
        bbase,
    )
    sweep_arg(
        g,
        "best_reconstructions",
        br,
        "image_shape",
        [("None for ssim", None, RAISE), ("wrong", (1, 5, 5), RAISE)],
        bbase,
    )
    sweep_arg(g, "best_reconstructions", br, "data_range", [("zero", 0.0, RAISE), ("nan", math.nan, RAISE)], bbase)
    nd = lambda **k: metrics.ncc_distances(**k)  # noqa: E731
    sweep_arg(
        g,
        "ncc_distances",
        nd,
        "B",
        [
            ("constant images", torch.full((2, 36), 0.5, dtype=torch.float64), RAISE),
            ("zero images", torch.zeros(2, 36, dtype=torch.float64), RAISE),
            ("d mismatch", torch.rand(2, 35), RAISE),
            ("1e200", FLAT * 1e200, FINITE),
            ("nan", FLAT * math.nan, RAISE),
        ],
        {"A": FLAT, "B": FLAT.flip(0)},
    )
    sweep_arg(
        g,
        "ncc_distances",
        nd,
        "image_shape",
        [("wrong", (1, 5, 5), RAISE), ("str", "6x6", RAISE)],
        {"A": FLAT, "B": FLAT.flip(0)},
    )
    hs = lambda **k: metrics.haim_score(**k)  # noqa: E731
    hbase = {"X_train": FLAT, "X_rec": FLAT.flip(0), "image_shape": SHAPE, "k": 2}
    sweep_arg(g, "haim_score", hs, "k", [("zero", 0, RAISE), ("huge", 10**6, RAISE), ("float", 2.5, RAISE)], hbase)
    sweep_arg(
        g, "haim_score", hs, "vote", [("str", "yes", RAISE), ("negative", -1, RAISE), ("float", 0.5, RAISE)], hbase
    )
    sweep_arg(
        g,
        "haim_score",
        hs,
        "X_rec",
        [
            ("constant", torch.full((3, 36), 0.2), FINITE),
            ("one candidate", FLAT[:1], FINITE),
            ("d mismatch", torch.rand(3, 35), RAISE),
        ],
        hbase,
    )
    sweep_arg(g, "haim_score", hs, "data_range", [("negative", -1.0, RAISE), ("inf", math.inf, RAISE)], hbase)
    cn = lambda **k: metrics.candidate_neighbours(**k)  # noqa: E731
    cbase = {"X_rec": FLAT, "X_train": FLAT.flip(0), "image_shape": SHAPE}
    sweep_arg(
        g,
        "candidate_neighbours",
        cn,
        "max_per_nn",
        [("zero", 0, RAISE), ("float", 1.5, RAISE), ("str", "1", RAISE), ("huge", 10**9, FINITE)],
        cbase,
    )
    sweep_arg(g, "candidate_neighbours", cn, "metric", [("unknown", "ssim?", RAISE), ("l2", "l2", FINITE)], cbase)
    sweep_arg(g, "candidate_neighbours", cn, "X_rec", [("constant images", torch.full((2, 36), 0.3), RAISE)], cbase)


# ================================================================================================== cache
def _cache():
    g = "cache"
    root = Path(tempfile.mkdtemp(prefix="hostile-cache-"))
    config = {"experiment": "hostile", "k": 1}
    value = {"t": torch.arange(3.0)}
    cache.cached(config, lambda: value, root=root)
    path = cache.cache_path(config, root)
    good = path.read_bytes()

    def damaged(transform, name):
        def call():
            path.write_bytes(transform(good))
            try:
                out = cache.cached(config, lambda: "recomputed", root=root)
            finally:
                if path.is_dir():
                    shutil.rmtree(path)
                path.write_bytes(good)
            return out

        case(g, f"cached(entry {name})", call, lambda r: r == "recomputed" or f"damaged entry used: {r!r}")

    damaged(lambda b: b[: len(b) // 2], "truncated")
    damaged(lambda b: b[:-1] + bytes([b[-1] ^ 1]), "last byte flipped")
    damaged(lambda b: b"", "empty")
    damaged(lambda b: b.split(b"\n", 1)[0], "header only")
    damaged(lambda b: b.split(b"\n", 1)[1], "no header")
    damaged(lambda b: b"\n" * 100, "newlines")
    damaged(lambda b: b"reconleak-cache 1 " + b"0" * 64 + b"\n" + b.split(b"\n", 1)[1], "zero digest")
    damaged(lambda b: _encode_foreign(), "valid entry of another config")
    damaged(lambda b: _encode_pickle_bomb(), "code-running pickle with its digest")
    damaged(lambda b: _encode_raw({"config": "x"}), "payload without value")
    damaged(lambda b: _encode_raw([1, 2]), "payload a list")

    def as_dir():
        path.unlink()
        path.mkdir()
        try:
            return cache.cached(config, lambda: "recomputed", root=root)
        finally:
            shutil.rmtree(path)
            path.write_bytes(good)

    case(g, "cached(entry is a folder)", as_dir)

    def loop():
        path.unlink()
        os.symlink(path, path)
        try:
            return cache.cached(config, lambda: "recomputed", root=root)
        finally:
            path.unlink()
            path.write_bytes(good)

    case(g, "cached(entry a symlink loop)", loop)

    def dev_zero():
        path.unlink()
        os.symlink("/dev/zero", path)
        try:
            return cache.cached(config, lambda: "recomputed", root=root)
        finally:
            path.unlink()
            path.write_bytes(good)

    case(g, "cached(entry -> /dev/zero)", dev_zero)
    afile = root / "afile"
    afile.write_text("x")
    for label, r, e in [
        ("root is a file", afile, RAISE),
        ("root under a file", afile / "sub", RAISE),
        ("root int", 5, RAISE),
        ("root bytes", b"/tmp/x", RAISE),
        ("root NUL", "a\0b", RAISE),
        ("root /proc", "/proc/hostile", RAISE),
        ("root list", [str(root)], RAISE),
    ]:
        case(g, f"cached({label})", lambda r=r: cache.cached({"z": 1}, lambda: 1, root=r), e)
    for label, name in [("..", ".."), ("slash", "a/b"), ("empty", ""), ("None", None), ("dot start", ".x"), ("int", 3)]:
        case(g, f"cached(name={label})", lambda name=name: cache.cached({"z": 1}, lambda: 1, root=root, name=name))
    circular = {"a": 1}
    circular["self"] = circular
    for label, cfg in [
        ("set", {"s": {1, 2}}),
        ("tensor", {"t": torch.ones(2)}),
        ("circular", circular),
        ("np.float nan", {"x": np.float64("nan")}),
        ("class", {"c": int}),
        ("list config", [1, 2]),
        ("None", None),
        ("int keys nested", {"a": {1: 2}}),
        ("dataclass type", train.TrainConfig),
        ("deep nesting", _deep(2000)),
        ("bytes value", {"b": b"x"}),
        ("complex", {"c": 1j}),
    ]:
        case(g, f"cache_key({label})", lambda cfg=cfg: cache.cache_key(cfg))
    for label, ret in [
        ("object", object()),
        ("lambda", lambda: 1),
        ("set", {1}),
        ("module", np),
        ("tuple key dict", {(1, 2): 3}),
        ("generator", (i for i in range(2))),
    ]:
        case(
            g, f"cached(compute returns {label})", lambda ret=ret: cache.cached({"ret": label}, lambda: ret, root=root)
        )
    case(g, "cached(compute not callable)", lambda: cache.cached({"z": 2}, 5, root=root))
    case(g, "cached(fallbacks bytes)", lambda: cache.cached({"z": 3}, lambda: 1, root=root, fallbacks=b"/tmp"))
    case(g, "cached(fallbacks Path)", lambda: cache.cached({"z": 3}, lambda: 1, root=root, fallbacks=root))
    case(g, "cached(fallbacks dict)", lambda: cache.cached({"z": 3}, lambda: 1, root=root, fallbacks={"a": 1}))
    case(
        g,
        "cached(refresh np.bool_)",
        lambda: cache.cached({"z": 4}, lambda: 1, root=root, refresh=np.bool_(True)),
        lambda r: r == 1 or r,
    )
    case(g, "cached(refresh 1)", lambda: cache.cached({"z": 4}, lambda: 1, root=root, refresh=1))
    for label, p in [
        ("missing", root / "missing.pt"),
        ("folder", root),
        ("None", None),
        ("int", 3),
        ("empty file", _file(root, "empty.pt", b"")),
        ("text", _file(root, "t.pt", b"hello\n")),
        ("/dev/null", "/dev/null"),
        ("NUL", "a\0b"),
    ]:
        case(g, f"entry_config({label})", lambda p=p: cache.entry_config(p))
    for label, p in [("missing", root / "missing"), ("folder", root), ("None", None), ("NUL", "a\0b")]:
        case(g, f"file_sha256({label})", lambda p=p: cache.file_sha256(p))
    case(g, "cache_root(int)", lambda: cache.cache_root(3))
    case(g, "cache_root(list)", lambda: cache.cache_root(["a"]))
    case(g, "cache_path(name='a b')", lambda: cache.cache_path(config, root, name="a b"))

    def stale_part():
        part = path.parent / f".{path.stem}.{cache._HOST}-99999999.deadbeef.part"
        part.write_bytes(b"x" * 100)
        cache.cached(config, lambda: "x", root=root)
        return not part.exists() or "an orphaned .part of a dead writer survived"

    case(g, "cached(orphan .part of a dead pid)", stale_part, lambda r: r)


def _deep(k):
    out = {}
    for _ in range(k):
        out = {"a": out}
    return out


def _file(root, name, content):
    p = Path(root) / name
    p.write_bytes(content)
    return p


def _encode_raw(payload) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    return b"reconleak-cache 1 " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def _encode_foreign() -> bytes:
    return _encode_raw({"config": '{"other":1}', "value": "foreign"})


class _Bomb:
    def __reduce__(self):
        return (os.system, ("echo BOMB > /tmp/hostile-bomb",))


def _encode_pickle_bomb() -> bytes:
    import io
    import pickle

    body = pickle.dumps({"config": "x", "value": _Bomb()})
    buffer = io.BytesIO(body)
    return b"reconleak-cache 1 " + hashlib.sha256(buffer.getvalue()).hexdigest().encode() + b"\n" + body


# ============================================================================================ checkpoints
def _checkpoints():
    g = "checkpoints"
    manifest = json.loads((trained_nets.CHECKPOINTS / "MANIFEST.json").read_text())
    name, record = next(
        (k, v) for k, v in sorted(manifest.items()) if v["spec"]["dataset"] == "sphere" and v["spec"]["width"] <= 100
    )
    fields = {k: v for k, v in record["spec"].items() if k != "__dataclass__"}
    fields["train"] = train.TrainConfig(**{k: v for k, v in fields["train"].items() if k != "__dataclass__"})
    fields["checkpoints"] = tuple(fields["checkpoints"])
    spec = trained_nets.NetSpec(**fields)

    def with_store(damage, label, expect=None):
        def call():
            store = Path(tempfile.mkdtemp(prefix="hostile-store-"))
            shutil.copytree(trained_nets.CHECKPOINTS, store, dirs_exist_ok=True)
            entry = store / "trained_net" / name
            damage(store, entry)
            saved_store, saved_train = trained_nets.CHECKPOINTS, trained_nets.train_max_margin
            trained_nets.CHECKPOINTS = store

            def no_training(*a, **k):
                raise _WouldTrain()

            trained_nets.train_max_margin = no_training
            try:
                return trained_nets.trained_network(spec, cache_root=tempfile.mkdtemp(prefix="hostile-c-"))
            except _WouldTrain:
                return "retrains"
            finally:
                trained_nets.CHECKPOINTS, trained_nets.train_max_margin = saved_store, saved_train
                shutil.rmtree(store, ignore_errors=True)

        case(
            g,
            f"trained_network(store: {label})",
            call,
            expect or (lambda r: r == "retrains" or "a damaged checkpoint was used"),
        )

    with_store(lambda s, e: None, "intact", lambda r: isinstance(r, trained_nets.TrainedNet) or r)
    with_store(lambda s, e: e.write_bytes(e.read_bytes()[:1000]), "truncated")
    with_store(lambda s, e: e.write_bytes(_flip(e.read_bytes(), -10)), "byte flipped")
    with_store(lambda s, e: e.write_bytes(_reweighted(e)), "weights changed, header digest recomputed")
    with_store(lambda s, e: (s / "MANIFEST.json").unlink(), "no MANIFEST")
    with_store(lambda s, e: (s / "MANIFEST.json").write_text("{not json"), "MANIFEST not JSON")
    with_store(lambda s, e: (s / "MANIFEST.json").write_text("[1, 2]"), "MANIFEST a list")
    with_store(lambda s, e: _edit_manifest(s, lambda m: m[name].pop("sha256")), "MANIFEST without the hash")
    with_store(lambda s, e: _edit_manifest(s, lambda m: m[name].update(sha256="0" * 64)), "MANIFEST wrong hash")
    with_store(lambda s, e: _edit_manifest(s, lambda m: m[name].update(sha256=None)), "MANIFEST hash None")
    with_store(lambda s, e: _edit_manifest(s, lambda m: m.update({name: "x"})), "MANIFEST record a string")
    with_store(lambda s, e: (e.unlink(), e.mkdir()), "entry a folder")
    with_store(lambda s, e: (e.unlink(), os.symlink("/dev/zero", e)), "entry -> /dev/zero")
    with_store(lambda s, e: (s / "MANIFEST.json").unlink() or (s / "MANIFEST.json").mkdir(), "MANIFEST a folder")
    with_store(lambda s, e: e.write_bytes(_encode_pickle_bomb()), "code-running pickle")
    sc = lambda **k: trained_nets.store_checkpoints(k.pop("cache_root"), **k)  # noqa: E731
    empty = tempfile.mkdtemp(prefix="hostile-empty-")
    store = tempfile.mkdtemp(prefix="hostile-st-")
    for label, v in [("None", None), ("missing", "/nonexistent/x"), ("empty", empty), ("int", 5)]:
        case(g, f"store_checkpoints(cache_root={label})", lambda v=v: sc(cache_root=v, store=store, command="c"))
    for label, v in [("empty", ""), ("None", None), ("spaces", "   ")]:
        case(g, f"store_checkpoints(command={label})", lambda v=v: sc(cache_root=empty, store=store, command=v))
    bad_cache = tempfile.mkdtemp(prefix="hostile-badcache-")
    (Path(bad_cache) / "trained_net").mkdir()
    (Path(bad_cache) / "trained_net" / "x.pt").write_bytes(b"garbage")
    case(g, "store_checkpoints(garbage entry)", lambda: sc(cache_root=bad_cache, store=store, command="c"))
    afile = Path(store) / "f"
    afile.write_text("x")
    case(g, "store_checkpoints(store a file)", lambda: sc(cache_root=bad_cache, store=afile, command="c"))
    case(g, "trained_network(spec dict)", lambda: trained_nets.trained_network(fields))
    case(g, "trained_network(cache 'yes')", lambda: trained_nets.trained_network(spec, cache="yes"))
    case(g, "trained_network(device tpu)", lambda: trained_nets.trained_network(spec, device="tpu"))
    case(g, "trained_network(cache_root file)", lambda: trained_nets.trained_network(spec, cache_root=afile))
    nsf = lambda **k: trained_nets.NetSpec(**k)  # noqa: E731
    for arg, variants in (
        ("subspace_dim", [("> d", 11, RAISE), ("zero", 0, RAISE), ("str", "3", RAISE)]),
        ("classes", [("str unknown", "cats", RAISE), ("3 classes", (1, 2, 3), RAISE), ("same", (4, 4), RAISE)]),
        ("train", [("dict", {"steps": 10}, RAISE), ("None", None, RAISE)]),
        (
            "checkpoints",
            [
                ("decreasing", (30, 10), RAISE),
                ("beyond steps", (10**9,), RAISE),
                ("str", "10", RAISE),
                ("float entry", (10.0,), RAISE),
            ],
        ),
        ("bias", [("int", 1, RAISE), ("with mlp3", True, RAISE)]),
        ("d", [("None on sphere", None, RAISE)]),
    ):
        extra = {"arch": "mlp3"} if (arg, variants[-1][0]) == ("bias", "with mlp3") else {}
        for label, v, e in variants:
            kw = {arg: v, **(extra if label == "with mlp3" else {})}
            if arg == "classes":
                kw["dataset"], kw["d"], kw["subspace_dim"] = "digits", None, None
            case(g, f"NetSpec({arg}={label})", lambda kw=kw: nsf(**kw), e)
    case(g, "NetSpec.shifted(nan)", lambda: trained_nets.NetSpec().shifted(math.nan))
    case(g, "NetSpec.shifted(str)", lambda: trained_nets.NetSpec().shifted("1"))


class _WouldTrain(Exception):
    pass


def _flip(b, k):
    b = bytearray(b)
    b[k] ^= 0xFF
    return bytes(b)


def _reweighted(entry: Path) -> bytes:
    import io

    body = entry.read_bytes().split(b"\n", 1)[1]
    payload = torch.load(io.BytesIO(body), weights_only=True)
    for state in payload["value"]["states"]:
        for t in state.values():
            t.mul_(1.5)
    return _encode_raw(payload)


def _edit_manifest(store, edit):
    p = store / "MANIFEST.json"
    m = json.loads(p.read_text())
    edit(m)
    p.write_text(json.dumps(m))


# ================================================================================================= lemmas
def _lemmas():
    g = "lemmas"
    net, X, y, lam = kkt.simplex_kkt_point(5, d=6)
    for label, v, e in bad_points(X, edges=False)[::3]:
        case(g, f"mergeable_pairs(X={label})", lambda v=v: lemmas.mergeable_pairs(net, v, y), e)
        case(g, f"kkt_residuals(X={label})", lambda v=v: lemmas.kkt_residuals(net, v, y, lam), e)
    for label, v, e in bad_labels(y)[:8:2]:
        case(g, f"splitting_directions(y={label})", lambda v=v: lemmas.splitting_directions(net, X, v, 0), e)
    for label, n in _bad_nets()[:9] + [
        ("MLP", lambda: models.HomogeneousMLP(6, (3,))),
        ("fixed second layer", lambda: models.TwoLayerReLU(6, 4, fixed_second_layer=True)),
        ("bias", lambda: models.TwoLayerReLU(6, 5, bias=True)),
    ]:
        case(g, f"merge(net={label})", lambda n=n: lemmas.merge(n(), X, y, lam, 0, 1))
    mg = lambda **k: lemmas.merge(net, X, y, lam, k["i"], k["j"])  # noqa: E731
    for label, i, j in [
        ("i == j", 1, 1),
        ("j out of range", 0, 5),
        ("negative", -1, 2),
        ("float", 0.0, 1),
        ("bool", True, 2),
        ("np.int64", np.int64(0), np.int64(2)),
    ]:
        case(g, f"merge({label})", lambda i=i, j=j: mg(i=i, j=j), FINITE if label == "np.int64" else RAISE)
    sp = lambda **k: lemmas.split(net, X, y, lam, **k)  # noqa: E731
    nu = torch.ones(6, dtype=torch.float64)
    sbase = {"i": 0, "nu": nu, "alpha": 0.5, "beta": 0.5}
    for arg, variants in (
        (
            "beta",
            [
                ("negative", -0.1, RAISE),
                ("> 1 (a step, valid)", 1.5, FINITE),
                ("nan", math.nan, RAISE),
                ("str", "0.5", RAISE),
            ],
        ),
        (
            "nu",
            [
                ("zero", torch.zeros(6), RAISE),
                ("wrong d", torch.ones(5), RAISE),
                ("nan", nu * math.nan, RAISE),
                ("1e300", nu * 1e300, RAISE),
            ],
        ),
        ("margin_tol", [("negative", -1.0, RAISE), ("nan", math.nan, RAISE)]),
        ("keep_margin", [("int", 1, RAISE), ("str", "yes", RAISE)]),
        ("i", [("out of range", 7, RAISE), ("None", None, RAISE)]),
    ):
        sweep_arg(g, "split", sp, arg, variants, sbase)
    sb = lambda **k: lemmas.split_budget(net, **k)  # noqa: E731
    sweep_arg(g, "split_budget", sb, "side", [("unknown", "left", RAISE), ("None", None, RAISE)], {"x": X[0], "nu": nu})
    sweep_arg(
        g,
        "split_budget",
        sb,
        "x",
        [("2-D", X[:2], RAISE), ("zero", torch.zeros(6), lambda r: r == 0 or r), ("wrong d", torch.ones(4), RAISE)],
        {"x": X[0], "nu": torch.eye(6)[0]},
    )
    fk = lambda **k: lemmas.far_kkt_set(net, X, y, lam, **k)  # noqa: E731
    sweep_arg(
        g,
        "far_kkt_set",
        fk,
        "r",
        [("1e308", 1e308, RAISE), ("tiny", 1e-300, FINITE), ("np.float64", np.float64(2.0), FINITE)],
        {"r": 2.0},
    )
    asd = lambda **k: lemmas.achievable_split_distance(net, X, y, lam, **k)  # noqa: E731
    reach = lambda r: isinstance(r, lemmas.SplitReach) or r  # noqa: E731 - inf: a free direction (documented)
    sweep_arg(
        g,
        "achievable_split_distance",
        asd,
        "refine_steps",
        [("negative", -1, RAISE), ("float", 2.0, RAISE), ("huge", 10**9, reach)],
        {},
    )
    sweep_arg(
        g,
        "achievable_split_distance",
        asd,
        "kink_tol",
        [("zero", 0.0, reach), ("nan", math.nan, RAISE), ("1.5", 1.5, RAISE)],
        {},
    )
    sweep_arg(g, "achievable_split_distance", asd, "progress", [("int", 1, RAISE)], {})
    sks = lambda **k: lemmas.split_kkt_set(net, X, y, lam, **k)  # noqa: E731
    sweep_arg(
        g,
        "split_kkt_set",
        sks,
        "fraction",
        [("1.0", 1.0, RAISE), ("zero", 0.0, RAISE), ("np.float32", np.float32(0.5), FINITE)],
        {},
    )
    sweep_arg(g, "split_kkt_set", sks, "reach", [("str", "reach", RAISE), ("dict", {}, RAISE)], {})
    case(g, "kkt_residuals(lam all zero)", lambda: lemmas.kkt_residuals(net, X, y, torch.zeros(5)), FINITE)
    case(g, "mergeable_pairs(one class)", lambda: lemmas.mergeable_pairs(net, X, torch.ones(5)), FINITE)
    case(g, "far_kkt_set(lam None)", lambda: lemmas.far_kkt_set(net, X, y, None, 2.0))


# ================================================================================================= attack
def _attack():
    g = "attack"
    net = models.TwoLayerReLU(D0, 5, init_scale=0.5, seed=3)
    rc = lambda **k: attack.reconstruct(net, k.pop("n_candidates", 4), **k)  # noqa: E731
    base = {"steps": 2}
    sweep_arg(g, "reconstruct", rc, "n_candidates", bad_counts(valid=4)[1::2], base)
    sweep_arg(
        g,
        "reconstruct",
        rc,
        "labels",  # labels=None is the default (balanced labels)
        [
            (lab, v, FINITE if lab == "None" else e)
            for lab, v, e in bad_labels(torch.tensor([1.0, -1.0, 1.0, -1.0]))[::2]
        ],
        base,
    )
    sweep_arg(
        g,
        "reconstruct",
        rc,
        "init",
        [
            ("unknown name", "uniform!", RAISE),
            ("None", None, RAISE),
            ("int", 3, RAISE),
            ("tensor wrong d", torch.ones(4, D0 + 1), RAISE),
            ("tensor wrong n", torch.ones(3, D0), RAISE),
            ("nan tensor", torch.full((4, D0), math.nan), RAISE),
            ("float16 tensor", torch.ones(4, D0).half(), FINITE),
            ("zeros", torch.zeros(4, D0), FINITE),
            ("1e200", torch.ones(4, D0) * 1e200, RAISE),
        ],
        base,
    )
    sweep_arg(
        g,
        "reconstruct",
        rc,
        "init_radius",
        [
            ("zero", 0.0, RAISE),
            ("negative", -1.0, RAISE),
            ("nan", math.nan, RAISE),
            ("1e308", 1e308, RAISE),
            ("str", "1", RAISE),
        ],
        base,
    )
    sweep_arg(
        g,
        "reconstruct",
        rc,
        "init_basis",
        [
            ("wrong d", torch.ones(2, D0 + 1), RAISE),
            ("zeros", torch.zeros(2, D0), RAISE),
            ("str", "basis", RAISE),
            ("nan", torch.full((2, D0), math.nan), RAISE),
        ],
        base,
    )
    sweep_arg(
        g,
        "reconstruct",
        rc,
        "prior",
        [
            ("Sphere wrong d center", attack.Shift(torch.ones(D0 + 2)), RAISE),
            ("int", 3, RAISE),
            ("Box lo>hi", "lohi", RAISE),
            ("class not instance", attack.Sphere, RAISE),
            ("list of priors", [attack.Box(), attack.Sphere()], RAISE),
        ],
        base,
    )
    sweep_arg(
        g,
        "reconstruct",
        rc,
        "config",
        [("dict", {"steps": 2}, RAISE), ("str", "default", RAISE), ("TrainConfig", train.TrainConfig(), RAISE)],
        {},
    )
    sweep_arg(
        g,
        "reconstruct",
        rc,
        "device",
        [("meta", "meta", RAISE), ("torch meta", torch.device("meta"), RAISE), ("cuda absent", "cuda", RAISE)],
        base,
    )
    sweep_arg(
        g, "reconstruct", rc, "dtype", [("float16", torch.float16, FINITE), ("bfloat16", torch.bfloat16, FINITE)], base
    )
    sweep_arg(g, "reconstruct", rc, "callback", [("not callable", 5, RAISE), ("str", "print", RAISE)], base)
    sweep_arg(g, "reconstruct", rc, "progress", [("int", 1, RAISE), ("str", "no", RAISE)], base)
    sweep_arg(
        g,
        "reconstruct",
        rc,
        "steps",
        [("huge", 10**10, RAISE), ("zero", 0, FINITE), ("np.int64", np.int64(2), FINITE)],
        {},
    )
    sweep_arg(g, "reconstruct", rc, "unknown_option", [("1", 1, RAISE)], base)
    sweep_arg(g, "reconstruct", rc, "gate", [("list", [100.0], RAISE), ("zero", 0.0, RAISE)], base)
    case(g, "reconstruct(net MLP, gate)", lambda: attack.reconstruct(MLP0, 4, steps=2, gate=100.0), FINITE)
    case(g, "reconstruct(Seq, gate)", lambda: attack.reconstruct(SEQ0, 4, steps=2, gate=100.0), FINITE)
    case(g, "reconstruct(net without d)", lambda: attack.reconstruct(_NoDim(), 4, steps=2))
    for label, n in _bad_nets():
        case(g, f"reconstruct(net={label})", lambda n=n: attack.reconstruct(n(), 4, steps=2), _e(label))
    rb = lambda **k: attack.reconstruct_batch(net, 4, **{"steps": 2, **k})  # noqa: E731
    for label, kw, e in [
        ("seeds empty", {"seeds": []}, RAISE),
        ("seeds dup", {"seeds": [0, 0]}, FINITE),
        ("seeds str", {"seeds": "01"}, RAISE),
        ("seeds floats", {"seeds": [0.0, 1.0]}, RAISE),
        ("lr len 2 vs seeds 3", {"seeds": [0, 1, 2], "lr": [0.1, 0.2]}, RAISE),
        ("gate per member with None", {"seeds": [0, 1], "gate": [100.0, None]}, FINITE),
        ("batch zero", {"seeds": [0, 1], "batch": 0}, RAISE),
        ("batch bigger", {"seeds": [0, 1], "batch": 5}, FINITE),
        ("labels per member wrong", {"seeds": [0, 1], "labels": [[1, -1, 1, -1]]}, RAISE),
        ("init_scale list nan", {"seeds": [0, 1], "init_scale": [0.1, math.nan]}, RAISE),
        ("steps per member", {"seeds": [0, 1], "steps": [2, 3]}, RAISE),
        ("prior list wrong len", {"seeds": [0, 1], "prior": [attack.Box()]}, RAISE),
        ("callback_every zero", {"seeds": [0, 1], "callback_every": 0}, RAISE),
        ("tensor seeds", {"seeds": torch.tensor([0, 1])}, FINITE),
        ("2-D seeds", {"seeds": [[0, 1]]}, RAISE),
    ]:
        case(g, f"reconstruct_batch({label})", lambda kw=kw: rb(**kw), e)
    case(
        g,
        "reconstruct_batch(MLP gate per member)",
        lambda: attack.reconstruct_batch(MLP0, 4, seeds=[0, 1], gate=[50.0, 300.0], steps=2),
        FINITE,
    )
    rt = lambda **k: attack.reconstruct_trained(
        k.pop("net", net),
        k.pop("X", X0),
        k.pop("y", Y0),  # noqa: E731
        k.pop("n", 4),
        **{"steps": 2, **k},
    )
    for label, v, e in bad_points(X0, edges=False)[::3]:
        case(g, f"reconstruct_trained(X={label})", lambda v=v: rt(X=v), e)
    case(g, "reconstruct_trained(y one class)", lambda: rt(y=torch.ones(N0)), FINITE)
    case(g, "reconstruct_trained(y wrong length)", lambda: rt(y=Y0[:3]))
    case(g, "reconstruct_trained(executor str)", lambda: rt(executor="ray"))
    case(g, "reconstruct_trained(executor returns junk)", lambda: rt(executor=lambda *a, **k: 5))
    result = attack.reconstruct_batch(net, 4, seeds=[0, 1], steps=1)
    for label, k, e in [
        ("-1", -1, FINITE),
        ("2", 2, RAISE),
        ("np.int64", np.int64(1), FINITE),
        ("-3", -3, RAISE),
        ("slice", slice(0, 1), RAISE),
        ("tensor", torch.tensor(0), RAISE),
    ]:
        case(g, f"AttackResult.member({label})", lambda k=k: result.member(k), e)
    for label, kw in [
        ("lengths differ", {"seeds": [0, 1, 2], "lr": [0.1, 0.2]}),
        ("not a dict", [1, 2]),
        ("empty list", {"seeds": []}),
    ]:
        case(g, f"member_count({label})", lambda kw=kw: attack.member_count(kw))
    for label, a, b in [("start > stop", 2, 1), ("stop beyond", 0, 9), ("negative", -1, 1), ("float", 0.0, 1.0)]:
        case(g, f"member_slice({label})", lambda a=a, b=b: attack.member_slice({"seeds": [0, 1, 2]}, a, b))
    ac = lambda **k: attack.AttackConfig(**k)  # noqa: E731
    for arg, variants in (
        ("steps", [("np.int64", np.int64(5), FINITE), ("huge", 10**20, FINITE)]),
        ("optimizer", [("Adam", "Adam", RAISE), ("class", torch.optim.Adam, RAISE)]),
        ("lr", [("1e308", 1e308, FINITE), ("tensor", torch.tensor(0.1), FINITE)]),
        (
            "betas",
            [
                ("3 values", (0.9, 0.99, 0.9), RAISE),
                ("nan", (math.nan, 0.9), RAISE),
                ("negative", (-0.1, 0.9), RAISE),
                ("list", [0.9, 0.99], FINITE),
            ],
        ),
        ("momentum", [("negative", -0.5, RAISE), ("str", "0.9", RAISE)]),
        ("gate_form", [("unknown", "hard", RAISE)]),
        ("lam_lr", [("zero", 0.0, RAISE), ("inf", math.inf, RAISE)]),
        ("lam_min", [("1e308", 1e308, FINITE), ("negative", -0.01, RAISE)]),
    ):
        sweep_arg(g, "AttackConfig", ac, arg, variants, {})


class _NoDim(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(3, dtype=torch.float64))

    def forward(self, x):
        return torch.relu(x @ self.w) * self.w.sum()


# ================================================================================================= priors
def _priors():
    g = "priors"
    for label, kw in [
        ("lo > hi", {"lo": 1.0, "hi": -1.0}),
        ("lo == hi", {"lo": 0.5, "hi": 0.5}),
        ("tensor lo > hi somewhere", {"lo": torch.tensor([0.0, 2.0]), "hi": torch.tensor([1.0, 1.0])}),
        ("lo None", {"lo": None}),
        ("hi bool", {"hi": True}),
        ("enforce None", {"enforce": None}),
        ("lo 2-D (stacked form)", {"lo": torch.zeros(2, 2)}),
        ("hi -inf", {"hi": -math.inf}),
        ("lo meta", {"lo": _meta((3,))}),
    ]:
        case(
            g,
            f"Box({label})",
            lambda kw=kw: priors.Box(**kw),  # a stacked Box is checked at use (check(d))
            FINITE if label in ("lo == hi", "lo 2-D (stacked form)") else RAISE,
        )
    for label, kw in [
        ("radius zero", {"radius": 0.0}),
        ("radius negative", {"radius": -1.0}),
        ("radius tensor 2-D (stacked form)", {"radius": torch.ones(2, 2)}),
        ("radius inf", {"radius": math.inf}),
        ("radius 1e308", {"radius": 1e308}),
        ("enforce int", {"enforce": 1}),
    ]:
        case(
            g,
            f"Sphere({label})",
            lambda kw=kw: priors.Sphere(**kw),
            FINITE if label in ("radius 1e308", "radius tensor 2-D (stacked form)") else RAISE,
        )
    for label, kw in [
        ("offset None", {"offset": None}),
        ("inner str", {"offset": 0.5, "inner": "box"}),
        ("offset inf", {"offset": math.inf}),
        ("offset bool", {"offset": False}),
        ("inner Shift of Shift", {"offset": 0.5, "inner": priors.Shift(0.1)}),
    ]:
        case(
            g, f"Shift({label})", lambda kw=kw: priors.Shift(**kw), FINITE if label == "inner Shift of Shift" else RAISE
        )
    case(g, "is_prior(None)", lambda: priors.is_prior(None), lambda r: r is False or r)
    case(
        g, "is_prior(Box class)", lambda: priors.is_prior(priors.Box), lambda r: r is False or f"class is a prior: {r}"
    )
    sp = lambda **k: priors.stack_priors(
        **{"priors": [priors.Box(), priors.Box()], "d": 3, "dtype": torch.float64, "device": "cpu", **k}
    )  # noqa: E731
    for label, kw in [
        ("empty", {"priors": []}),
        ("str", {"priors": "box"}),
        ("None entry", {"priors": [None]}),
        ("mixed kinds", {"priors": [priors.Box(), priors.Sphere()]}),
        ("d zero", {"d": 0}),
        ("dtype int", {"dtype": torch.int64}),
        ("device tpu", {"device": "tpu"}),
        ("Box wrong d", {"priors": [priors.Box(torch.zeros(4), torch.ones(4))]}),
    ]:
        case(
            g,
            f"stack_priors({label})",
            lambda kw=kw: sp(**kw),  # no member with a prior: None (documented)
            (lambda r: r is None or r) if label == "None entry" else FINITE if label == "mixed kinds" else RAISE,
        )
    for label, p, X in [
        ("X wrong d", priors.Box(torch.zeros(3), torch.ones(3)), torch.ones(2, 4)),
        ("X nan", priors.Box(), torch.full((2, 3), math.nan)),
        ("prior str", "box", torch.ones(2, 3)),
        ("X str", priors.Box(), "X"),
        ("X 1e308", priors.Sphere(), torch.full((2, 3), 1e308, dtype=torch.float64)),
        ("X meta", priors.Box(), _meta((2, 3))),
    ]:
        case(g, f"penalty_and_grad({label})", lambda p=p, X=X: priors.penalty_and_grad(p, X))


# ================================================================================================ pooling
def _pooling():
    g = "pooling"
    cand = torch.rand(2, 3, 36, dtype=torch.float64, generator=G)
    base = {"X": FLAT, "candidates": cand, "image_shape": SHAPE}
    ps = lambda **k: pooling.pool_scores(k.pop("X"), k.pop("candidates"), **k)  # noqa: E731
    for arg, variants in (
        (
            "X",
            [
                ("one point", FLAT[:1], FINITE),
                ("d mismatch", torch.rand(5, 35), RAISE),
                ("nan", FLAT * math.nan, RAISE),
                ("str", "X", RAISE),
                ("3-D", FLAT.expand(2, 5, 36), RAISE),
            ],
        ),
        (
            "candidates",
            [
                ("2-D", cand[0], FINITE),
                ("4-D", cand.unsqueeze(0), RAISE),
                ("empty", cand[:, :0], RAISE),
                ("float16", cand.half(), FINITE),
                ("1e200", cand * 1e200, RAISE),
                ("list", cand.tolist(), FINITE),
            ],
        ),
        ("metric", [("unknown", "psnr", RAISE), ("None", None, RAISE), ("upper", "SSIM", RAISE)]),
        (
            "threshold",
            [("nan", math.nan, RAISE), ("str", "0.5", RAISE), ("inf", math.inf, RAISE), ("negative", -0.5, FINITE)],
        ),
        ("rescale", [("int", 1, RAISE), ("str", "no", RAISE)]),
        ("lam", [("wrong shape", torch.ones(2, 2), RAISE), ("nan", torch.full((2, 3), math.nan), RAISE)]),
        ("kkt", [("wrong len", torch.ones(5), RAISE), ("str", "kkt", RAISE)]),
        (
            "mean",
            [
                ("wrong len", torch.zeros(35), RAISE),
                ("inf", torch.full((36,), math.inf), RAISE),
                ("2-D", torch.zeros(1, 36), FINITE),
            ],
        ),
    ):
        sweep_arg(g, "pool_scores", ps, arg, [(a, b, _pooled if e == FINITE else e) for a, b, e in variants], base)
    sm = lambda **k: pooling.score_matrix(k.pop("X"), k.pop("candidates"), **k)  # noqa: E731
    sweep_arg(
        g,
        "score_matrix",
        sm,
        "metric",
        [("cosine zero candidates", "cosine", FINITE)],
        {"X": FLAT, "candidates": torch.zeros(3, 36)},
    )
    sweep_arg(
        g,
        "score_matrix",
        sm,
        "image_shape",
        [("None with ssim", None, RAISE), ("wrong", (2, 3, 5), RAISE)],
        {"X": FLAT, "candidates": cand},
    )
    sweep_arg(
        g,
        "score_matrix",
        sm,
        "candidates",
        [
            ("constant images ssim", torch.full((3, 36), 0.5), FINITE),
            ("zero images rescale", torch.zeros(3, 36), FINITE),
        ],
        {"X": FLAT, "image_shape": SHAPE, "candidates": cand, "rescale": True},
    )
    pa = lambda **k: pooling.pooled_attack(k.pop("net", NET0), k.pop("X", X0), k.pop("y", Y0), **k)  # noqa: E731
    pbase = {"metric": "l2", "config": attack.AttackConfig(steps=2)}
    for arg, variants in (
        ("restarts", [("zero", 0, RAISE), ("float", 2.0, RAISE), ("huge", 10**9, RAISE)]),
        ("candidates_per_point", [("zero", 0, RAISE), ("str", "1", RAISE)]),
        ("config", [("dict", {"steps": 2}, RAISE)]),
        ("executor", [("str", "ray", RAISE)]),
        ("y", [("0/1", (Y0 + 1) / 2, RAISE), ("one class", torch.ones(N0), FINITE)]),
        ("X", [("wrong d", torch.ones(N0, D0 + 1), RAISE), ("nan", X0 * math.nan, RAISE)]),
        ("net", [("str", "net", RAISE), ("bias last", _bad_nets()[7][1](), RAISE)]),
    ):
        sweep_arg(g, "pooled_attack", pa, arg, variants, pbase)


def _pooled(r):
    """A pooled result is right when its scores and points are finite (``lam``, ``kkt``: NaN = "not recorded",
    documented, when pool_scores is not given them)."""
    ok = isinstance(r, pooling.PooledResult) and not any(
        _nonfinite(getattr(r, f)) for f in ("candidates", "best", "score", "X")
    )
    return ok or r


# ============================================================================================ calibration
def _calibration():
    g = "calibration"
    for label, kw in [
        ("metric None", {"metric": None}),
        ("image_shape wrong", {"metric": "ssim", "image_shape": 36}),
        ("mean nan", {"metric": "l2", "mean": [math.nan]}),
        ("mean str", {"metric": "l2", "mean": "m"}),
        ("rescale l2", {"metric": "l2", "rescale": True}),
        ("rescale str", {"metric": "ssim", "image_shape": SHAPE, "rescale": "y"}),
        ("image_shape str", {"metric": "ssim", "image_shape": "1,6,6"}),
    ]:
        case(g, f"Scoring({label})", lambda kw=kw: calibration.Scoring(**kw))
    sc = calibration.Scoring(metric="l2")
    ssim_sc = calibration.Scoring(metric="ssim", image_shape=SHAPE)
    held = torch.rand(8, 36, dtype=torch.float64, generator=G)
    cand = torch.rand(3, 36, dtype=torch.float64, generator=G)
    for label, src, shape, e in [
        ("shape str", held, "3x36", RAISE),
        ("shape wrong d", held, (3, 35), RAISE),
        ("shape zero", held, (0, 36), RAISE),
        ("source None", None, (3, 36), RAISE),
        ("source str", "prior", (3, 36), RAISE),
        ("held-out too few", held[:2], (3, 36), RAISE),
        ("source nan", held * math.nan, (3, 36), RAISE),
        ("prior Box", priors.Box(), (3, 36), FINITE),
        ("shape negative", held, (-1, 36), RAISE),
        ("shape 3-D", held, (2, 3, 36), FINITE),
        ("huge shape", priors.Box(), (10**7, 10**6), RAISE),
    ]:
        case(g, f"null_candidates({label})", lambda s=src, sh=shape: calibration.null_candidates(s, sh), e)
    bh = lambda **k: calibration.beats_held_out(
        k.pop("X", FLAT),
        k.pop("candidates", cand),  # noqa: E731
        k.pop("held_out", held),
        **{"scoring": sc, **k},
    )
    for label, kw, e in [
        ("held_out wrong d", {"held_out": torch.rand(8, 35)}, RAISE),
        ("held_out empty", {"held_out": held[:0]}, RAISE),
        ("scoring str", {"scoring": "l2"}, RAISE),
        ("chance_draws zero", {"chance_draws": 0}, RAISE),
        ("chance_draws float", {"chance_draws": 2.0}, RAISE),
        ("seed negative", {"seed": -1}, RAISE),
        ("candidates nan", {"candidates": cand * math.nan}, RAISE),
        ("null wrong d", {"null": torch.rand(8, 30)}, RAISE),
        ("X one point", {"X": FLAT[:1]}, FINITE),
        ("ssim scoring", {"scoring": ssim_sc}, FINITE),
        ("held_out = X (leak to itself)", {"held_out": FLAT}, FINITE),
        ("candidates 1e200", {"candidates": cand * 1e200}, RAISE),
    ]:
        case(g, f"beats_held_out({label})", lambda kw=kw: bh(**kw), e)
    bq = lambda **k: calibration.beats_null_quantile(
        FLAT,
        cand,
        k.pop("null", priors.Box(0.0, 1.0)),  # noqa: E731
        **{"scoring": sc, "draws": 100, **k},
    )
    for label, kw, e in [
        ("draws below minimum", {"draws": 10}, RAISE),
        ("level 1", {"level": 1.0}, RAISE),
        ("level 0", {"level": 0.0}, RAISE),
        ("level nan", {"level": math.nan}, RAISE),
        ("draws huge", {"draws": 10**9}, RAISE),
        ("null int", {"null": 3}, RAISE),
        ("level str", {"level": "0.95"}, RAISE),
    ]:
        case(g, f"beats_null_quantile({label})", lambda kw=kw: bq(**kw), e)
    cb = lambda **k: calibration.calibrate(FLAT, cand, **{"scoring": sc, "held_out": held, **k})  # noqa: E731
    for label, kw, e in [
        ("prior str", {"prior": "box"}, RAISE),
        ("held_out None", {"held_out": None}, RAISE),
        ("draws 0", {"draws": 0}, RAISE),
        ("prior Box", {"prior": priors.Box(0.0, 1.0)}, FINITE),
    ]:
        case(g, f"calibrate({label})", lambda kw=kw: cb(**kw), e)


# ================================================================================================= claims
def _claims():
    g = "claims"
    for label, call in [
        ("at_most(nan value)", lambda: claims.at_most("c", math.nan, 1.0)),
        ("at_most(nan bound)", lambda: claims.at_most("c", 0.5, math.nan)),
        ("at_least(inf value)", lambda: claims.at_least("c", math.inf, 1.0)),
        ("at_least(tensor 2 values)", lambda: claims.at_least("c", torch.ones(2), 0.5)),
        ("at_most(str value)", lambda: claims.at_most("c", "0.5", 1.0)),
        ("at_most(claim empty)", lambda: claims.at_most("", 0.5, 1.0)),
        ("at_most(claim int)", lambda: claims.at_most(3, 0.5, 1.0)),
        ("holds(str condition)", lambda: claims.holds("c", "yes")),
        ("holds(int condition)", lambda: claims.holds("c", 1)),
        ("holds(tensor of 2)", lambda: claims.holds("c", torch.tensor([True, False]))),
        ("holds(measured nan)", lambda: claims.holds("c", True, x=math.nan)),
        ("close_to(tol negative)", lambda: claims.close_to("c", 1.0, 1.0, tol=-0.1)),
        ("close_to(tol nan)", lambda: claims.close_to("c", 1.0, 1.0, tol=math.nan)),
        ("close_to(target inf)", lambda: claims.close_to("c", math.inf, math.inf, tol=0.1)),
        ("within_factor(factor < 1)", lambda: claims.within_factor("c", 1.0, 1.0, 0.5)),
        ("within_factor(reference 0)", lambda: claims.within_factor("c", 1.0, 0.0, 2.0)),
        ("within_factor(negative value)", lambda: claims.within_factor("c", -1.0, -1.0, 2.0)),
        ("decreasing(one value)", lambda: claims.decreasing("c", [1.0])),
        ("decreasing(nan inside)", lambda: claims.decreasing("c", [3.0, math.nan, 1.0])),
        ("increasing(atol negative)", lambda: claims.increasing("c", [1.0, 2.0], atol=-1.0)),
        ("increasing(2-D)", lambda: claims.increasing("c", [[1.0, 2.0]])),
        ("median_at_most(empty)", lambda: claims.median_at_most("c", [], 1.0)),
        ("median_at_least(nan values)", lambda: claims.median_at_least("c", [math.nan] * 3, 0.0)),
        ("fraction_at_least(fraction 2)", lambda: claims.fraction_at_least("c", [1.0, 2, 3], 0.5, fraction=2.0)),
        ("fraction_at_least(fraction nan)", lambda: claims.fraction_at_least("c", [1.0, 2, 3], 0.5, fraction=math.nan)),
        ("fraction_at_most(threshold nan)", lambda: claims.fraction_at_most("c", [1.0, 2, 3], math.nan, fraction=0.5)),
        ("fraction_at_most(bool values)", lambda: claims.fraction_at_most("c", [True, False], 0.5, fraction=0.5)),
        ("spread(empty)", lambda: claims.spread([])),
        ("spread(nan)", lambda: claims.spread([math.nan, 1.0])),
        ("spread(digits 0)", lambda: claims.spread([1.0, 2.0], digits=0)),
        ("spread(digits str)", lambda: claims.spread([1.0, 2.0], digits="3")),
        ("spread(str)", lambda: claims.spread("123")),
        ("ClaimFailed(measured list)", lambda: _raise(claims.ClaimFailed("c", "d", [1, 2]))),
    ]:
        case(g, label, call)
    case(g, "spread(3 values)", lambda: claims.spread([1.0, 2.0, 3.0]), lambda r: isinstance(r, str) or r)
    case(
        g,
        "median_at_most(two values, fine)",
        lambda: claims.median_at_most("c", [0.1, 0.2], 1.0),
        lambda r: r is None or r,
    )
    case(
        g,
        "median_at_most(median fine)",
        lambda: claims.median_at_most("c", [0.1, 0.2, 5.0], 1.0),
        lambda r: r is None or r,
    )


def _raise(exc):
    raise exc


# ================================================================================================== sweep
def _sweep():
    g = "sweep"
    for label, kw in [
        ("members_per_task 0", {"members_per_task": 0}),
        ("num_cpus 0", {"num_cpus": 0}),
        ("num_cpus nan", {"num_cpus": math.nan}),
        ("num_gpus negative", {"num_gpus": -1}),
        ("num_cpus str", {"num_cpus": "1"}),
        ("members_per_task float", {"members_per_task": 1.5}),
    ]:
        case(g, f"RayExecutor({label})", lambda kw=kw: sweep.RayExecutor(**kw))
    for label, kw in [
        ("unknown experiment", {"name": "nope"}),
        ("scale bad", {"name": "init_radius", "scale": "huge"}),
        ("seed negative", {"name": "init_radius", "seed": -1}),
        ("members_per_task 0", {"name": "init_radius", "members_per_task": 0}),
        ("num_gpus nan", {"name": "init_radius", "num_gpus": math.nan}),
        ("name int", {"name": 3}),
    ]:
        case(g, f"sweep.run({label})", lambda kw=kw: sweep.run(**kw))
    for label, kw in [
        ("reversed", {"init_scale": (0.1, 0.001)}),
        ("zero low", {"lr": (0.0, 0.1)}),
        ("one value", {"lam_min": (0.1,)}),
        ("nan", {"gate": (math.nan, 10.0)}),
        ("str", {"lr": "0.1"}),
        ("negative", {"lam_min": (-1.0, 0.5)}),
    ]:
        case(g, f"SearchSpace({label})", lambda kw=kw: sweep.SearchSpace(**kw))
    spec = trained_nets.NetSpec()
    for label, kw in [
        ("spec str", {"spec": "init_radius"}),
        ("trials 0", {"trials": 0}),
        ("restarts 0", {"restarts": 0}),
        ("space dict", {"space": {}}),
        ("executor unknown", {"executor": "dask"}),
        ("candidates_per_point 0", {"candidates_per_point": 0}),
        ("attack dict", {"attack": {"steps": 2}}),
        ("trials huge", {"trials": 10**9}),
        ("num_cpus 0", {"num_cpus": 0}),
    ]:
        case(g, f"random_search({label})", lambda kw=kw: sweep.random_search(**{"spec": spec, **kw}))


# ============================================================================================ experiments
def _experiments():
    g = "experiments"
    for name, entry in experiments.EXPERIMENTS.items():
        for label, scale, seed in [("scale None", None, 0), ("seed bool", "test", True)]:
            case(g, f"{name}.preset({label})", lambda e=entry, s=scale, sd=seed: e.preset(s, sd))
    cfg_types = [getattr(experiments, n) for n in experiments.__all__ if n.endswith("Config")]
    for cls in cfg_types:
        fields = [f.name for f in dataclasses.fields(cls)]
        for fname in fields[:2]:
            for label, v in [("None", None), ("nan", math.nan)]:
                default = getattr(cls(), fname)
                if default is None and label == "None":
                    continue
                case(g, f"{cls.__name__}({fname}={label})", lambda c=cls, f=fname, v=v: c(**{f: v}))
    for label, kw in [
        ("device tpu", {"device": "tpu"}),
        ("progress int", {"progress": 1}),
        ("cache str", {"cache": "no"}),
        ("executor str", {"executor": "ray"}),
        ("cache_root int", {"cache_root": 3}),
    ]:
        case(g, f"Run({label})", lambda kw=kw: experiments.Run(**kw))
    for label, kw in [
        ("name int", {"name": 5}),
        ("scale list", {"name": "init_radius", "scale": ["book"]}),
        ("refresh str", {"name": "init_radius", "scale": "test", "refresh": "y"}),
        ("device meta", {"name": "init_radius", "scale": "test", "device": "meta"}),
        ("cache_root a file", {"name": "init_radius", "scale": "test", "cache_root": __file__}),
        ("executor int", {"name": "init_radius", "scale": "test", "executor": 3}),
    ]:
        case(g, f"run({label})", lambda kw=kw: experiments.run(**kw))
    for label, entry in [("str", "exp"), ("None", None), ("existing name", experiments.EXPERIMENTS["init_radius"])]:
        case(g, f"register({label})", lambda e=entry: experiments.register(e))
    case(g, "register(replace=1)", lambda: experiments.register(experiments.EXPERIMENTS["init_radius"], replace=1))
    case(g, "Experiment(function not callable)", lambda: experiments.Experiment("x", 3, lambda s, sd: None, "s", int))
    case(g, "Experiment(name with space)", lambda: experiments.Experiment("a b", print, print, "s", int))
    case(g, "experiment(config not a class)", lambda: experiments.experiment("x9", config=3, result=int, summary="s"))
    case(g, "experiment(summary empty)", lambda: experiments.experiment("x9", config=int, result=int, summary=""))
    case(g, "bias_shift.ones_in_row_space(MLP)", lambda: experiments.ones_in_row_space(MLP0))
    case(g, "ones_in_row_space(rtol nan)", lambda: experiments.ones_in_row_space(NET0, rtol=math.nan))
    case(g, "kkt_residual(X nan)", lambda: experiments.kkt_residual(NET0, X0 * math.nan, Y0))
    case(g, "kkt_residual(not separating)", lambda: experiments.kkt_residual(NET0, X0, -Y0))


# ===================================================================================================== viz
def _viz():
    g = "viz"
    import matplotlib

    matplotlib.use("Agg")
    # beyond the points' rank the directions are the orthogonal complement's (documented: a side view)
    for label, X, which, e in [
        ("which equal", X0, (0, 0), RAISE),
        ("which out of range", X0, (0, 9), RAISE),
        ("one point", X0[:1], (0, 1), FINITE),
        ("zero points", torch.zeros(3, D0), (0, 1), RAISE),
        ("collinear", torch.stack([X0[0], 2 * X0[0], 3 * X0[0]]), (0, 1), FINITE),
        ("which str", X0, "01", RAISE),
        ("which floats", X0, (0.0, 1.0), RAISE),
        ("X nan", X0 * math.nan, (0, 1), RAISE),
        ("d = 1", torch.ones(3, 1), (0, 1), RAISE),
    ]:
        case(g, f"plane_basis({label})", lambda X=X, w=which: viz.plane_basis(X, w), e)
    for label, a, b in [
        ("identical", X0, X0),
        ("d mismatch", X0, torch.ones(2, D0 + 1)),
        ("nan", X0, X0 * math.nan),
        ("zero candidates", X0, torch.zeros(2, D0)),
    ]:
        case(
            g,
            f"side_basis({label})",
            lambda a=a, b=b: viz.side_basis(a, b),  # in the span: falls back (documented)
            FINITE if label in ("identical", "zero candidates") else RAISE,
        )
    pp = lambda **k: viz.plot_points_2d(k.pop("train", X0), **k)  # noqa: E731
    for label, kw, e in [
        ("3-D no basis", {}, FINITE),
        ("y wrong length", {"y": Y0[:2]}, RAISE),
        ("basis wrong shape", {"basis": torch.ones(3, D0)}, RAISE),
        ("links wrong", {"candidates": X0, "links": "yes"}, RAISE),
        ("candidates wrong d", {"candidates": torch.ones(2, D0 + 1)}, RAISE),
        ("ax str", {"ax": "ax"}, RAISE),
        ("figsize negative", {"figsize": (-1, 2)}, RAISE),
        ("train nan", {"train": X0 * math.nan}, RAISE),
        ("candidate_y 0/1", {"candidates": X0, "candidate_y": (Y0 + 1) / 2}, RAISE),
    ]:
        case(g, f"plot_points_2d({label})", lambda kw=kw: pp(**kw), e)
    pa = lambda **k: viz.plot_activation_regions(k.pop("net", NET0), **k)  # noqa: E731
    for label, kw in [
        ("resolution 0", {"resolution": 0}),
        ("resolution huge", {"resolution": 10**6}),
        ("extent negative", {"extent": -1.0}),
        ("extent nan", {"extent": math.nan}),
        ("net str", {"net": "net"}),
        ("basis wrong", {"basis": torch.ones(2, D0 + 1)}),
        ("levels str", {"levels": "many"}),
    ]:
        case(g, f"plot_activation_regions({label})", lambda kw=kw: pa(**kw))
    pc = lambda **k: viz.plot_curves(
        k.pop("x", [1, 2, 3]),
        k.pop("curves", {"a": [1.0, 2.0, 3.0]}),  # noqa: E731
        **{"xlabel": "x", "ylabel": "y", **k},
    )
    gaps = lambda r: hasattr(r, "savefig") or r  # noqa: E731 - documented: such values leave gaps in the line
    for label, kw, e in [
        ("length mismatch", {"curves": {"a": [1.0, 2.0]}}, RAISE),
        ("nan curve", {"curves": {"a": [1.0, math.nan, 3.0]}}, gaps),
        ("empty curves", {"curves": {}}, RAISE),
        ("curves list", {"curves": [1.0, 2.0, 3.0]}, RAISE),
        ("logy with zero", {"curves": {"a": [0.0, 1.0, 2.0]}, "logy": True}, gaps),
        ("logx negative x", {"x": [-1, 1, 2], "logx": True}, gaps),
        ("spread wrong", {"spread": {"a": [1.0]}}, RAISE),
        ("xlabel None", {"xlabel": None}, RAISE),
        ("x str", {"x": "abc"}, RAISE),
        ("2-D x", {"x": [[1, 2, 3]]}, RAISE),
    ]:
        case(g, f"plot_curves({label})", lambda kw=kw: pc(**kw), e)
    for label, rows, kw in [
        ("empty", [], {}),
        ("row empty", [[]], {}),
        ("image_shape wrong", [FLAT[:2]], {"image_shape": (1, 5, 5)}),
        ("titles wrong length", [FLAT[:2]], {"image_shape": SHAPE, "titles": ["a"]}),
        ("nan images", [FLAT[:2] * math.nan], {"image_shape": SHAPE}),
        ("str rows", "rows", {}),
        ("scale zero", [FLAT[:2]], {"image_shape": SHAPE, "scale": 0.0}),
        ("ragged rows", [FLAT[:2], FLAT[:3]], {"image_shape": SHAPE}),
        ("flat without shape (not square)", [torch.rand(2, 35)], {}),
    ]:
        case(
            g,
            f"image_grid({label})",
            lambda r=rows, kw=kw: viz.image_grid(r, **kw),
            FINITE if label == "ragged rows" else RAISE,
        )
    for label, img, shape in [
        ("wrong size", FLAT[0], (1, 5, 5)),
        ("nan", FLAT[0] * math.nan, SHAPE),
        ("4-D", IMG, None),
        ("str", "img", None),
        ("non-square flat", torch.rand(35), None),
        ("complex", FLAT[0].to(torch.complex128), SHAPE),
    ]:
        case(g, f"as_image({label})", lambda i=img, s=shape: viz.as_image(i, s))
    case(g, "draw_image_rows(fig str)", lambda: viz.draw_image_rows("fig", [FLAT[:2]], image_shape=SHAPE))


# ================================================================================================= sliders
def _sliders():
    g = "sliders"

    def draw(fig, v, *rest):
        fig.add_subplot().plot([0, 1], [0, v])

    st = lambda **k: sliders.static_slider(
        k.pop("draw_frame", draw),
        k.pop("sliders", {"v": [1, 2]}),  # noqa: E731
        **{"figsize": (2, 1), "dpi": 30, **k},
    )
    for label, kw, e in [
        ("draw not callable", {"draw_frame": 3}, RAISE),
        ("sliders empty", {"sliders": {}}, RAISE),
        ("three sliders", {"sliders": {"a": [1], "b": [1], "c": [1]}}, RAISE),
        ("values empty", {"sliders": {"a": []}}, RAISE),
        ("sliders list", {"sliders": [1, 2]}, RAISE),
        ("initial not a value", {"initial": (7,)}, RAISE),
        ("dpi zero", {"dpi": 0}, RAISE),
        ("colors 1", {"colors": 1}, RAISE),
        ("colors 300", {"colors": 300}, RAISE),
        ("max_bytes tiny", {"max_bytes": 10}, RAISE),
        ("value_format bad", {"value_format": "{:q}"}, RAISE),
        ("figsize nan", {"figsize": (math.nan, 1)}, RAISE),
        ("alt int", {"alt": 3}, RAISE),
        ("label not str", {"sliders": {3: [1, 2]}}, RAISE),
        ("values a generator", {"sliders": {"a": (i for i in [1, 2])}}, FINITE),
        ("nan values", {"sliders": {"a": [1.0, math.nan]}}, FINITE),
    ]:
        case(g, f"static_slider({label})", lambda kw=kw: st(**kw), e)
    sa = lambda **k: sliders.scrub_animation(
        k.pop("draw_frame", draw),
        k.pop("values", [1, 2]),  # noqa: E731
        **{"figsize": (2, 1), **k},
    )
    for label, kw in [
        ("values empty", {"values": []}),
        ("interval 0", {"interval": 0}),
        ("default_mode bad", {"default_mode": "bounce"}),
        ("draw None", {"draw_frame": None}),
        ("values str", {"values": "ab"}),
        ("interval float", {"interval": 0.5}),
        ("values int", {"values": 3}),
    ]:
        case(g, f"scrub_animation({label})", lambda kw=kw: sa(**kw))


# ================================================================================================= runtime
def _runtime():
    g = "runtime"
    for label, dev in [
        ("meta", "meta"),
        ("cuda:99", "cuda:99"),
        ("mps", "mps"),
        ("torch cpu device", torch.device("cpu")),
    ]:
        case(
            g,
            f"get_device({label})",
            lambda d=dev: runtime.get_device(d),
            FINITE if label == "torch cpu device" else RAISE,
        )
    for label, kw in [
        ("threads 0", {"threads": 0}),
        ("threads str", {"threads": "2"}),
        ("device meta", {"device": "meta"}),
        ("seed float", {"seed": 1.0}),
        ("threads huge", {"threads": 10**6}),
    ]:
        case(g, f"setup({label})", lambda kw=kw: _restore_threads(lambda: runtime.setup(**kw)))
    for label, kw in [
        ("total negative", {"total": -1, "desc": "x", "enabled": False}),
        ("desc None", {"desc": None, "enabled": False}),
        ("enabled 0", {"desc": "x", "enabled": 0}),
        ("total float", {"total": 2.5, "desc": "x", "enabled": False}),
    ]:
        case(g, f"progress_bar({label})", lambda kw=kw: runtime.progress_bar(**kw))
    for label, args in [
        ("negative", (-1, "x")),
        ("float", (1.5, "x")),
        ("huge", (2**62, "a test")),
        ("what int", (10, 3)),
    ]:
        case(g, f"check_memory({label})", lambda a=args: runtime.check_memory(*a))


def _restore_threads(call):
    threads = torch.get_num_threads()
    try:
        return call()
    finally:
        torch.set_num_threads(threads)


# ============================================================================================ command line
CLI_CASES = [
    ("no command", [], 2),
    ("unknown command", ["train"], 2),
    ("reproduce no experiment", ["reproduce"], 2),
    ("unknown experiment", ["reproduce", "nope"], 2),
    ("empty experiment", ["reproduce", ""], 2),
    ("scale bad", ["reproduce", "init_radius", "--scale", "huge"], 2),
    ("seed negative", ["reproduce", "init_radius", "--seed", "-5"], 2),
    ("seed text", ["reproduce", "init_radius", "--seed", "abc"], 2),
    ("seed 2**64", ["reproduce", "init_radius", "--seed", str(2**64)], 2),
    ("seed float", ["reproduce", "init_radius", "--seed", "1.5"], 2),
    ("device tpu", ["reproduce", "init_radius", "--device", "tpu"], 2),
    ("device cuda absent", ["reproduce", "init_radius", "--device", "cuda"], 2),
    ("out is a file", ["reproduce", "init_radius", "--out", "{file}"], 2),
    ("out under a file", ["reproduce", "init_radius", "--out", "{file}/sub"], 2),
    ("out in /proc", ["reproduce", "init_radius", "--out", "/proc/hostile"], 2),
    ("cache-dir is a file", ["reproduce", "init_radius", "--cache-dir", "{file}"], 2),
    ("cache-dir /proc", ["reproduce", "init_radius", "--cache-dir", "/proc/x"], 2),
    ("progress and quiet", ["reproduce", "init_radius", "--progress", "--quiet"], 2),
    ("unknown option", ["reproduce", "init_radius", "--fast"], 2),
    ("import missing", ["reproduce", "init_radius", "--import", "no_such_module_xyz"], 2),
    ("import relative", ["reproduce", "init_radius", "--import", ".x"], 2),
    ("import raising", ["reproduce", "init_radius", "--import", "hostile_raise"], 2),
    ("import syntax error", ["reproduce", "init_radius", "--import", "hostile_syntax"], 2),
    ("import exiting", ["reproduce", "init_radius", "--import", "hostile_exit"], 2),
    ("import empty", ["reproduce", "init_radius", "--import", ""], 2),
    ("import NUL", ["reproduce", "init_radius", "--import", "a\x01b"], 2),
    ("checkpoints seeds negative", ["checkpoints", "init_radius", "--seeds", "-1"], 2),
    ("checkpoints seeds none", ["checkpoints", "init_radius", "--seeds"], 2),
    ("checkpoints store a file", ["checkpoints", "init_radius", "--store", "{file}"], 2),
    ("checkpoints unknown experiment", ["checkpoints", "nope"], 2),
    ("checkpoints scale bad", ["checkpoints", "init_radius", "--scale", "x"], 2),
    ("help", ["--help"], 0),
    ("reproduce help", ["reproduce", "--help"], 0),
    ("paper on cuda absent", ["reproduce", "init_radius", "--scale", "paper", "--device", "cuda"], 2),
    ("seed overflow text", ["reproduce", "init_radius", "--seed", "9" * 400], 2),
]


def _cli_case(label, argv, want):
    def call():
        tmp = Path(tempfile.mkdtemp(prefix="hostile-cli-"))
        (tmp / "file").write_text("x")
        (tmp / "hostile_raise.py").write_text("raise KeyError('boom')\n")
        (tmp / "hostile_syntax.py").write_text("def f(:\n")
        (tmp / "hostile_exit.py").write_text("import sys\nsys.exit(3)\n")
        args = [a.replace("{file}", str(tmp / "file")) for a in argv]
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp}",
            "RECONLEAK_CACHE": str(tmp / "cache"),
            "OMP_NUM_THREADS": "1",
        }
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "reconleak_core", *args],
                capture_output=True,
                text=True,
                timeout=TIMEOUT * 3,
                env=env,
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                preexec_fn=_limit_memory,
            )
        except subprocess.TimeoutExpired:
            return ("HANG", f"no answer in {TIMEOUT * 3} s")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        err = proc.stderr.strip().splitlines()
        last = err[-1] if err else ""
        if "Traceback" in proc.stderr:
            return ("RAW", f"rc {proc.returncode}: {last[:160]}")
        if proc.returncode != want:
            kind = "SILENT" if proc.returncode == 0 else "RAW"
            return (kind, f"rc {proc.returncode} (wanted {want}): {last[:160]}")
        if want != 0 and not last:
            return ("RAW", "no message")
        return ("OK", last[:160])

    return call


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))


GROUPS = {
    "checks": _checks,
    "models": _models,
    "kkt": _kkt,
    "certificate": _certificate,
    "train": _train,
    "data": _data,
    "metrics": _metrics,
    "cache": _cache,
    "checkpoints": _checkpoints,
    "lemmas": _lemmas,
    "attack": _attack,
    "priors": _priors,
    "pooling": _pooling,
    "calibration": _calibration,
    "claims": _claims,
    "sweep": _sweep,
    "experiments": _experiments,
    "viz": _viz,
    "sliders": _sliders,
    "runtime": _runtime,
}


def build(only=None, cli=True):
    CASES.clear()
    for name, make in GROUPS.items():
        if only in (None, name):
            make()
    if cli and only in (None, "cli"):
        for label, argv, want in CLI_CASES:
            CASES.append(Case("cli", label, _cli_case(label, argv, want), "cli"))
    return CASES


def run_case(c: Case):
    if c.expect == "cli":
        return c.call()
    return classify(c)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=[*GROUPS, "cli"], help="run one group")
    parser.add_argument("--sample", type=int, default=1, help="run every K-th case")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line cases")
    parser.add_argument("--verbose", action="store_true", help="print every case")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    _limit_memory()
    cases = build(args.only, cli=not args.no_cli)[:: args.sample]
    counts = {"OK": 0, "RAW": 0, "SILENT": 0, "HANG": 0}
    bad = []
    for c in cases:
        kind, detail = run_case(c)
        counts[kind] += 1
        if kind != "OK":
            bad.append((kind, c.group, c.name, detail))
        if args.verbose:
            print(f"{kind:6} {c.group:12} {c.name}: {detail}", flush=True)
    print(f"{len(cases)} cases: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for kind, group, name, detail in bad:
        print(f"  {kind:6} {group:12} {name}: {detail}")
    escaped = counts["RAW"] + counts["SILENT"] + counts["HANG"]
    print(f"RAW + SILENT + HANG = {escaped} (bound 5)")
    return 0 if escaped <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
