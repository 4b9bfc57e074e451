"""Command line: ``python -m reconleak_core reproduce <experiment>`` (also installed as ``reconleak``), and
``python -m reconleak_core checkpoints <experiment> --seeds S ...`` (maintainers: trains that experiment's
networks on the CPU and adds them to the committed store ``trained_nets.CHECKPOINTS``).

``reproduce`` runs one experiment of :mod:`reconleak_core.experiments` at a scale, prints its table
(numbers rounded to 3 significant digits), and writes ``<experiment>.json`` (the numbers) and
``<experiment><suffix>.png`` (the result's ``figures()``, drawn with the Agg backend: the headline figure,
and for ``secret_shift`` also ``secret_shift_images.png``, the best reconstructions beside their nearest
training images) into ``--out`` (default ``./reconleak_results/<experiment>``). :func:`main` returns the exit
code: 0 on success, 2 on a usage error, reported as one line ``error: ...`` on stderr (unknown experiment, CUDA
asked for but absent, a seed outside [0, 2⁶³ − 1], an ``--out`` or ``--cache-dir`` that is a file or cannot be
created or written). The arguments, the output folder and the cache folder are all checked before any
computation starts.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

from reconleak_core import experiments, trained_nets
from reconleak_core.cache import cache_root
from reconleak_core.checks import check_seed
from reconleak_core.experiments import EXPERIMENTS, SCALES
from reconleak_core.runtime import get_device, keep_freed_memory


def _experiment_list() -> str:
    """The registry (``experiments.EXPERIMENTS``) as the help's list: one line per experiment, its summary."""
    width = max(map(len, EXPERIMENTS))
    return "experiments:\n" + "\n".join(f"  {name:<{width}}  {e.summary}" for name, e in EXPERIMENTS.items())


def _prog() -> str:
    """The command as the user typed it: ``reconleak`` (the console script) or ``python -m reconleak_core``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m reconleak_core" if name in ("", "__main__.py", "-c") else name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Reproduce the experiments of the reconleak book (No Prior, No Leakage).",
        epilog=_experiment_list(), formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="command")
    commands.required = True
    rep = commands.add_parser("reproduce", help="run one experiment, print its table, write its figure and JSON",
                              description="Run one experiment, print its table, write <name>.png and <name>.json.",
                              epilog=_experiment_list(), formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("experiment", choices=list(EXPERIMENTS), metavar="experiment",
                     help="one of: " + ", ".join(EXPERIMENTS))
    rep.add_argument("--scale", choices=SCALES, default="book",
                     help="test (seconds), book (default, CPU) or paper (sizes of the paper, for a GPU)")
    rep.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto")
    rep.add_argument("--out", type=Path, default=None, help="output folder (default ./reconleak_results/<experiment>)")
    rep.add_argument("--seed", type=int, default=0, help="seed of the data, network and attack (default 0)")
    rep.add_argument("--no-cache", action="store_true", help="recompute without reading or writing the disk cache")
    rep.add_argument("--cache-dir", type=Path, default=None,
                     help="cache folder (default $RECONLEAK_CACHE or ~/.cache/reconleak)")
    bars = rep.add_mutually_exclusive_group()
    bars.add_argument("--progress", action="store_true", default=None,
                      help="show progress bars (the default on a terminal)")
    bars.add_argument("--quiet", action="store_true", help="no progress bars (the default when the output is piped)")
    rep.add_argument("--yes", action="store_true",
                     help="run --scale paper on a CPU without asking (it takes hours there)")
    rep.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                     help="import MODULE first (repeatable): a module that registers experiments of its own "
                          "(experiments.register or @experiments.experiment) makes them runnable here")
    ck = commands.add_parser("checkpoints", help="train an experiment's networks on the CPU and add them to the "
                                                 "committed checkpoint store (trained_nets.CHECKPOINTS)",
                             description="Train the networks of an experiment's preset (its config's networks()) for "
                                         "each seed on the CPU (one thread) with an empty cache and copy them into "
                                         "the checkpoint store, recorded in its MANIFEST.json with this command line.")
    ck.add_argument("experiment", choices=list(EXPERIMENTS), metavar="experiment",
                    help="one of: " + ", ".join(EXPERIMENTS))
    ck.add_argument("--scale", choices=SCALES, default="book", help="default: book")
    ck.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (data draws) to run (default 0)")
    ck.add_argument("--store", type=Path, default=None,
                    help="the store folder (default: the package's trained_nets.CHECKPOINTS)")
    return parser


def _import_plugins(argv) -> None:
    """Import the modules named by ``--import`` before the parser lists the experiments: their
    registrations join :data:`reconleak_core.experiments.EXPERIMENTS`. Raises ``ValueError`` for a module
    that cannot be imported, whatever the reason: not found, a relative name, a syntax error, or any
    exception its own code raises while it is imported (named with its type and message, no traceback), or a
    ``sys.exit()`` it calls."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--import", dest="imports", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    for module in known.imports:
        if not module or module.startswith("."):
            raise ValueError(f"--import {module!r}: give an absolute module name (such as mypackage.experiments), "
                             "not a relative or empty one")
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"--import {module}: cannot import it ({exc})") from None
        except SyntaxError as exc:
            raise ValueError(f"--import {module}: its source has a syntax error ({exc.msg}, {exc.filename} line "
                             f"{exc.lineno})") from None
        except Exception as exc:  # noqa: BLE001 - any error of the user's module, reported in one line
            raise ValueError(f"--import {module}: importing it raised {type(exc).__name__}: {exc}") from None
        except SystemExit as exc:  # a module that calls sys.exit() while it is imported
            raise ValueError(f"--import {module}: importing it called sys.exit({exc.code!r})") from None


def _format(value) -> str:
    if isinstance(value, float) or hasattr(value, "dtype"):
        value = float(value)
        return str(int(value)) if value.is_integer() and abs(value) < 1e6 else f"{value:.3g}"
    return str(value)


def format_table(rows: list[dict]) -> str:
    """A plain-text table of ``rows`` (dicts with the same keys), numbers to 3 significant digits."""
    if not rows:
        return "(no rows)"
    keys = list(rows[0])
    cells = [keys] + [[_format(row[k]) for k in keys] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(keys))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in cells)


def _check_writable_folder(folder: Path, option: str) -> None:
    """Raise ``ValueError`` unless ``folder`` is (or can be created as) a folder this process can write into."""
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                raise ValueError(f"{option} {folder}: {part} exists and is not a folder")
            try:  # a real probe (os.access says yes to root everywhere, even on /proc)
                os.rmdir(tempfile.mkdtemp(dir=part, prefix=".reconleak-probe-"))
            except OSError as exc:
                raise ValueError(f"{option} {folder}: cannot write into {part} ({exc.strerror or exc})") from None
            return
    raise ValueError(f"{option} {folder}: no existing parent folder")


def _confirm_paper_on_cpu(args) -> bool:
    """``--scale paper`` on a CPU: the paper's sizes (tens of thousands of attack steps on networks of width
    1000) take hours there. Asks on a terminal unless ``--yes``; elsewhere (a script, CI) runs after a notice."""
    notice = (f"note: --scale paper runs {args.experiment} at the paper's sizes; on a CPU that takes hours (about "
              "three for init_radius on 2 cores), and minutes on a GPU (--device cuda)")
    print(notice, file=sys.stderr)
    if args.yes or not sys.stdin.isatty():
        return True
    return input("run it on the CPU anyway? [y/N] ").strip().lower() in ("y", "yes")


def _reproduce(args) -> int:
    check_seed(args.seed, "--seed")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was given but no CUDA device is available: use --device auto or --device cpu")
    device = get_device(args.device)
    out = args.out if args.out is not None else Path("reconleak_results") / args.experiment
    _check_writable_folder(out.absolute(), "--out")
    if not args.no_cache:
        _check_writable_folder(cache_root(args.cache_dir).absolute(), "--cache-dir")
    if args.scale == "paper" and device.type == "cpu" and not _confirm_paper_on_cpu(args):
        print("not run: pass --scale book (minutes on a CPU), --device cuda, or --yes", file=sys.stderr)
        return 1
    progress = bool(args.progress) or (not args.quiet and sys.stderr.isatty())
    result = experiments.run(args.experiment, args.scale, seed=args.seed, device=device.type, progress=progress,
                             cache=not args.no_cache, cache_root=args.cache_dir)
    print(f"{args.experiment} (scale {args.scale}, seed {args.seed}, device {device.type})")
    rows = result.rows()
    print(format_table(rows))
    legend = getattr(result, "columns", {})
    width = max(map(len, rows[0])) if rows else 0
    print("\n".join(f"  {key:<{width}}  {legend[key]}" for key in (rows[0] if rows else ()) if key in legend))

    # lazy: the Agg backend must be selected before pyplot is first imported, and only when figures are drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    payload = {**result.to_json(), "scale": args.scale, "seed": args.seed, "device": device.type}
    written = [out / f"{args.experiment}.json"]
    written[0].write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    for suffix, fig in result.figures().items():
        path = out / f"{args.experiment}{suffix}.png"
        save_figure(fig, path)
        plt.close(fig)
        written.append(path)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def save_figure(fig, path) -> None:
    """Write ``fig`` to ``path`` as the book shows it: 100 dpi, cropped to its content (``bbox_inches="tight"``,
    as the notebook's inline backend saves), so a column-wide figure is about 690 px wide with its text at
    the book's size (``tests/test_figures.py`` measures it)."""
    fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.1, facecolor="white")


def _checkpoints(args) -> int:
    for seed in args.seeds:
        check_seed(seed, "--seeds")
    store = args.store if args.store is not None else trained_nets.CHECKPOINTS
    _check_writable_folder(store.absolute(), "--store")
    command = (f"python -m reconleak_core checkpoints {args.experiment} --scale {args.scale} --seeds "
               + " ".join(map(str, args.seeds)))
    torch.set_num_threads(1)   # as the chapters train (runtime.setup): one thread, one order of every sum
    entry = experiments.EXPERIMENTS[args.experiment]
    with tempfile.TemporaryDirectory() as fresh:   # nets already in a store are loaded, not retrained
        for seed in args.seeds:
            config = entry.preset(args.scale, seed)
            if hasattr(config, "networks"):   # the networks alone (a config's networks() lists what it trains)
                for spec in config.networks():
                    trained_nets.trained_network(spec, device="cpu", cache_root=fresh)
            else:                              # a plugin's config: its experiment trains what it needs
                experiments.run(args.experiment, args.scale, seed=seed, device="cpu", cache_root=fresh)
        trained = Path(fresh) / "trained_net"
        names = trained_nets.store_checkpoints(fresh, store=store, command=command) if any(trained.glob("*.pt")) else []
    print(f"{len(names)} network(s) trained and stored in {store}" if names else
          f"every network of these runs was already in a checkpoint store; {store} unchanged")
    return 0


def main(argv=None) -> int:
    """Entry point of ``python -m reconleak_core`` and of the ``reconleak`` console script; returns the exit code."""
    try:
        _import_plugins(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return int(exc.code or 0)
    keep_freed_memory()   # as a chapter's setup cell: the attacks' temporaries are not page-faulted back
    try:
        return _reproduce(args) if args.command == "reproduce" else _checkpoints(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
