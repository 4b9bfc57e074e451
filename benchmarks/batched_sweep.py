"""K = 16 attacks (init radius × seed) as one batched computation vs the same 16 run one after another.

    python benchmarks/batched_sweep.py [--quick] [--steps S] [--repeats R]

Sizes: the book's init-radius experiment (``experiments.InitRadiusConfig.preset("book")``). Both sides
call the library as the book does: ``attack.reconstruct_batch`` with per-member radii and
seeds (one step loop over (K, m, d) tensors) against 16 calls of ``attack.reconstruct`` with the same
settings. The script first checks that member k of the batch equals the k-th sequential attack (the
library's guarantee), then times both in interleaved rounds (median per side; the headline ratio is the
median of the per-round ratios). Target: ≥ 5× on 2 CPU cores at book scale.
"""

from __future__ import annotations

import statistics
import time

import torch

import _bench
from reconleak_core.attack import reconstruct, reconstruct_batch
from reconleak_core.experiments import InitRadiusConfig
from reconleak_core.models import TwoLayerReLU

RADII = (0.1, 0.3, 1.0, 3.0)
SEEDS = (0, 1, 2, 3)


def sweep():
    """The 16 members: every (radius, seed) pair."""
    return [r for r in RADII for _ in SEEDS], [s for _ in RADII for s in SEEDS]


def batched(net, m: int, steps: int):
    radii, seeds = sweep()
    return reconstruct_batch(net, m, init="sphere", init_radius=radii, seeds=seeds, steps=steps, device="cpu",
                             dtype=torch.float64)


def sequential(net, m: int, steps: int):
    radii, seeds = sweep()
    return [reconstruct(net, m, init="sphere", init_radius=r, seed=s, steps=steps, device="cpu",
                        dtype=torch.float64) for r, s in zip(radii, seeds)]


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=None, help="attack steps per member (default 300; quick 20)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 3; quick 1)")
    args = _bench.parse(p)
    steps = args.steps or (20 if args.quick else 300)
    repeats = args.repeats or (1 if args.quick else 3)
    book = InitRadiusConfig.preset("book")   # the book's init-radius experiment: its sizes
    d, width, m = book.net.d, book.net.width, book.candidates_per_point * book.net.n
    net = TwoLayerReLU(d, width, init_scale=1.0, seed=0)   # the time of a step does not depend on the weights
    print(_bench.machine())

    check = batched(net, m, 5)
    singles = sequential(net, m, 5)
    gap = max((check.member(k).candidates - s.candidates).abs().max().item() for k, s in enumerate(singles))
    print(f"batched member k vs k-th sequential attack after 5 steps: max |ΔX′| = {gap:.2g}")
    if gap > 1e-8:
        raise SystemExit("a batched member differs from the same attack run alone")

    t_batch, t_seq = [], []
    for r in range(repeats):
        for name in (("batch", "seq") if r % 2 == 0 else ("seq", "batch")):
            start = time.perf_counter()
            (batched if name == "batch" else sequential)(net, m, steps)
            (t_batch if name == "batch" else t_seq).append(time.perf_counter() - start)
    ratios = [s / b for s, b in zip(t_seq, t_batch)]
    k = len(RADII) * len(SEEDS)
    rows = [[f"16 × reconstruct (sequential)", _bench.fmt_s(statistics.median(t_seq)),
             _bench.fmt_s(statistics.median(t_seq) / (k * steps))],
            [f"reconstruct_batch (K = {k})", _bench.fmt_s(statistics.median(t_batch)),
             _bench.fmt_s(statistics.median(t_batch) / (k * steps))]]
    print(f"book scale (init-radius preset): d={d}, width={width}, m={m}, {steps} steps, float64, "
          f"radii {RADII} × seeds {SEEDS}, "
          f"{repeats} interleaved round(s)")
    print(_bench.table(["variant", "total (median)", "per member-step"], rows))
    print(f"HEADLINE (target ≥ 5×): batched sweep is {statistics.median(ratios):.2f}× faster than sequential "
          f"(per-round ratios {', '.join(f'{x:.2f}' for x in ratios)})")


if __name__ == "__main__":
    main()
