"""One step of the two-layer KKT attack: the library's closed form vs double backprop vs the GEMM floor.

    python benchmarks/attack_step.py [--quick] [--repeats R] [--device auto|cpu|cuda]

A step is the KKT loss of ``reconleak_core.kkt.kkt_loss`` (stationarity residual + λ penalty) and its
gradient with respect to the candidates X′ (m × d) and the multipliers λ′ (m), for a ``TwoLayerReLU``
with trainable second layer. Three variants, timed in interleaved rounds (medians):

- ``library``: ``kkt_loss(...)`` then ``torch.autograd.grad`` — what ``attack.reconstruct`` runs per step;
- ``double backprop``: Haim et al.'s formulation (their ``get_kkt_loss``): Φ(θ; X′), then
  ``torch.autograd.grad(Φ, θ, grad_outputs=λ′y, create_graph=True)``, then ‖θ − ·‖² and a second backward;
- ``GEMM floor``: only the matrix products such a step cannot avoid, on operands of the right shapes.
  The forward needs Z = X′Wᵀ (m×d×width) and G_W = Cᵀ X′ (width×m×d) with C = c ⊙ 1[Z>0] ⊙ v,
  cᵢ = λ′ᵢyᵢ. With the exact gate the backward needs ONE more: writing R_W = W − G_W, R_v = v − G_v
  and M = −2(v ⊙ R_W + R_v ⊙ W) (width × d), both gradients come from P = 1[Z>0] · M:
  ∂/∂x′ᵢ = cᵢ Pᵢ and ∂/∂cᵢ = x′ᵢ · Pᵢ. So the floor is 3 products; a generic autograd backward of the
  closed form does 5 (C·R_W and X′·R_Wᵀ through G_W, D·W through Z), shown as ``5 GEMMs`` for context.
  Everything else (elementwise work, Python, validation, autograd bookkeeping) is overhead above it.

The script first checks that the library and the baseline give the same loss and gradients (float64).
Targets (paper scale d=784, width=1000, m=1000): library ≤ 2× the floor, and never slower than double
backprop. The headline (last line) is the library/floor and library/baseline ratios at paper scale.
"""

from __future__ import annotations

import copy

import torch

import _bench
from reconleak_core.attack import AttackConfig
from reconleak_core.experiments import InitRadiusConfig
from reconleak_core.kkt import kkt_loss
from reconleak_core.models import TwoLayerReLU
from reconleak_core.runtime import get_device

_BOOK = InitRadiusConfig.preset("book")   # the book's init-radius experiment: d, width and m = 2n
BOOK = (_BOOK.net.d, _BOOK.net.width, _BOOK.candidates_per_point * _BOOK.net.n)
SCALES = {"book": BOOK, "paper": (784, 1000, 1000)}   # name: (d, width, m)
QUICK_SCALES = {"book": BOOK, "paper (quick: ¼)": (196, 250, 250)}


def problem(d: int, width: int, m: int, dtype: torch.dtype, device: torch.device, seed: int = 0):
    """A random two-layer net and random attack variables (X′, λ′ requiring grad), labels ±1."""
    net = TwoLayerReLU(d, width, init_scale=1.0, dtype=dtype, seed=seed).to(device)
    gen = torch.Generator().manual_seed(seed + 1)
    X = (torch.randn(m, d, generator=gen, dtype=torch.float64) / d ** 0.5).to(device, dtype).requires_grad_(True)
    lam = torch.rand(m, generator=gen, dtype=torch.float64).to(device, dtype).requires_grad_(True)
    y = torch.where(torch.arange(m) % 2 == 0, 1.0, -1.0).to(device, dtype)
    return net, X, y, lam


def library_step(net, X, y, lam, config: AttackConfig):
    """The library's step: closed-form KKT loss and its gradient w.r.t. (X′, λ′)."""
    loss = kkt_loss(net, X, y, lam, lam_min=config.lam_min, penalty=config.lam_penalty, gate=config.gate)
    return (loss.detach(), *torch.autograd.grad(loss.sum(), (X, lam)))


def double_backprop_step(net, X, y, lam, config: AttackConfig):
    """Haim et al.'s formulation: ∇θ[Σᵢ λᵢyᵢΦ(θ; xᵢ)] with create_graph=True, then a second backward."""
    params = list(net.parameters())
    out = net(X)
    grads = torch.autograd.grad(out, params, grad_outputs=lam * y, create_graph=True)
    loss = sum((p.detach() - g).pow(2).sum() for p, g in zip(params, grads))
    loss = loss + config.lam_penalty * torch.relu(config.lam_min - lam).sum()
    return (loss.detach(), *torch.autograd.grad(loss, (X, lam)))


def gemm_floor(d: int, width: int, m: int, dtype: torch.dtype, device: torch.device, products: int = 3):
    """The first ``products`` (3: the floor, or 5: autograd's) m×d×width products of a step, right layouts."""
    gen = torch.Generator().manual_seed(7)

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(device, dtype)

    X, W, C, D, R = rand(m, d), rand(width, d), rand(m, width), rand(m, width), rand(width, d)
    gemms = [lambda: X @ W.T,       # Z = X′Wᵀ                               (forward)
             lambda: C.T @ X,       # G_W = Cᵀ X′                            (forward)
             lambda: D @ R,         # P = 1[Z>0]·M, or C·R_W through G_W      (backward)
             lambda: X @ R.T,       # ∂/∂C through G_W                       (autograd's backward)
             lambda: D @ W]         # ∂/∂X′ through Z                         (autograd's backward)

    def run():
        for gemm in gemms[:products]:
            gemm()

    return run


def check_agreement(device: torch.device) -> float:
    """Max relative difference of loss and gradients between library and baseline (float64)."""
    config = AttackConfig()
    net, X, y, lam = problem(20, 30, 40, torch.float64, device)
    a = library_step(net, X, y, lam, config)
    b = double_backprop_step(net, X, y, lam, config)
    return max(((u - v).abs().max() / v.abs().max().clamp_min(1e-300)).item() for u, v in zip(a, b))


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 10 book, 5 paper)")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda (default cpu)")
    args = _bench.parse(p)
    device = get_device(args.device)
    scales = QUICK_SCALES if args.quick else SCALES
    config = AttackConfig()

    print(_bench.machine(device))
    agreement = check_agreement(device)
    print(f"library vs double backprop, float64 loss and gradients: max relative difference {agreement:.2g}")
    if agreement > 1e-10:
        raise SystemExit("the library's KKT step disagrees with the double-backprop baseline")

    rows, headline = [], {}
    for scale, (d, width, m) in scales.items():
        repeats = args.repeats or (3 if args.quick else (10 if scale == "book" else 5))
        for dtype in (torch.float32, torch.float64):
            net, X, y, lam = problem(d, width, m, dtype, device)
            net_b = copy.deepcopy(net)
            times = _bench.interleaved({
                "library": lambda: library_step(net, X, y, lam, config),
                "double backprop": lambda: double_backprop_step(net_b, X, y, lam, config),
                "GEMM floor": gemm_floor(d, width, m, dtype, device),
                "5 GEMMs": gemm_floor(d, width, m, dtype, device, products=5),
            }, repeats=repeats, device=device)
            lib, base, floor = times["library"], times["double backprop"], times["GEMM floor"]
            name = str(dtype).replace("torch.", "")
            rows.append([f"{scale} d={d} w={width} m={m}", name, _bench.fmt_s(lib), _bench.fmt_s(base),
                         _bench.fmt_s(floor), _bench.fmt_s(times["5 GEMMs"]), f"{lib / floor:.2f}",
                         f"{lib / base:.2f}"])
            headline[(scale, name)] = (lib / floor, lib / base)
    print(_bench.table(["scale", "dtype", "library", "double backprop", "GEMM floor (3)", "5 GEMMs", "lib/floor",
                        "lib/baseline"],
                       rows))
    last = list(scales)[-1]
    parts = [f"{dt}: {headline[(last, dt)][0]:.2f}× floor, {headline[(last, dt)][1]:.2f}× baseline"
             for dt in ("float32", "float64")]
    print(f"HEADLINE ({last}, target ≤ 2× floor and ≤ 1× baseline): library step " + "; ".join(parts))


if __name__ == "__main__":
    main()
