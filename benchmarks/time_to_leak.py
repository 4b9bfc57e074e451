"""Time to a leak: the calibrated leak rate against wall-clock time, for the library's attack and for Haim et al.'s.

    python benchmarks/time_to_leak.py [--quick] [--draws 0 1 2] [--budget SECONDS] [--trials T]

The two baselines get the same budget (default 120 s of attack per draw, so that the whole run fits in 20 minutes
on 2 cores: three draws of about 6 minutes each, the scoring of snapshots included).

Setting: the ``digit_leak`` book network of each data draw (20 centred digits, width 1000; committed checkpoints,
so nothing trains), attacked with the pixel box as prior. A training digit counts as leaked when its best pooled
reconstruction beats, in SSIM, every one of the data set's other digits (``calibration.beats_held_out``, rule
(i); chance about 5 % at this size). Every attack takes a snapshot of its candidates every ``EVERY`` steps
(``callback``); the wall-clock time of a snapshot is the attack's own (scoring happens afterwards, untimed).
Every snapshot, of every attack alike, is scored as ``experiments.digit_leak`` scores its pool: each candidate put
back on the margin of the normalised network and clipped into the pixel box (``kkt.onto_margin``, then
``Box.project``), what any attacker holding the network and the prior can do.

- (a) ``library``: the library's default pooled attack, ``AttackConfig()`` (Adam, lr 0.01, straight-through gate),
  8 restarts of m = n candidates, as ``experiments.digit_leak``'s book preset runs it;
- (b) ``library, compiled``: the same with ``compile=True`` (its compile time counted);
- (c) ``Haim defaults``: ``AttackConfig.haim()`` (SGD, lr 1e-4, init scale 1e-9, smooth gate, 1/m scale, their
  50,000 steps) with their box ``attack.Box()`` and m = 2n candidates, 8 restarts, stopped at the first snapshot
  after ``--budget`` seconds of attack;
- (d) ``Haim search``: their practice, a random search over (init scale, lr, λ_min, α) with their optimiser
  (``sweep.SearchSpace``'s ranges, which bracket the values their MNIST sweep selected), 2 restarts of m = 2n per
  trial, trials until the same ``--budget`` is spent (at most ``--trials``); the best rate so far against the
  search's cumulative wall time (every trial's time counted).

Target: the library's time to reach the best median rate a baseline reaches within its budget, divided by that
baseline's time to first reach it (for (d), counting the trials tried before), ≤ 0.2. Where a baseline never beats
chance (rate above 0), the target becomes: the library leaks ≥ 40 % in ≤ 1/5 of that baseline's wall time.
Medians over the draws at each time. Run it on an otherwise idle machine (results: ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import _bench
import numpy as np
import torch

from reconleak_core import attack, calibration, data, kkt, priors, sweep, trained_nets
from reconleak_core.experiments import DigitLeakConfig

HERE = Path(__file__).resolve().parent
EVERY = 250          # steps between snapshots
RESTARTS = 8
CHANCE_FLOOR = 0.0   # a rate above this beats chance at this size (rule (i)'s chance median is about 5 %)
SCORING = calibration.Scoring("ssim", image_shape=data.DIGITS_IMAGE_SHAPE)


@dataclasses.dataclass
class Setting:
    """One data draw: the trained network, its training digits in pixels and their rule-(i) thresholds."""

    tn: trained_nets.TrainedNet
    pixels: torch.Tensor
    threshold: torch.Tensor
    hat: torch.nn.Module
    box: priors.Box

    @classmethod
    def of(cls, draw: int) -> Setting:
        spec = DigitLeakConfig.preset("book", seed=draw).net
        tn = trained_nets.trained_network(spec, device="cpu")
        held = data.digits_held_out(spec.n, spec.classes, spec.seed, center=spec.center).pixels
        pixels = tn.X + tn.mean
        # rule (i)'s threshold of each training digit, its best SSIM over every held-out digit, does not depend on
        # the candidates: computed once per draw (the ~1,777 held-out digits are the slow part of the scoring)
        threshold = calibration.beats_held_out(pixels, held[:1], held, scoring=SCORING, chance_draws=1).threshold
        return cls(tn, pixels, threshold, kkt.normalize_margin(tn.net, tn.X, tn.y),
                   data.pixel_box(0.0, 1.0, tn.mean))

    def rate(self, candidates: torch.Tensor) -> float:
        """Share of training digits leaked beyond every held-out digit (candidates (K, m, d) in model coordinates,
        the attack's balanced labels): ``calibration.beats_held_out``'s rate, with the thresholds computed once,
        after the step back onto the margin and into the box."""
        labels = torch.where(torch.arange(candidates.shape[-2]) % 2 == 0, 1.0, -1.0).to(torch.float64)
        candidates = self.box.project(kkt.onto_margin(self.hat, candidates, labels)[0])
        best = SCORING.best(self.pixels, candidates + self.tn.mean)
        return SCORING.better(best, self.threshold).double().mean().item()


class _Spent(Exception):
    """Raised by a snapshot callback once the attack has used its wall-clock budget."""


def run_attack(setting: Setting, config: attack.AttackConfig, *, prior, per_point: int, restarts: int,
               seed: int = 0, budget: float | None = None, **members) -> list[tuple[float, torch.Tensor]]:
    """(seconds since the start, candidates (K, m, d)) every ``EVERY`` steps and at the end; with ``budget``, the
    attack stops at the first snapshot after ``budget`` seconds."""
    snaps, start = [], time.perf_counter()

    def keep(step, state):
        snaps.append((time.perf_counter() - start, state.candidates))
        if budget is not None and snaps[-1][0] >= budget:
            raise _Spent

    tn = setting.tn
    try:
        attack.reconstruct_trained(tn.net, tn.X, tn.y, per_point * tn.X.shape[0], config=config, prior=prior,
                                   seeds=[seed + k for k in range(restarts)], device="cpu", callback=keep,
                                   callback_every=EVERY, **members)
    except _Spent:
        pass
    return snaps


def curve(setting: Setting, snaps) -> list[tuple[float, float]]:
    return [(t, setting.rate(c)) for t, c in snaps]


def search(setting: Setting, *, trials: int, steps: int, budget: float, seed: int) -> list[tuple[float, float]]:
    """Haim et al.'s random search, trials until ``budget`` seconds are spent (at most ``trials``): the best rate so
    far against the cumulative time of all trials."""
    drawn = sweep.SearchSpace().sample(trials, seed)
    out, elapsed, best = [], 0.0, 0.0
    for t in range(trials):
        if elapsed >= budget:
            break
        config = attack.AttackConfig.haim(steps=steps, lam_min=float(drawn["lam_min"][t]),
                                          gate=float(drawn["gate"][t]))
        snaps = run_attack(setting, config, prior=attack.Box(), per_point=2, restarts=2, seed=seed,
                           init_scale=float(drawn["init_scale"][t]), lr=float(drawn["lr"][t]))
        for time_s, rate in curve(setting, snaps):
            best = max(best, rate)
            out.append((elapsed + time_s, best))
        elapsed += snaps[-1][0]
    return out


def median_curve(curves: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """The median over draws of the rate reached by time t, at every snapshot time of any draw."""
    times = sorted({t for c in curves for t, _ in c})

    def at(c, t):
        reached = [r for s, r in c if s <= t]
        return max(reached) if reached else 0.0

    return [(t, float(np.median([at(c, t) for c in curves]))) for t in times]


def first_time(curve_, rate: float) -> float:
    """First time the (median) curve reaches ``rate``; inf if never."""
    return next((t for t, r in curve_ if r >= rate), float("inf"))


def write_plot(curves: dict, medians: dict, path: str) -> None:
    """Calibrated leak rate against wall-clock time: every draw thin, the median over draws thick."""
    import matplotlib

    matplotlib.use("Agg")   # a file, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=110)
    for k, (name, per_draw) in enumerate(curves.items()):
        color = f"C{k}"
        for c in per_draw:
            ax.step([t for t, _ in c], [100 * r for _, r in c], where="post", color=color, alpha=0.3, lw=0.8)
        m = medians[name]
        ax.step([t for t, _ in m], [100 * r for _, r in m], where="post", color=color, lw=2,
                ls="--" if name == "Haim defaults" else "-",   # visible where the search's line covers it
                label=f"{name} (median of {len(per_draw)})")
    ax.set(xlabel="wall-clock seconds (attack only; a search counts every trial)",
           ylabel="% of training digits leaked", ylim=(-2, 100),
           title="beyond every held-out digit (rule (i)); chance ≈ 5 %")
    ax.set_xscale("symlog", linthresh=10)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)   # below: off the data
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, nargs="+", default=None, help="data draws (default 0 1 2; --quick: 0)")
    p.add_argument("--budget", type=float, default=None, help="seconds of Haim et al.'s default attack (default 120)")
    p.add_argument("--trials", type=int, default=None,
                   help="at most this many random-search trials within the budget (default 100; --quick: 2)")
    p.add_argument("--plot", default=None,
                   help="where to write the figure (default benchmarks/time_to_leak.png; --quick: not written)")
    args = _bench.parse(p)
    draws = args.draws or ([0] if args.quick else [0, 1, 2])
    steps = 300 if args.quick else 3000
    trials = args.trials or (2 if args.quick else 100)
    budget = args.budget or (10.0 if args.quick else 120.0)
    print(_bench.machine())
    curves = {k: [] for k in ("library", "library, compiled", "Haim defaults", "Haim search")}
    for draw in draws:
        setting = Setting.of(draw)
        box = data.pixel_box(0.0, 1.0, setting.tn.mean)
        lib = attack.AttackConfig(steps=steps)
        curves["library"].append(curve(setting, run_attack(setting, lib, prior=box, per_point=1,
                                                           restarts=RESTARTS, seed=draw)))
        compiled = dataclasses.replace(lib, compile=True)
        curves["library, compiled"].append(curve(setting, run_attack(setting, compiled, prior=box, per_point=1,
                                                                     restarts=RESTARTS, seed=draw)))
        haim = attack.AttackConfig.haim()   # their 50,000 steps, stopped when the budget is spent
        curves["Haim defaults"].append(curve(setting, run_attack(setting, haim, prior=attack.Box(), per_point=2,
                                                                 restarts=RESTARTS, seed=draw, budget=budget)))
        curves["Haim search"].append(search(setting, trials=trials, steps=300 if args.quick else 2000, budget=budget,
                                            seed=draw))
        print(f"draw {draw}: " + ", ".join(f"{k} {c[-1][-1][1]:.0%} at {c[-1][-1][0]:.0f} s"
                                            for k, c in curves.items()), flush=True)
    medians = {k: median_curve(c) for k, c in curves.items()}
    rows = [[name, f"{len(draws)}", f"{m[-1][0]:.0f} s", f"{max(r for _, r in m):.0%}",
             ", ".join(f"{r:.0%}@{t:.0f}s" for t, r in m[:: max(1, len(m) // 6)])] for name, m in medians.items()]
    print(_bench.table(["attack", "draws", "wall time", "best median rate", "median rate against time"], rows))
    plot = args.plot or (None if args.quick else str(HERE / "time_to_leak.png"))
    if plot:
        write_plot(curves, medians, plot)
        print(f"figure: {plot}")
    lib = medians["library"]
    ratios = []
    for name in ("Haim defaults", "Haim search"):
        base = medians[name]
        best = max(r for _, r in base)
        if best > CHANCE_FLOOR:
            ratio = first_time(lib, best) / first_time(base, best)
            print(_bench.target(f"time to {best:.0%} leaked, library / {name}", ratio, 0.2))
        else:
            ratio = first_time(lib, 0.4) / base[-1][0]
            print(f"{name} never beats chance in {base[-1][0]:.0f} s (best median rate {best:.0%})")
            print(_bench.target(f"time to 40% leaked, library / {name}'s wall time", ratio, 0.2))
        ratios.append(ratio)
    print(f"HEADLINE time to a leak: library / baseline {', '.join(f'{r:.3g}' for r in ratios)} "
          f"(Haim defaults, Haim search; target ≤ 0.2); library best median rate {max(r for _, r in lib):.0%} "
          f"in {lib[-1][0]:.0f} s")


if __name__ == "__main__":
    main()
