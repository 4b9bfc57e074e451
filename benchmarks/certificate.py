"""Time and memory of ``certificate.certificate`` at paper scale (n = 500, d = 784, width 1000; ~10⁵ kink pairs).

    python benchmarks/certificate.py [--quick] [--repeats R] [--threads N]

The network is ``gpu_scale.py --quick``'s: ``NetSpec(n=500, d=784, subspace_dim=None, width=1000,
steps=10_000)``, trained once by ``trained_nets.trained_network`` and kept in the library's result cache
(``RECONLEAK_CACHE``; the first run trains it, about 4 minutes on 2 CPU cores). Each round computes the
certificate in a fresh process (``multiprocessing`` spawn) at the given torch/BLAS thread count, so its
peak memory is measured alone: the process's peak resident set size minus its size before the call.
Rows for 1 and 2 threads, medians over ``--repeats`` rounds (default 5). Target: < 60 s at 2 threads
(the 1-thread row is context, not a target).
``--quick``: n = 100, d = 196, width 250 (2,000 training steps), for CI.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import time

import _bench

PAPER = dict(n=500, d=784, subspace_dim=None, width=1000, steps=10_000, seed=0)
QUICK = dict(n=100, d=196, subspace_dim=None, width=250, steps=2_000, seed=0)
LIMIT_S = 60.0
TARGET_THREADS = 2   # the target: under LIMIT_S seconds on 2 CPU cores


def _spec(quick: bool):
    """The benchmark's network: ``QUICK`` or ``PAPER``, its ``steps`` the training recipe's."""
    from reconleak_core.train import TrainConfig
    from reconleak_core.trained_nets import NetSpec

    sizes = dict(QUICK if quick else PAPER)
    return NetSpec(train=TrainConfig(steps=sizes.pop("steps")), **sizes)


def _measure(quick: bool, threads: int, queue) -> None:
    """In a fresh process: load the network, then time one certificate and measure its peak memory."""
    import torch

    torch.set_num_threads(threads)
    from reconleak_core.certificate import certificate
    from reconleak_core.trained_nets import trained_network

    tn = trained_network(_spec(quick), device="cpu")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    cert = certificate(tn.net, tn.X, tn.y)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((seconds, (peak - before) / 2 ** 20, peak / 2 ** 20, cert.kinks, cert.eps_rel))


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=_bench.MIN_ROUNDS,
                   help=f"rounds per thread count (default and at least {_bench.MIN_ROUNDS})")
    args = _bench.parse(p)
    if args.repeats < _bench.MIN_ROUNDS:
        p.error(f"--repeats must be at least {_bench.MIN_ROUNDS}")
    print(_bench.machine())
    from reconleak_core.trained_nets import trained_network

    spec = _spec(args.quick)
    start = time.perf_counter()
    trained_network(spec, device="cpu")            # trained once, then loaded from the cache
    print(f"network n={spec.n}, d={spec.d}, width={spec.width}, {spec.steps:,} training steps: ready in "
          f"{time.perf_counter() - start:.1f} s (cache: RECONLEAK_CACHE)")

    context = multiprocessing.get_context("spawn")
    rows, medians = [], {}
    for threads in _bench.thread_counts(args):
        runs = []
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[name] = str(threads)   # read by the children's BLAS libraries when they load
        for _ in range(args.repeats):
            queue = context.Queue()
            child = context.Process(target=_measure, args=(args.quick, threads, queue))
            child.start()
            runs.append(queue.get())
            child.join()
        seconds = statistics.median(r[0] for r in runs)
        medians[threads] = seconds
        rows.append([threads, f"{seconds:.1f} s", f"{min(r[0] for r in runs):.1f}–{max(r[0] for r in runs):.1f} s",
                     f"{statistics.median(r[1] for r in runs):.2f} GiB",
                     f"{statistics.median(r[2] for r in runs):.2f} GiB",
                     f"{runs[0][3]:,}", f"{runs[0][4]:.4g}"])
    print(_bench.table(["threads", "certificate (median)", "range", "memory (peak − before)", "process peak",
                        "kink pairs", "eps_rel"], rows))
    if TARGET_THREADS in medians:   # the target is for 2 cores; other rows are context
        print(_bench.target(f"certificate at n={spec.n}, d={spec.d}, width={spec.width}, {TARGET_THREADS} "
                            "thread(s)", medians[TARGET_THREADS], LIMIT_S, unit=" s"))
    t = max(medians)
    print(f"HEADLINE (target < {LIMIT_S:g} s on 2 cores): certificate.certificate at n={spec.n}, d={spec.d}, "
          f"width={spec.width}: {medians[t]:.1f} s at {t} thread(s) ({rows[-1][3]} above the loaded process, "
          f"{rows[-1][5]} kink pairs)")


if __name__ == "__main__":
    main()
