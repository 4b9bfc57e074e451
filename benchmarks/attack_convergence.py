"""Haim et al.'s attack vs ours at equal step budgets, each at the best step size of a small recorded sweep.

    python benchmarks/attack_convergence.py [--quick] [--steps S] [--seeds K] [--spec sphere|digits]

Network: the book's standard trained network (``trained_nets.trained_network(NetSpec())``: unit-sphere data
in a subspace, two-layer ReLU, width 100; ``--spec digits``: centred-free 8×8 digits, width 1000),
margin-normalised as the experiments do. Every variant runs m = 2n candidates with the same seeds, each
variant as ONE batched call (``attack.reconstruct_batch``, the seeds as members) per step size:

- ``haim``: ``AttackConfig.haim()`` — SGD momentum 0.9 on X′ and λ′, their smooth gate σ(300z), squared
  hinge 5·Σ relu(0.05 − λ′)² on their 1/m scale, init σ = 1e-9, plus their box term (``prior=Box()``);
  step sizes (x and λ alike) swept over ``HAIM_LRS`` from their default 1e-4 up (smaller ones only move slower);
- ``ours``: ``AttackConfig()`` — Adam, straight-through gate α = 300, linear hinge, sum scale, no prior;
  step sizes swept over ``OUR_LRS`` around our default 0.01;
- ``ours+smooth``: the same with ``gate_form="smooth"`` (the measurement behind the default gate form).

A diverging step size (the library raises on a non-finite value) is recorded as such. Every variant is
credited with its best step size at the largest budget (chosen on the median exact KKT residual), and the
choice is printed with the whole sweep. Measures, at each budget (a constant step size makes the state at
step k that of a k-step run, so the budgets are read from one run), medians over seeds with the range:

- ``residual``: the exact-gate stationarity residual ‖θ − Σᵢ λ′ᵢyᵢ∇θΦ(θ; x′ᵢ)‖² / ‖θ‖² (λ′ brought to the
  sum scale), the same yardstick for every variant whatever loss it minimised;
- ``nearest``: mean over training points of the distance to the nearest candidate.
"""

from __future__ import annotations

import time

import _bench
import numpy as np
import torch

from reconleak_core.attack import AttackConfig, Box, reconstruct_batch
from reconleak_core.kkt import kkt_loss, normalize_margin
from reconleak_core.metrics import nearest_distances
from reconleak_core.models import parameter_vector
from reconleak_core.trained_nets import NetSpec, trained_network

HAIM_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)   # their default extraction_lr = extraction_lambda_lr = 1e-4
OUR_LRS = (3e-3, 1e-2, 3e-2)          # our default lr = 0.01
BUDGETS = (1_000, 5_000, 50_000)


def variants(top: int):
    """name → (config, step sizes, prior)."""
    return {"haim": (AttackConfig.haim(steps=top), HAIM_LRS, Box()),
            "ours": (AttackConfig(steps=top), OUR_LRS, None),
            "ours+smooth": (AttackConfig(steps=top, gate_form="smooth"), OUR_LRS, None)}


def run(net, X, y_train, m: int, config: AttackConfig, lr: float, prior, seeds, every: int):
    """One batched attack (members: seeds). Returns ``({step: (residual (S,), nearest (S,))}, seconds, error)``."""
    snapshots, error = {}, None

    def callback(step, state):
        snapshots[step] = (state.candidates.clone(), state.lam.clone())

    start = time.perf_counter()
    try:
        result = reconstruct_batch(net, m, seeds=list(seeds), lr=lr, lam_lr=lr, prior=prior, config=config,
                                   device="cpu", dtype=torch.float64, callback=callback, callback_every=every)
        labels = result.labels
    except ValueError as err:   # "NaN found in ... at step k": this step size diverges
        error, labels = str(err).splitlines()[0], None
    seconds = time.perf_counter() - start
    if labels is None:
        labels = torch.where(torch.arange(m) % 2 == 0, 1.0, -1.0).to(torch.float64)
    theta2 = parameter_vector(net).detach().pow(2).sum().item()
    scale = 1.0 / m if config.lam_scale == "mean" else 1.0
    out = {}
    for step, (cands, lam) in snapshots.items():
        residual = kkt_loss(net, cands, labels, lam * scale, penalty=0.0).detach().numpy() / theta2
        nearest = np.array([nearest_distances(X, c).train_to_rec.mean().item() for c in cands])
        out[step] = (residual, nearest)
    return out, seconds, error


def _median(runs, step, which):
    return float(np.median(runs[step][which])) if step in runs else float("nan")


def _cell(runs, step, which):
    if step not in runs:
        return "diverged"
    values = runs[step][which]
    return f"{np.median(values):.3g} [{values.min():.3g}, {values.max():.3g}]"


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=None, help="largest budget (default 50000; quick 300)")
    p.add_argument("--seeds", type=int, default=None, help="attack seeds per setting (default 3)")
    p.add_argument("--spec", choices=("sphere", "digits"), default="sphere", help="which book network")
    args = _bench.parse(p)
    top = args.steps or (300 if args.quick else BUDGETS[-1])
    budgets = sorted({b for b in BUDGETS if b < top} | {top}) if not args.quick else [100, top]
    seeds = range(args.seeds or 3)
    every = min(250, min(budgets))

    print(_bench.machine())
    spec = NetSpec() if args.spec == "sphere" else NetSpec(dataset="digits", d=None, subspace_dim=None, width=1000)
    tn = trained_network(spec, device="cpu")
    net = normalize_margin(tn.net, tn.X, tn.y)
    m = 2 * spec.n
    print(f"book net: {spec.dataset} n={spec.n} width={spec.width}; m={m} candidates; budgets {budgets}; "
          f"seeds {list(seeds)}")

    best, sweep_rows, times = {}, [], {}
    for name, (config, lrs, prior) in variants(top).items():
        runs, times[name] = {}, 0.0
        for lr in lrs:
            runs[lr], seconds, error = run(net, tn.X, tn.y, m, config, lr, prior, seeds, every)
            times[name] += seconds
            sweep_rows.append([name, f"{lr:g}", "diverged: " + error if error else _cell(runs[lr], top, 0),
                               "" if error else _cell(runs[lr], top, 1)])
        alive = [lr for lr in lrs if top in runs[lr]]
        best[name] = (min(alive, key=lambda lr: _median(runs[lr], top, 0)), runs) if alive else (None, runs)
    print(f"step-size sweep at {top:,} steps (median [min, max] over seeds):")
    print(_bench.table(["variant", "lr", "residual", "nearest"], sweep_rows))

    rows = []
    for b in budgets:
        row = [f"{b:,}"]
        for name, (lr, runs) in best.items():
            row += ["diverged", "diverged"] if lr is None else [_cell(runs[lr], b, 0), _cell(runs[lr], b, 1)]
        rows.append(row)
    header = ["steps"] + [f"{name} (lr {'-' if lr is None else f'{lr:g}'}): {what}"
                          for name, (lr, _) in best.items() for what in ("residual", "nearest")]
    print("each variant at its best step size:")
    print(_bench.table(header, rows))
    print("wall time: " + ", ".join(f"{name} {t:.0f} s" for name, t in times.items())
          + f" ({len(seeds)} seeds batched per run)")

    def final(name, which):
        lr, runs = best[name]
        return float("nan") if lr is None else _median(runs[lr], top, which)

    ratio = final("haim", 0) / final("ours", 0)
    print(f"HEADLINE at {top:,} steps, best step size each — exact KKT residual: Haim {final('haim', 0):.3g}, "
          f"ours {final('ours', 0):.3g} (Haim/ours {ratio:.3g}), ours+smooth {final('ours+smooth', 0):.3g}; "
          f"nearest distance: Haim {final('haim', 1):.3g}, ours {final('ours', 1):.3g}, "
          f"ours+smooth {final('ours+smooth', 1):.3g}")


if __name__ == "__main__":
    main()
