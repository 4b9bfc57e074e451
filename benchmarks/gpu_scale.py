"""The paper-scale init-radius experiment on a GPU, every radius in one batched attack; skips without CUDA.

    python benchmarks/gpu_scale.py [--quick] [--steps S] [--seeds K] [--subspace-dim k]

Sizes as in the paper's Fig. 2a setting: n = 500 training points on the unit sphere in d = 784, a two-layer
ReLU net of width 1000, m = 2n = 1000 candidates; the radii of the paper preset
(``experiments.InitRadiusConfig.preset("paper")``) × ``--seeds`` seeds as ONE ``reconstruct_batch`` call,
through ``experiments.init_radius`` (float32 on CUDA, the library's default there). Reports the training
time and the attack time (which includes the KKT certificate of the trained network, computed with NumPy
on the CPU, and the scoring); ``--steps`` caps the attack (default: the paper's 50,000).
Without a CUDA device it prints why and exits 0. ``--quick``: 10,000 training steps (measured on a CPU in
float32: the network separates the 500 points near step 6,250, so 2,000 do not), 20 attack steps, 1 seed.
The network and result go to a temporary cache folder, removed at the end: the point is the time.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time

import _bench
import torch


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=None, help="attack steps (default: the paper's 50,000; quick 20)")
    p.add_argument("--train-steps", type=int, default=None, help="training steps (default: paper preset; quick 10000)")
    p.add_argument("--seeds", type=int, default=None, help="attack seeds per radius (default: paper preset; quick 1)")
    p.add_argument("--subspace-dim", type=int, default=None,
                   help="data subspace dimension (default none: n = 500 < d = 784 points span a proper subspace)")
    args = _bench.parse(p)
    if not torch.cuda.is_available():
        print("gpu_scale: no CUDA device on this machine; the paper-scale run needs one. Skipped.")
        return

    from reconleak_core.experiments import InitRadiusConfig, init_radius
    from reconleak_core.train import TrainConfig
    from reconleak_core.trained_nets import NetSpec, trained_network

    device = torch.device("cuda")
    print(_bench.machine(device))
    preset = InitRadiusConfig.preset("paper")
    train_steps = args.train_steps or (10_000 if args.quick else preset.net.steps)
    net = NetSpec(n=500, d=784, subspace_dim=args.subspace_dim, width=1000, train=TrainConfig(steps=train_steps),
                  seed=0)
    attack = dataclasses.replace(preset.attack, steps=args.steps or (20 if args.quick else preset.attack.steps))
    config = dataclasses.replace(preset, net=net, attack=attack,
                                 seeds=args.seeds or (1 if args.quick else preset.seeds))
    members = len(config.radii) * config.seeds

    with tempfile.TemporaryDirectory(prefix="reconleak-gpu-") as cache_root:
        # A fresh cache folder: the network is trained once here, and init_radius loads it from there.
        start = time.perf_counter()
        trained_network(net, device=device, cache_root=cache_root)
        torch.cuda.synchronize()
        t_train = time.perf_counter() - start
        start = time.perf_counter()
        result = init_radius(config, device=device, cache_root=cache_root)
        torch.cuda.synchronize()
        t_attack = time.perf_counter() - start
    t_total = t_train + t_attack
    rows = [["training (n=500, d=784, width 1000)", f"{train_steps:,} steps", f"{t_train:.1f} s"],
            [f"attack: {members} members (radii {config.radii} × {config.seeds} seeds), m=1000",
             f"{attack.steps:,} steps",
             f"{t_attack:.1f} s (with the trained net's KKT certificate, on the CPU, and the scoring)"]]
    print(_bench.table(["part", "size", "time"], rows))
    for row in result.rows():
        print("  ".join(f"{k}={v:.3g}" for k, v in row.items()))
    print(f"HEADLINE: paper-scale init-radius experiment, all {members} attacks batched: {t_total:.1f} s in total "
          f"on {torch.cuda.get_device_name(device)} (attack {t_attack:.1f} s for {attack.steps:,} steps)")


if __name__ == "__main__":
    main()
