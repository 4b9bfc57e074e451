"""K = 16 attacks (init radius × seed) as one batched computation vs the same 16 run one after another.

    python benchmarks/batched_sweep.py [--quick] [--steps S] [--repeats R]

Sizes: the book's init-radius experiment (``experiments.InitRadiusConfig.preset("book")``). Both sides
call the library as the book does: ``attack.reconstruct_batch`` with per-member radii and
seeds (one step loop over (K, m, d) tensors) against 16 calls of ``attack.reconstruct`` with the same
settings. The script first checks that member k of the batch equals the k-th sequential attack (the
library's guarantee), then times both in alternating rounds (≥ 5; median per side; the speed-up is the
median of the per-round ratios), at 1 and at 2 torch threads (``--threads N``: one count). Target: ≥ 5× at
book scale on 2 CPU cores (issue 6), a ``TARGET`` line at 2 threads. The 1-thread row is reported beside it:
there the batch can only amortise the per-step overhead of 16 small steps, not also spread their products
over the cores, and narrow (d = 10) products take as long batched as one after another
(``benchmarks/RESULTS.md``, hand notes).
"""

from __future__ import annotations

import statistics
import time

import _bench
import torch

from reconleak_core.attack import reconstruct, reconstruct_batch
from reconleak_core.experiments import InitRadiusConfig
from reconleak_core.models import TwoLayerReLU

TARGET_THREADS = 2   # issue 6: "≥ 5× on 2 CPU cores at book scale"
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
    p.add_argument("--repeats", type=int, default=None,
                   help=f"interleaved rounds (default and at least {_bench.MIN_ROUNDS})")
    args = _bench.parse(p)
    steps = args.steps or (20 if args.quick else 300)
    repeats = args.repeats or _bench.MIN_ROUNDS
    if repeats < _bench.MIN_ROUNDS:
        p.error(f"--repeats must be at least {_bench.MIN_ROUNDS}")
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

    k = len(RADII) * len(SEEDS)
    rows, ratios = [], {}
    for threads in _bench.thread_counts(args):
        with _bench.threads(threads):
            t_batch, t_seq = [], []
            for r in range(repeats):
                for name in (("batch", "seq") if r % 2 == 0 else ("seq", "batch")):
                    start = time.perf_counter()
                    (batched if name == "batch" else sequential)(net, m, steps)
                    (t_batch if name == "batch" else t_seq).append(time.perf_counter() - start)
        ratios[threads] = [s / b for s, b in zip(t_seq, t_batch)]
        rows += [[threads, "16 × reconstruct (sequential)", _bench.fmt_s(statistics.median(t_seq)),
                  _bench.fmt_s(statistics.median(t_seq) / (k * steps)), ""],
                 [threads, f"reconstruct_batch (K = {k})", _bench.fmt_s(statistics.median(t_batch)),
                  _bench.fmt_s(statistics.median(t_batch) / (k * steps)), f"{statistics.median(ratios[threads]):.2f}"]]
    print(f"book scale (init-radius preset): d={d}, width={width}, m={m}, {steps} steps, float64, "
          f"radii {RADII} × seeds {SEEDS}, {repeats} interleaved rounds per thread count")
    print(_bench.table(["threads", "variant", "total (median)", "per member-step", "speed-up (median ratio)"], rows))
    for threads, rs in ratios.items():
        what = f"batched sweep speed-up over sequential, {threads} thread(s)"
        if threads == TARGET_THREADS:
            print(_bench.target(what, statistics.median(rs), 5.0, op=">="))
        else:
            print(f"{what}: {statistics.median(rs):.2f} (reported; the ≥ 5 target is set on "
                  f"{TARGET_THREADS} cores)")
    lead = TARGET_THREADS if TARGET_THREADS in ratios else min(ratios)
    print(f"HEADLINE (target ≥ 5× on {TARGET_THREADS} cores): batched sweep is {statistics.median(ratios[lead]):.2f}× "
          f"faster than sequential at {lead} thread(s) (per-round ratios "
          f"{', '.join(f'{x:.2f}' for x in ratios[lead])})"
          + "".join(f"; {statistics.median(rs):.2f}× at {t} thread(s)" for t, rs in ratios.items() if t != lead))


if __name__ == "__main__":
    main()
