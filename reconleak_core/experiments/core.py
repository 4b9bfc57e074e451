"""The experiments' core: the ``experiment`` declaration, the registry, :class:`Run`, the result base, the cache
key, and the recipes and scores several experiments share.

Interface (re-exported by :mod:`reconleak_core.experiments`).

- :func:`experiment` declares an experiment from ``compute(config, run) -> dict`` and registers it;
  :func:`register` adds an :class:`Experiment` by hand; :data:`EXPERIMENTS` is the registry (name → entry, in
  the order of registration); :func:`run` runs one by name.
- :class:`Run` is the one path from an experiment to its networks and attacks: ``run.network(spec)``,
  ``run.attack(...)`` (ONE batched attack on the margin-normalised network, through the run's ``executor``:
  this process by default, or e.g. ``sweep.RayExecutor``) and ``run.pooled_attack(...)``.
- :class:`Result` is the base of every result type: ``rows()``, ``plot()``, ``figures()``, ``to_json()``.
- Shared recipes: :func:`check_scale`, :func:`digits_spec`, :func:`pixel_prior`, :func:`check_box`,
  :func:`check_common`, :func:`init_scale_of`, :func:`attack_seeds`; shared scores: :func:`distances`,
  :func:`result_tensor`.

Guarantees: a result is a pure function of its configuration, the device type and the code version
(:data:`VERSION`, :data:`reconleak_core.trained_nets.NETWORK_VERSION`), which together key its disk cache; the
executor changes where the members of an attack run, never what they compute, so it is not part of the key.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from reconleak_core.attack import AttackConfig, reconstruct_trained
from reconleak_core.cache import cached
from reconleak_core.checks import check_bool, check_int, check_reals, check_seed
from reconleak_core.data import pixel_box
from reconleak_core.metrics import matching, nearest_distances
from reconleak_core.pooling import pool_scores, pooled_attack
from reconleak_core.runtime import get_device
from reconleak_core.train import TrainConfig
from reconleak_core.trained_nets import NETWORK_VERSION, NetSpec, TrainedNet, trained_network

__all__ = ["SCALES", "VERSION", "Experiment", "Result", "Run", "experiment", "register", "EXPERIMENTS", "run",
           "check_scale", "check_common", "check_box", "digits_spec", "pixel_prior", "init_scale_of",
           "attack_seeds", "distances", "result_tensor"]

SCALES = ("test", "book", "paper")
"""The presets' scales, ``"test"`` (seconds, for the test suite), ``"book"`` (the chapters) and ``"paper"``."""
VERSION = 7
"""The experiments' code version, part of every result's cache key (bumped when a computation changes)."""


def check_scale(scale: str) -> str:
    """``scale`` if it is one of :data:`SCALES`, else ``ValueError``."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    return scale


# ------------------------------------------------------------------------------------------ registry
def _jsonable(value):
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class Result:
    """What every experiment returns: a frozen dataclass of tensors (float64, CPU) and numbers with its
    ``config``, a class attribute ``name`` (the experiment's), ``_json_fields`` (the headline numbers),
    and three methods: :meth:`rows` (the table the command line prints), :meth:`plot` (the headline
    figure) and :meth:`to_json`; ``columns`` says what each column of ``rows()`` means. :meth:`figures` lists
    the figures the command line writes (by default the headline one alone); a result type defines ``rows`` and
    ``plot`` (its experiment's module holds the figure beside the computation)."""

    name = ""
    _json_fields: tuple = ()
    columns: dict = {}
    """``{column of rows(): its meaning}``, printed under the command line's table."""

    def to_json(self) -> dict:
        """The configuration and the headline numbers as plain JSON values (no big arrays)."""
        out = {"experiment": self.name, "config": _jsonable(self.config)}
        out.update({k: _jsonable(getattr(self, k)) for k in self._json_fields})
        return out

    def rows(self) -> list[dict]:
        """The table of the command line: one dict per row, the same keys in every row."""
        raise NotImplementedError(f"{type(self).__name__} must define rows()")

    def plot(self, **options):
        """The headline figure (a matplotlib ``Figure``)."""
        raise NotImplementedError(f"{type(self).__name__} must define plot()")

    def figures(self) -> dict:
        """``{suffix: Figure}``: the figures the command line writes as ``<experiment><suffix>.png``."""
        return {"": self.plot()}


@dataclass(frozen=True)
class Run:
    """How an experiment computes: the device, progress bars, the disk cache and the attack's ``executor``
    (``None``: :func:`reconleak_core.attack.reconstruct_batch` in this process; or any callable with its
    signature, e.g. ``sweep.RayExecutor``). Every network and every attack of an experiment goes through it,
    so that an experiment's body names none of these.

    ``device`` is resolved by ``runtime.get_device`` (``"auto"``: CUDA when available); ``progress`` shows progress
    bars; ``cache`` loads and stores trained networks on disk, under ``cache_root`` (default ``$RECONLEAK_CACHE``,
    else ``~/.cache/reconleak``).
    """

    device: object = "auto"
    progress: bool = False
    cache: bool = True
    cache_root: object = None
    executor: Callable | None = None

    def __post_init__(self):
        get_device(self.device)
        check_bool(self.progress, "progress")
        check_bool(self.cache, "cache")
        if self.cache_root is not None and not isinstance(self.cache_root, (str, os.PathLike)):
            raise TypeError(f"cache_root must be None or a folder path, got {type(self.cache_root).__name__}")
        if self.executor is not None and not callable(self.executor):
            raise TypeError(f"executor must be None or a callable, got {type(self.executor).__name__}")

    def network(self, spec: NetSpec) -> TrainedNet:
        """:func:`reconleak_core.trained_nets.trained_network` of ``spec`` (cached unless ``cache`` is off)."""
        return trained_network(spec, device=self.device, progress=self.progress, cache=self.cache,
                               cache_root=self.cache_root)

    def attack(self, net, X, y, n_candidates: int, config: AttackConfig, **members):
        """ONE batched attack on the margin-normalised network θ / q_min^{1/L} (``attack.reconstruct_trained``)
        through the run's executor; ``members``: the per-member settings of ``attack.reconstruct_batch``.

        ``net`` is the trained network, ``X`` (n, d) and ``y`` (n,) its training set (to normalise the margin);
        ``n_candidates`` the number of candidates per member; ``config`` the ``AttackConfig`` of every member.
        """
        return reconstruct_trained(net, X, y, n_candidates, executor=self.executor, config=config,
                                   device=self.device, progress=self.progress, **members)

    def pooled_attack(self, net, X, y, **options):
        """``pooling.pooled_attack`` on this run's device, with its progress setting and executor.

        ``net`` is the trained network and ``X``, ``y`` its training set; ``options`` are those of
        ``pooling.pooled_attack``.
        """
        return pooled_attack(net, X, y, device=self.device, progress=self.progress, executor=self.executor,
                             **options)


@dataclass(frozen=True)
class Experiment:
    """One registered experiment (:func:`register`): its ``name`` (the command line's), the experiment
    ``function`` (``function(config=None, *, scale, device, progress, cache, cache_root, refresh, executor)``),
    its ``preset(scale, seed)`` → configuration, a one-line ``summary`` (the command line's help) and its
    ``result`` type (a :class:`Result`). Calling it runs the preset: ``EXPERIMENTS["init_radius"]("test")``.

    ``preset`` is that function ``preset(scale, seed)``.
    """

    name: str
    function: object
    preset: object
    summary: str
    result: type

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"an experiment's name must be an identifier (the command line's argument), "
                             f"got {self.name!r}")
        for field in ("function", "preset"):
            if not callable(getattr(self, field)):
                raise TypeError(f"experiment {self.name!r}: {field} must be callable")
        if not isinstance(self.summary, str) or not self.summary.strip() or "\n" in self.summary:
            raise ValueError(f"experiment {self.name!r}: summary must be one non-empty line")
        if not (isinstance(self.result, type) and issubclass(self.result, Result)):
            raise TypeError(f"experiment {self.name!r}: result must be a subclass of experiments.Result")
        missing = [m for m in ("rows", "plot") if getattr(self.result, m) is getattr(Result, m)]
        if missing:
            raise TypeError(f"experiment {self.name!r}: {self.result.__name__} must define "
                            f"{' and '.join(missing)}()")

    def __call__(self, scale: str = "book", *, seed: int = 0, device="auto", progress: bool = False,
                 cache: bool = True, cache_root=None, refresh: bool = False, executor: Callable | None = None):
        """Run the preset of ``scale`` with ``seed``."""
        return self.function(self.preset(check_scale(scale), check_seed(seed)), device=device, progress=progress,
                             cache=cache, cache_root=cache_root, refresh=refresh, executor=executor)


EXPERIMENTS: dict = {}
"""name → :class:`Experiment`: every registered experiment, in the order of registration."""


def register(entry: Experiment, *, replace: bool = False) -> Experiment:
    """Add ``entry`` to :data:`EXPERIMENTS` (the command line, its help and :func:`run` read it). Raises
    ``ValueError`` if the name is taken, unless ``replace``."""
    if not isinstance(entry, Experiment):
        raise TypeError(f"register takes an Experiment, got {type(entry).__name__}")
    if entry.name in EXPERIMENTS and not check_bool(replace, "replace"):
        raise ValueError(f"an experiment named {entry.name!r} is already registered (replace=True replaces it)")
    EXPERIMENTS[entry.name] = entry
    return entry


# The parameters every experiment function shares (appended to its docstring by :func:`experiment`).
_RUN_PARAMETERS = """

Returns a :class:`~{module}.{result}` (from the disk cache when it holds one).

Parameters
----------
config:
    A :class:`~{module}.{config}`; ``None`` (default) takes its preset for ``scale``.
scale:
    ``"test"``, ``"book"`` (default) or ``"paper"``: the preset used when ``config`` is ``None``.
device:
    ``"auto"`` (default: CUDA when available, else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:k"``.
progress:
    Show progress bars while networks train and attacks run.
cache:
    Load the result from the disk cache when it is there, else compute it and store it (keyed by the
    configuration, the device type and the code version); ``False`` always computes and stores nothing.
cache_root:
    The cache folder (default: ``$RECONLEAK_CACHE``, else ``~/.cache/reconleak``).
refresh:
    Compute even when the cache holds the result, and overwrite it.
executor:
    Runs the attacks: ``None`` (default) in this process, or any callable with the signature of
    :func:`reconleak_core.attack.reconstruct_batch` (e.g. ``sweep.RayExecutor``).
"""


def experiment(name: str, *, config: type, result: type, summary: str, variants: dict | None = None):
    """Declare an experiment: decorates ``compute(config, run) -> dict`` (the result's fields, without
    ``config``; ``run`` a :class:`Run`) and returns the public experiment function
    ``f(config=None, *, scale="book", device="auto", progress=False, cache=True, cache_root=None,
    refresh=False, executor=None) -> result``, registered under ``name`` with ``config.preset`` as its preset.
    The opening and closing every experiment shares are here: ``config=None`` takes the preset of ``scale``, a
    config of another type is refused, and the result is cached on disk keyed by the config, the device type
    and the code version (``cache.cached``). ``variants``: further registry entries ``{name: (summary,
    preset_options)}`` running this function on ``config.preset(scale, seed=seed, **preset_options)``.

    ``name`` is the registry's key (the command line's experiment name); ``config`` and ``result`` are the
    configuration and result classes; ``summary`` is the one-line description of the command line's help.
    """
    if not (isinstance(config, type) and callable(getattr(config, "preset", None))):
        raise TypeError(f"experiment {name!r}: config must be a configuration class with a preset(scale, seed), "
                        f"got {config!r}")
    if not isinstance(summary, str) or not summary.strip() or "\n" in summary:
        raise ValueError(f"experiment {name!r}: summary must be one non-empty line")

    def declare(compute):
        def run_experiment(config_=None, *, scale: str = "book", device="auto", progress: bool = False,
                           cache: bool = True, cache_root=None, refresh: bool = False,
                           executor: Callable | None = None):
            value = config.preset(check_scale(scale)) if config_ is None else config_
            if not isinstance(value, config):
                raise TypeError(f"config must be a {config.__name__}, got {type(value).__name__}")
            if executor is not None and not callable(executor):
                raise TypeError(f"executor must be callable like attack.reconstruct_batch, got "
                                f"{type(executor).__name__}")
            run = Run(device=device, progress=check_bool(progress, "progress"), cache=check_bool(cache, "cache"),
                      cache_root=cache_root, executor=executor)

            def fields():  # the result's fields: tensors detached, on the CPU
                return {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v)
                        for k, v in compute(value, run).items()}

            if not cache:
                return result(config=value, **fields())
            key = {"experiment": name, "config": value, "device": get_device(device).type, "version": VERSION,
                   "networks": NETWORK_VERSION}
            return result(config=value, **cached(key, fields, root=cache_root, name=name, refresh=refresh))

        run_experiment.__name__ = run_experiment.__qualname__ = compute.__name__
        run_experiment.__doc__ = inspect.cleandoc(compute.__doc__ or "") + _RUN_PARAMETERS.format(
            config=config.__name__, module=result.__module__, result=result.__name__)
        run_experiment.__module__ = compute.__module__
        parameters = list(inspect.signature(run_experiment).parameters.values())
        parameters[0] = parameters[0].replace(name="config", annotation=f"{config.__name__} | None")
        run_experiment.__signature__ = inspect.Signature(parameters, return_annotation=result.__name__)
        register(Experiment(name, run_experiment, lambda scale, seed: config.preset(scale, seed=seed), summary,
                            result))
        for variant, (variant_summary, options) in (variants or {}).items():
            register(Experiment(variant, run_experiment,
                                lambda scale, seed, options=options: config.preset(scale, seed=seed, **options),
                                variant_summary, result))
        return run_experiment

    return declare


def run(name: str, scale: str = "book", *, seed: int = 0, device="auto", progress: bool = False, cache: bool = True,
        cache_root=None, refresh: bool = False, executor: Callable | None = None):
    """Run the experiment ``name`` (a key of :data:`EXPERIMENTS`) at ``scale`` with seed ``seed``; ``executor``
    runs its attacks (``None``: this process; ``sweep.RayExecutor(...)``: Ray tasks).

    ``device``: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``; ``progress``: show progress bars;
    ``cache``: load the result from the disk cache when there, else compute and store it; ``cache_root``: the cache
    folder (default ``$RECONLEAK_CACHE``, else ``~/.cache/reconleak``); ``refresh``: compute even when cached.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name](scale, seed=seed, device=device, progress=progress, cache=cache,
                             cache_root=cache_root, refresh=refresh, executor=executor)


# ------------------------------------------------------------------------------ shared recipes & scores
def distances(X: torch.Tensor, candidates: torch.Tensor) -> tuple[float, float, float]:
    """(mean over training points of the distance to the nearest candidate, mean Hungarian matched distance,
    mean over training points of the direction-only distance 1 − cos∠ to the best-aligned candidate).

    ``X`` (n, d) is the training set and ``candidates`` (m, d) the reconstructions.
    """
    candidates = candidates.to(X.dtype)
    direction = pool_scores(X, candidates, metric="cosine", threshold=0.0).score.mean().item()
    return (nearest_distances(X, candidates).train_to_rec.mean().item(), matching(X, candidates).mean, direction)


def result_tensor(values) -> torch.Tensor:
    """Numbers, tensors, or (nested) lists of them as one CPU tensor (a result field): floating values in
    float64; counts stay integers and flags booleans.

    ``values`` is what to convert.
    """
    if isinstance(values, (list, tuple)) and values and isinstance(values[0], torch.Tensor):
        return torch.stack([result_tensor(v) for v in values])
    values = values.detach().cpu() if isinstance(values, torch.Tensor) else torch.tensor(values)
    return values.to(torch.float64) if values.is_floating_point() else values


def attack_seeds(seed: int, count: int) -> list[int]:
    """The seeds of ``count`` attack members: ``seed``, ``seed + 1``, ..."""
    return [seed + s for s in range(count)]


def init_scale_of(arch: str) -> float:
    """The presets' initialisation scale: small (0.1, the rich regime) for two layers; 0.5 for three layers,
    whose output scales like init³ and would otherwise start too close to the saddle at 0 to train in seconds
    (the measurement behind 0.5: ``benchmarks/RESULTS.md``, hand notes).

    ``arch``: ``"two_layer"`` or ``"mlp3"``.
    """
    return 0.1 if arch == "two_layer" else 0.5


def check_common(config) -> None:
    """The checks of the fields most configurations share: ``net``, ``attack``, ``seeds``,
    ``candidates_per_point`` and ``seed``.

    ``config`` is the configuration to check (any of the experiments' config classes).
    """
    if not isinstance(config.net, NetSpec):
        raise TypeError(f"net must be a NetSpec, got {type(config.net).__name__}")
    if not isinstance(config.attack, AttackConfig):
        raise TypeError(f"attack must be an AttackConfig, got {type(config.attack).__name__}")
    check_int(config.seeds, "seeds")
    check_int(config.candidates_per_point, "candidates_per_point")
    check_seed(config.seed)


def digits_spec(scale: str, arch: str, seed: int) -> NetSpec:
    """Centred digits (``data.digits``), n = 20 at book scale, width 1000, 10,000 steps of the default recipe:
    the network of Haim et al.'s kind that leaks (chapter "Reconstruction attacks"). The 3-layer variant keeps
    the narrower, shorter recipe its generic KKT loss can afford (width 50, 3000 steps at lr 0.02).

    ``scale``: ``"test"``, ``"book"`` or ``"paper"``; ``arch``: ``"two_layer"`` or ``"mlp3"``; ``seed`` draws the
    digits and the network's initialisation.
    """
    n, width, steps = {"test": (8, 100, 600), "book": (20, 1000, 10_000), "paper": (200, 1000, 100_000)}[scale]
    train = TrainConfig(steps=steps)
    if arch != "two_layer":
        width = {"test": 20, "book": 50, "paper": width}[scale]
        train = TrainConfig(steps=3000 if scale == "book" else steps, lr=0.02)
    return NetSpec(dataset="digits", n=n, d=None, subspace_dim=None, width=width, train=train, arch=arch,
                   init_scale=init_scale_of(arch), seed=seed)


def pixel_prior(box, mean: torch.Tensor, enforce: str = "penalty"):
    """The pixel box ``box`` = (lo, hi) in model coordinates (``data.pixel_box``: the training mean subtracted).

    ``mean`` is the training mean of the data set (``TrainedNet.mean``); ``enforce`` as in ``attack.Box``.
    """
    return pixel_box(box[0], box[1], mean, enforce=enforce)


def check_box(box, name: str = "box") -> tuple:
    """``box`` as a pair of floats (lo, hi) with lo < hi, else ``ValueError``.

    ``name`` names the box in error messages.
    """
    box = check_reals(box, name)
    if len(box) != 2 or box[0] >= box[1]:
        raise ValueError(f"{name} must be (lo, hi) with lo < hi, got {box!r}")
    return box
