"""One step of the two-layer KKT attack: the library vs Haim et al.'s double backprop vs the GEMM floor.

    python benchmarks/attack_step.py [--quick] [--repeats R] [--device auto|cpu|cuda] [--compile]

A step is the KKT loss (stationarity residual + λ penalty) and its gradient with respect to the candidates
X′ (m × d) and the multipliers λ′ (m), for a ``TwoLayerReLU`` with trainable second layer: what
``attack.reconstruct`` runs per step. Both gates are timed: the library's default soft gate (α = 300,
Haim et al.'s) and the exact gate. Variants, timed in interleaved rounds (medians; every ratio is the median
of the per-round ratios; each timed call runs several steps at book scale so that timer resolution does
not matter):

- ``library``: ``kkt.KKTLoss`` built once (as the attack builds it), then ``value_and_grad(X′, λ′)``
  (the closed form's hand-written backward, no autograd graph) — the attack's per-step work;
- ``double backprop``: Haim et al.'s formulation (their ``get_kkt_loss``): Φ(θ; X′) with their
  ``ModifiedRelu`` (forward relu, backward multiplied by sigmoid(αz)) for the soft gate and plain relu for
  the exact gate, then ``torch.autograd.grad(Φ, θ, grad_outputs=λ′y, create_graph=True)``, ‖θ − ·‖² and
  a second backward;
- ``GEMM floor``: only the m×d×width matrix products such a step cannot avoid, on operands of the right
  shapes. The forward needs Z = X′Wᵀ and G_W = Cᵀ X′ with C = c ⊙ gate ⊙ v, cᵢ = λ′ᵢyᵢ. With the exact
  gate the backward needs ONE more: with R_W = W − G_W, R_v = v − G_v and M = v ⊙ R_W + R_v ⊙ W, both
  gradients come from P = 1[Z>0] · M (∂/∂x′ᵢ ∝ cᵢ Pᵢ, ∂/∂cᵢ ∝ x′ᵢ · Pᵢ): 3 products. The soft gate's
  gradient through sigmoid(αZ) needs Q = X′R_Wᵀ and D·W on top: 5 products.
  Everything else (elementwise work, Python, autograd bookkeeping) is overhead above the floor.

The script first checks, in float64, that the library's loss and gradients equal those of double backprop
computing the same quantity (plain relu for the exact gate; ``models.soft_gate_relu``, the library's
straight-through soft gate, for α). Haim's ``ModifiedRelu`` uses the soft gate in the loss *value* too, so
it is timed, not compared. Targets (paper scale d=784, width=1000, m=1000, default gate, each dtype and
thread count, printed as ``TARGET`` lines): the eager library step ≤ 2× the floor, and the step as the
paper-scale presets run it (``AttackConfig.paper()`` and the experiments' ``"paper"`` presets set
``compile=True``) at least 1.1× faster than double backprop (library/baseline ≤ 0.91, issue 16); the eager
step's library/baseline, the step of the book-scale presets, is printed beside it. Rows for 1 and 2 torch
threads (``--threads N``: one count).
First, the whole book-scale attack (d=10, width=100, m=40, float64, default config): ``attack.reconstruct``
per step against ``plain_attack``, twenty lines of matrix products with the hand-derived gradient and Adam
in a Python loop (same dtype, sizes, gate and loss; both end at the same X′, λ′), target library/plain ≤ 1.3
(issue 16); ``--compile`` adds there the plain step under ``torch.compile`` and the library's compiled
attack (``AttackConfig(compile=True)``), each compiled before the timing.
Each paper-scale row also gives floor/baseline, the best ratio to the baseline that any step made of
those products could reach on this machine: a step is 1.1× faster than the baseline only if its own
library/floor is at most 0.909 / (floor/baseline), which the script prints beside each target. The
GEMM share is the fraction of its time that a step spends at the measured matrix-product throughput
(floor/library, floor/baseline). The paper-scale rows of the default gate also time the library's step
under ``torch.compile`` as ``AttackConfig(compile=True)`` compiles it (compiled and checked against the
eager step first); where torch.compile is unavailable the 1.1× target falls back to the eager step, and
says so.
The headline (last line) gives, for the default gate at one thread, the eager library/floor ratio and the
compiled and eager library/baseline ratios at paper scale, and the library/baseline ratio at book scale.
"""

from __future__ import annotations

import copy
import math
import pathlib
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))   # this checkout's reconleak_core
import _bench  # noqa: E402

from reconleak_core.attack import AttackConfig, reconstruct  # noqa: E402
from reconleak_core.experiments import InitRadiusConfig  # noqa: E402
from reconleak_core.kkt import KKTLoss  # noqa: E402
from reconleak_core.models import TwoLayerReLU, soft_gate_relu  # noqa: E402
from reconleak_core.runtime import get_device  # noqa: E402

_BOOK = InitRadiusConfig.preset("book")   # the book's init-radius experiment: d, width and m = 2n
BOOK = (_BOOK.net.d, _BOOK.net.width, _BOOK.candidates_per_point * _BOOK.net.n)
SCALES = {"book": BOOK, "paper": (784, 1000, 1000)}   # name: (d, width, m)
QUICK_SCALES = {"book": BOOK, "paper (quick: ¼)": (196, 250, 250)}
DEFAULT_GATE = AttackConfig().gate


def problem(d: int, width: int, m: int, dtype: torch.dtype, device: torch.device, seed: int = 0):
    """A random two-layer net and random attack variables (X′, λ′ requiring grad), labels ±1."""
    net = TwoLayerReLU(d, width, init_scale=1.0, dtype=dtype, seed=seed).to(device)
    gen = torch.Generator().manual_seed(seed + 1)
    X = (torch.randn(m, d, generator=gen, dtype=torch.float64) / d ** 0.5).to(device, dtype).requires_grad_(True)
    lam = torch.rand(m, generator=gen, dtype=torch.float64).to(device, dtype).requires_grad_(True)
    y = torch.where(torch.arange(m) % 2 == 0, 1.0, -1.0).to(device, dtype)
    return net, X, y, lam


def library_step(net, y, config: AttackConfig):
    """The attack's step: a ``KKTLoss`` built once, then ``value_and_grad(X′, λ′)`` per call (no graph)."""
    objective = KKTLoss(net, y, lam_min=config.lam_min, penalty=config.lam_penalty, gate=config.gate)

    def step(X, lam):
        with torch.no_grad():
            return objective.value_and_grad(X.detach(), lam.detach(), check=False)

    return step


class _ModifiedRelu(torch.autograd.Function):
    """Haim et al.'s ``ModifiedReluFunc``: forward relu, backward multiplied by sigmoid(αz)."""

    @staticmethod
    def forward(ctx, z, alpha):
        ctx.save_for_backward(z)
        ctx.alpha = alpha
        return torch.relu(z)

    @staticmethod
    def backward(ctx, grad):
        z, = ctx.saved_tensors
        return grad * torch.sigmoid(ctx.alpha * z), None


def double_backprop_step(net, y, config: AttackConfig, relu=None):
    """Haim et al.'s formulation: ∇θ[Σᵢ λᵢyᵢΦ(θ; xᵢ)] with create_graph=True, then a second backward.

    ``relu``: the activation (default: Haim's ModifiedRelu with α = ``config.gate``, or relu without a gate).
    """
    if relu is None:
        relu = torch.relu if config.gate is None else (lambda z: _ModifiedRelu.apply(z, config.gate))
    params = [net.W, net.v]

    def step(X, lam):
        out = relu(X @ net.W.T) @ net.v
        grads = torch.autograd.grad(out, params, grad_outputs=lam * y, create_graph=True)
        loss = sum((p.detach() - g).pow(2).sum() for p, g in zip(params, grads))
        loss = loss + config.lam_penalty * torch.relu(config.lam_min - lam).sum()
        return (loss.detach(), *torch.autograd.grad(loss, (X, lam)))

    return step


def gemm_floor(d: int, width: int, m: int, dtype: torch.dtype, device: torch.device, products: int):
    """The ``products`` (3: exact gate, 5: soft gate) m×d×width products of a step, right layouts."""
    gen = torch.Generator().manual_seed(7)

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(device, dtype)

    X, W, C, D, R = rand(m, d), rand(width, d), rand(m, width), rand(m, width), rand(width, d)
    gemms = [lambda: X @ W.T,       # Z = X′Wᵀ                                     (forward)
             lambda: C.T @ X,       # G_W = Cᵀ X′                                  (forward)
             lambda: D @ R,         # P = 1[Z>0]·M                                 (backward)
             lambda: X @ R.T,       # Q = X′R_Wᵀ, for the soft gate's sigmoid′     (backward)
             lambda: D @ W]         # D·W, the soft gate's ∂/∂X′ through Z          (backward)
    return gemms[:products]


def plain_step(W, v, y, X, lam, buffers, c1, c2, *, alpha, lam_min, penalty, lr, betas, eps):
    """One plain attack step at the default loss (straight-through gate α, linear hinge, sum scale), in place.

    Twenty lines of matrix products with the gradient derived by hand (as the closed form's hand-written backward
    in ``reconleak_core.kkt``) and Adam: no validation, no autograd, no history. ``c1``, ``c2``: Adam's bias
    corrections 1 − β₁ᵗ and
    √(1 − β₂ᵗ) at this step (numbers, or 0-d tensors for ``torch.compile``, which would otherwise compile
    the step again for every t). Returns the loss (what an attack monitors).
    """
    Z = X @ W.T
    H = torch.gt(Z, 0, out=torch.empty_like(Z))
    c = lam * y
    cX = c.unsqueeze(-1) * X
    U = H.T @ cX
    R_W = torch.addcmul(W, v.unsqueeze(-1), U, value=-1)
    R_v = v - (W * U).sum(-1)
    short = torch.relu(lam_min - lam)
    loss = (R_W * R_W).sum() + R_v.pow(2).sum() + penalty * short.sum()
    vR = v.unsqueeze(-1) * R_W
    PM = H @ torch.addcmul(vR, R_v.unsqueeze(-1), W)
    D = torch.ops.aten.sigmoid_backward(cX @ vR.T.contiguous(), torch.sigmoid(Z * alpha))
    gX = (c.unsqueeze(-1) * PM).add_((D @ W).mul_(alpha)) * -2
    gl = (X * PM).sum(-1) * -2 * y - penalty * (short > 0).to(X.dtype)
    b1, b2 = betas
    for param, grad, m1, m2 in ((X, gX, buffers[0], buffers[1]), (lam, gl, buffers[2], buffers[3])):
        m1.lerp_(grad, 1 - b1)
        m2.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        param.addcdiv_(m1, (m2.sqrt() / c2).add_(eps).div_(lr / c1), value=-1)
    return loss


def plain_attack(net, y, X0, lam0, *, steps: int, config: AttackConfig, step=plain_step, tensors: bool = False):
    """``steps`` plain steps from (X0, λ0) (copies); returns the final (X′, λ′). ``tensors``: the bias
    corrections as 0-d tensors (for a compiled ``step``)."""
    W, v = net.W.detach(), net.v.detach()
    X, lam = X0.clone(), lam0.clone()
    buffers = [torch.zeros_like(X), torch.zeros_like(X), torch.zeros_like(lam), torch.zeros_like(lam)]
    kwargs = dict(alpha=config.gate, lam_min=config.lam_min, penalty=config.lam_penalty, lr=config.lr,
                  betas=config.betas, eps=config.eps)
    b1, b2 = config.betas
    corrections = [(1 - b1 ** t, math.sqrt(1 - b2 ** t)) for t in range(1, steps + 1)]
    if tensors:
        corrections = [tuple(torch.tensor(c, dtype=torch.float64) for c in pair) for pair in corrections]
    for c1, c2 in corrections:
        step(W, v, y, X, lam, buffers, c1, c2, **kwargs)
    return X, lam


def _compile_unavailable(err: Exception) -> str:
    """The line printed where ``torch.compile`` fails on this machine (the compiled variants are optional)."""
    return f"torch.compile unavailable here ({type(err).__name__}: {str(err).splitlines()[0][:120]})"


def book_attack(repeats: int, steps: int, *, compiled: bool, thread_counts) -> list[str]:
    """The book-scale attack (float64): ``reconstruct`` per step vs the plain loop (and its compiled step).

    Both start from the library's initial (X′, λ′) of seed 0 and must end equal to 1e-8; the library's time
    includes its setup (network copy, initial draws), spread over ``steps`` steps.
    """
    d, width, m = BOOK
    config = AttackConfig(steps=steps)
    net = TwoLayerReLU(d, width, init_scale=1.0, dtype=torch.float64, seed=0)
    start = reconstruct(net, m, steps=0, seed=0, device="cpu")
    X0, lam0, y = start.candidates, start.lam, start.labels
    library = reconstruct(net, m, steps=steps, seed=0, device="cpu")
    X, lam = plain_attack(net, y, X0, lam0, steps=steps, config=config)
    diff = max((library.candidates - X).abs().max().item(), (library.lam - lam).abs().max().item())
    lines = [f"book attack ({steps} steps, float64): library vs plain loop, max |difference| of X′, λ′ {diff:.2g}"]
    if diff > 1e-8:
        raise SystemExit("the library's attack and the plain loop disagree")
    variants = {"library": lambda: reconstruct(net, m, steps=steps, seed=0, device="cpu"),
                "plain": lambda: plain_attack(net, y, X0, lam0, steps=steps, config=config)}
    if compiled:
        try:
            fast = torch.compile(plain_step, dynamic=False)
            plain_attack(net, y, X0, lam0, steps=3, config=config, step=fast, tensors=True)   # compiled first
            reconstruct(net, m, steps=3, seed=0, device="cpu", compile=True)
            variants["plain, torch.compile"] = lambda: plain_attack(net, y, X0, lam0, steps=steps, config=config,
                                                                    step=fast, tensors=True)
            variants["library, compile=True"] = lambda: reconstruct(net, m, steps=steps, seed=0, device="cpu",
                                                                    compile=True)
        except Exception as err:   # optional: no compiler toolchain on this machine
            lines.append(_compile_unavailable(err))
    with_compiled = len(variants) == 4
    rows = []
    for threads in thread_counts:
        with _bench.threads(threads):
            times = _bench.interleaved(variants, repeats=repeats)
        per = {k: v / steps for k, v in times.items()}
        ratio = times.ratio("library", "plain")
        rows.append([threads, *(_bench.fmt_s(per[k]) for k in variants), f"{ratio:.2f}"]
                    + ([f"{times.ratio('library, compile=True', 'plain'):.2f}",
                        f"{times.ratio('library, compile=True', 'plain, torch.compile'):.2f}"]
                       if with_compiled else []))
        lines.append(_bench.target(f"book attack step (d={d}, w={width}, m={m}, float64, {threads} thread(s)): "
                                   "library/plain", ratio, 1.3))
    header = ["threads", *(f"{k} per step" for k in variants), "library/plain"]
    header += ["compiled library/plain", "compiled library/compiled plain"] if with_compiled else []
    return [_bench.table(header, rows), *lines]


def compiled_library_step(net, y, config: AttackConfig, X, lam):
    """The library's step under ``torch.compile``, as ``AttackConfig(compile=True)`` compiles it inside the
    attack's step (here without the optimiser update, as the other variants): ``(step, note)``, compiled and
    checked against the eager step before any timing; ``step`` is ``None`` where torch.compile is unavailable."""
    eager = library_step(net, y, config)
    try:
        fused = torch.compile(eager, dynamic=False)
        start = time.perf_counter()
        got = fused(X, lam)
        seconds = time.perf_counter() - start
    except Exception as err:   # optional: no compiler toolchain on this machine
        return None, _compile_unavailable(err)
    want = eager(X, lam)
    diff = max(((u - v).abs().max() / v.abs().max().clamp_min(1e-300)).item() for u, v in zip(got, want))
    if diff > (1e-4 if X.dtype == torch.float32 else 1e-10):
        raise SystemExit(f"the compiled library step disagrees with the eager one (max relative difference {diff:.2g})")
    return fused, (f"compile=True: first call (compiling, or loading inductor's cache) {seconds:.1f} s; loss and "
                   f"gradients within {diff:.2g} (relative) of the eager step")


def repeat(fn, *args, times: int):
    def run():
        for _ in range(times):
            fn(*args) if args else [g() for g in fn]
    return run


def check_agreement(device: torch.device) -> dict:
    """Max relative difference of loss and gradients, library vs double backprop of the same quantity (float64)."""
    out = {}
    for gate in (DEFAULT_GATE, None):
        config = AttackConfig(gate=gate)
        net, X, y, lam = problem(20, 30, 40, torch.float64, device)
        relu = torch.relu if gate is None else (lambda z: soft_gate_relu(z, gate))
        a = library_step(net, y, config)(X, lam)
        b = double_backprop_step(copy.deepcopy(net), y, config, relu=relu)(X, lam)
        out[gate] = max(((u - v).abs().max() / v.abs().max().clamp_min(1e-300)).item() for u, v in zip(a, b))
    return out


def _gate_name(gate) -> str:
    return "exact" if gate is None else f"α={gate:g}"


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=None,
                   help=f"interleaved rounds (default 15 book, 11 paper, {_bench.MIN_ROUNDS} with --quick; "
                        f"at least {_bench.MIN_ROUNDS})")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda (default cpu)")
    p.add_argument("--compile", action="store_true",
                   help="also time the book-scale attack under torch.compile: the plain step and the library's "
                        "compile=True (about half a minute to compile on 2 cores)")
    args = _bench.parse(p)
    device = get_device(args.device)
    scales = QUICK_SCALES if args.quick else SCALES

    print(_bench.machine(device))
    agreement = check_agreement(device)
    print("library vs double backprop of the same loss, float64 loss and gradients: max relative difference "
          + ", ".join(f"{_gate_name(g)} {v:.2g}" for g, v in agreement.items()))
    if max(agreement.values()) > 1e-10:
        raise SystemExit("the library's KKT step disagrees with the double-backprop baseline")

    if device.type == "cpu":
        for line in book_attack(args.repeats or _bench.MIN_ROUNDS, 200, compiled=args.compile,
                                thread_counts=_bench.thread_counts(args)):
            print(line)
    rows, headline, notes = [], {}, []
    for threads in _bench.thread_counts(args) if device.type == "cpu" else [torch.get_num_threads()]:
        with _bench.threads(threads):
            for scale, (d, width, m) in scales.items():
                book = scale == "book"
                repeats = args.repeats or (_bench.MIN_ROUNDS if args.quick else 15 if book else 11)
                inner = 20 if book else 1
                for gate in (DEFAULT_GATE, None):
                    config = AttackConfig(gate=gate)
                    products = 3 if gate is None else 5
                    for dtype in (torch.float32, torch.float64):
                        net, X, y, lam = problem(d, width, m, dtype, device)
                        variants = {
                            "library": repeat(library_step(net, y, config), X, lam, times=inner),
                            "double backprop": repeat(double_backprop_step(copy.deepcopy(net), y, config), X, lam,
                                                      times=inner),
                            "GEMM floor": repeat(gemm_floor(d, width, m, dtype, device, products), times=inner),
                        }
                        fused = None
                        if not book and gate == DEFAULT_GATE:   # the paper-scale presets' step
                            fused, note = compiled_library_step(net, y, config, X, lam)
                            notes.append(f"{threads} thread(s), {dtype}: {note}")
                            if fused is not None:
                                variants["library, compile=True"] = repeat(fused, X, lam, times=inner)
                        times = _bench.interleaved(variants, repeats=repeats, device=device)
                        lib, base, floor = (times[k] / inner for k in ("library", "double backprop", "GEMM floor"))
                        to_floor, to_base = times.ratio("library", "GEMM floor"), times.ratio("library",
                                                                                              "double backprop")
                        floor_base = times.ratio("GEMM floor", "double backprop")   # the best a library can be
                        name = str(dtype).replace("torch.", "")
                        fused_base = None if fused is None else times.ratio("library, compile=True", "double backprop")
                        fused_floor = None if fused is None else times.ratio("library, compile=True", "GEMM floor")
                        rows.append([threads, f"{scale} d={d} w={width} m={m}", _gate_name(gate), name,
                                     _bench.fmt_s(lib), _bench.fmt_s(base), f"{_bench.fmt_s(floor)} ({products})",
                                     f"{to_floor:.2f}", f"{to_base:.2f}", f"{floor_base:.2f}",
                                     f"{100 / to_floor:.0f}% / {100 * floor_base:.0f}%",
                                     "–" if fused is None else f"{_bench.fmt_s(times['library, compile=True'] / inner)}"
                                                               f" ({fused_floor:.2f}, {fused_base:.2f})"])
                        headline[(threads, scale, gate, name)] = (to_floor, to_base, floor_base, fused_floor,
                                                                  fused_base)
    print(_bench.table(["threads", "scale", "gate", "dtype", "library", "double backprop", "GEMM floor (products)",
                        "lib/floor", "lib/baseline", "floor/baseline", "GEMM share (library / baseline)",
                        "compile=True (/floor, /baseline)"], rows))
    for line in notes:
        print(line)
    first, last = list(scales)
    for (threads, scale, gate, dt), (to_floor, to_base, floor_base, fused_floor, fused_base) in headline.items():
        if scale == last and gate == DEFAULT_GATE:
            print(_bench.target(f"{last} step, default gate, {dt}, {threads} thread(s): library/floor", to_floor, 2.0))
            step, ratio = (("eager: torch.compile unavailable here", to_base) if fused_base is None else
                           ("compile=True, as the paper presets run it", fused_base))
            print(_bench.target(f"{last} step, default gate, {dt}, {threads} thread(s), {step}: "
                                "library/double backprop (≥ 1.1× faster)", ratio, round(1 / 1.1, 3)))
            if fused_base is not None:
                print(f"  eager (compile=False, the book presets' step): library/double backprop {to_base:.3f}; "
                      f"{fused_floor:.2f}× the floor compiled, {to_floor:.2f}× eager")
            print(f"  to be 1.1× faster here ({dt}, {threads} thread(s)) a step must be within "
                  f"{1 / 1.1 / floor_base:.3f}× the floor (the five products alone take {floor_base:.2f}× the "
                  "double backprop)")
    worst = max(v[1] for v in headline.values())
    t1 = min(t for t, *_ in headline)
    parts = []
    for dt in ("float32", "float64"):
        to_floor, to_base, _, _, fused_base = headline[(t1, last, DEFAULT_GATE, dt)]
        parts.append(f"{dt}: {to_floor:.2f}× floor, "
                     + (f"{to_base:.2f}× baseline (torch.compile unavailable)" if fused_base is None else
                        f"{fused_base:.2f}× baseline with compile=True ({to_base:.2f}× eager)"))
    print(f"HEADLINE (default gate {_gate_name(DEFAULT_GATE)}, {t1} thread(s); targets ≤ 2× floor eager and ≤ 0.91× "
          f"baseline as the paper presets run it): {last} step " + "; ".join(parts)
          + f"; {first} step {headline[(t1, first, DEFAULT_GATE, 'float64')][1]:.2f}× baseline "
          f"(float64); slowest eager library/baseline over every row {worst:.2f}")


if __name__ == "__main__":
    main()
