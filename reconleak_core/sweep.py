"""Sweeps on Ray: an experiment's attack members, or a random search over attack settings, as Ray tasks.

Optional: ``pip install reconleak_core[sweep]`` installs Ray; this module imports it only when a sweep
runs, and nothing else in the library needs it. The local, in-process path (``experiments.run`` and the
experiment functions with ``executor=None``) stays the default and is what the book uses; this module
depends on :mod:`reconleak_core.experiments`, never the reverse.

Interface.

- :class:`RayExecutor` — an executor of batched attacks (``executor=`` of every experiment,
  ``experiments.run`` and ``pooling.pooled_attack``): called like ``attack.reconstruct_batch``, it splits the
  call's members into chunks of ``members_per_task`` (``attack.member_slice``), runs each chunk as ONE
  ``reconstruct_batch`` call in its own Ray task (its own CPU threads, or its own GPU with ``num_gpus=1``), and
  joins the chunks back into one :class:`~reconleak_core.attack.AttackResult` (``AttackResult.concatenate``).
  Everything else (training, certificate, scoring, the result cache) runs in the calling process, so results
  have the experiment's own result type and are stored under the same cache key as a local run: a local run
  then loads what a sweep computed.
- :func:`run` — ``experiments.run`` (same arguments) with a :class:`RayExecutor`.
- :func:`random_search` — a Haim-style random search over the attack's init scale, learning rate,
  λ_min and gate α (:class:`SearchSpace`) on a trained network (a ``NetSpec``): each trial is one
  ``reconstruct_batch`` over ``restarts`` seeds, run as one Ray task (``executor="ray"``) or in this
  process (``executor="local"``, the default); a :class:`SearchResult`, cached like an experiment.

Guarantee: member k of a sweep computes what member k of the local run computes, on the same device
type and dtype (``attack.reconstruct_batch`` guarantees member independence); ``tests/test_sweep.py``
checks a sweep against the in-process run to 1e-10 in float64.

On a cluster. Start Ray on the machines (``ray start --head`` on one, ``ray start --address=HEAD:6379``
on the others), install the library on each (``pip install reconleak_core[sweep]``, or ship it with
``ray.init(..., runtime_env={"py_modules": [reconleak_core]})``), then, in the driver::

    import ray
    from reconleak_core import sweep
    ray.init(address="auto")          # or "ray://HEAD:10001" from outside the cluster
    result = sweep.run("init_radius", "paper", device="cuda", members_per_task=7, num_gpus=1)

Without ``ray.init`` a sweep starts a local Ray instance on this machine. Seeds, devices and dtypes
travel with the tasks; the driver resolves ``device`` once (``"auto"`` on the driver), and the tasks
use that device type, so the cache key (which records it) tells the truth. With ``num_gpus > 0`` give
``device="cuda"``. Tasks set their torch threads to their ``num_cpus``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from reconleak_core import attack as attack_module
from reconleak_core import experiments, trained_nets
from reconleak_core.attack import AttackConfig, AttackResult, member_count, member_slice
from reconleak_core.cache import cached
from reconleak_core.checks import check_int, check_seed
from reconleak_core.kkt import normalize_margin
from reconleak_core.metrics import nearest_distances
from reconleak_core.runtime import check_memory, get_device, keep_freed_memory

__all__ = ["RayExecutor", "run", "SearchSpace", "SearchResult", "random_search"]

_VERSION = 1  # part of the random search's cache key


def _resources(num_cpus, num_gpus) -> tuple[float, float]:
    for value, name, low in ((num_cpus, "num_cpus", 1), (num_gpus, "num_gpus", 0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
            raise ValueError(f"{name} must be a number ≥ {low}, got {value!r}")
    return float(num_cpus), float(num_gpus)


def _ray():
    """The ``ray`` module, started locally when no instance is connected; a clear error when absent."""
    try:
        import ray  # lazy: Ray is the optional [sweep] dependency, needed only when a sweep runs
    except ImportError:
        raise ImportError("sweeps on Ray need the optional dependency: pip install 'reconleak_core[sweep]' "
                          "(or pip install ray); the local path (reconleak_core.experiments) needs nothing") from None
    if not ray.is_initialized():
        ray.init()
    return ray


def _task(net, n_candidates: int, threads: int, kwargs: dict) -> AttackResult:
    """One Ray task: a batched attack with this task's thread count (and freed memory kept, as in
    ``runtime.setup``)."""
    keep_freed_memory()
    torch.set_num_threads(max(1, threads))
    return attack_module.reconstruct_batch(net, n_candidates, **kwargs)  # looked up at call time (tests patch it)


@dataclass(frozen=True)
class RayExecutor:
    """Runs a batched attack's members as Ray tasks (see the module docstring); pass it as ``executor=``.

    ``members_per_task``: members per task (each task is one ``reconstruct_batch`` of that many members,
    the last one possibly fewer); ``num_cpus`` / ``num_gpus``: Ray resources of each task.
    """

    members_per_task: int = 1
    num_cpus: float = 1
    num_gpus: float = 0

    def __post_init__(self):
        check_int(self.members_per_task, "members_per_task")
        _resources(self.num_cpus, self.num_gpus)

    def task_kwargs(self, kwargs: dict) -> dict:
        """The arguments as a task receives them: the device resolved here, no progress bar, no callback.

        ``kwargs`` are the keyword arguments of ``attack.reconstruct_batch``.
        """
        device = kwargs.get("device", "auto")
        device = get_device(device) if device == "auto" else torch.device(device)   # "cuda": the workers' GPUs
        if self.num_gpus > 0 and device.type != "cuda":
            raise ValueError(f"num_gpus={self.num_gpus:g} reserves GPUs for the tasks, but the attack's device "
                             f"resolved to {device.type!r}: pass device='cuda'")
        if kwargs.get("callback") is not None:
            raise ValueError("a callback cannot run inside Ray tasks; run the attack locally to use one")
        return {**kwargs, "device": device.type, "progress": False}

    def submit(self, calls: list[tuple]) -> list[AttackResult]:
        """Run ``(net, n_candidates, kwargs)`` calls (``kwargs`` from :meth:`task_kwargs`) as Ray tasks at once;
        results in order.

        ``calls`` is the list of those triples.
        """
        ray = _ray()
        remote = ray.remote(_task).options(num_cpus=float(self.num_cpus), num_gpus=float(self.num_gpus))
        threads = max(1, int(self.num_cpus))
        net_refs = {}
        refs = []
        for net, n_candidates, kwargs in calls:
            if id(net) not in net_refs:     # one copy of each network in Ray's object store
                net_refs[id(net)] = ray.put(net)
            refs.append(remote.remote(net_refs[id(net)], n_candidates, threads, kwargs))
        return ray.get(refs)

    def __call__(self, net, n_candidates: int, **kwargs) -> AttackResult:
        """``attack.reconstruct_batch(net, n_candidates, **kwargs)`` split over Ray tasks: the joined result has
        the same shapes, members and order as the single local call."""
        kwargs = self.task_kwargs(kwargs)
        K, size = member_count(kwargs), self.members_per_task
        calls = [(net, n_candidates, member_slice(kwargs, a, min(a + size, K))) for a in range(0, K, size)]
        return AttackResult.concatenate(self.submit(calls))


def run(name: str, scale: str = "book", *, seed: int = 0, members_per_task: int = 1, num_cpus: float = 1,
        num_gpus: float = 0, device="auto", progress: bool = False, cache: bool = True, cache_root=None,
        refresh: bool = False):
    """``experiments.run(name, scale, ...)`` with its attack members as Ray tasks (a :class:`RayExecutor`).

    Returns the experiment's own result type; with ``cache=True`` a stored result (local or swept) is
    loaded without starting Ray, and a computed one is stored under the local run's key.

    ``name``, ``scale`` and ``seed`` as in ``experiments.run``; ``members_per_task`` attack members go to each Ray
    task, which asks for ``num_cpus`` CPUs and ``num_gpus`` GPUs. ``device``: ``"auto"`` (CUDA when available),
    ``"cpu"`` or ``"cuda"``; ``progress``: show progress bars; ``cache``: load the result from the disk cache when
    there, else compute and store it; ``cache_root``: the cache folder (default ``$RECONLEAK_CACHE``, else
    ``~/.cache/reconleak``); ``refresh``: compute even when cached.
    """
    executor = RayExecutor(members_per_task=members_per_task, num_cpus=num_cpus, num_gpus=num_gpus)
    return experiments.run(name, scale, seed=seed, device=device, progress=progress, cache=cache,
                           cache_root=cache_root, refresh=refresh, executor=executor)


# -------------------------------------------------------------------------------------- random search
def _range(value, name: str) -> tuple[float, float]:
    if not (isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                                 and math.isfinite(v) for v in value)
            and 0 < value[0] <= value[1]):
        raise ValueError(f"{name} must be a range (low, high) with 0 < low ≤ high, got {value!r}")
    return float(value[0]), float(value[1])


@dataclass(frozen=True)
class SearchSpace:
    """Ranges of Haim et al.'s random search over the attack's settings (their W&B sweeps), ``(low, high)``.

    ``init_scale``, ``lr`` and ``gate`` (the soft gate's α) are drawn log-uniformly, ``lam_min``
    uniformly. The defaults bracket the settings Haim et al.'s MNIST sweep selected (init scale 0.035,
    lr 0.031, λ_min 0.45, α 150). A range with low = high fixes that setting.
    """

    init_scale: tuple = (1e-3, 1e-1)
    lr: tuple = (1e-3, 1e-1)
    lam_min: tuple = (0.01, 0.5)
    gate: tuple = (10.0, 1000.0)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _range(getattr(self, f.name), f.name))

    def sample(self, trials: int, seed: int) -> dict[str, np.ndarray]:
        """``trials`` draws of every setting from ``numpy.random.default_rng(seed)`` (arrays of length trials).

        ``seed`` seeds the generator.
        """
        rng = np.random.default_rng(seed)
        out = {}
        for name in ("init_scale", "lr", "lam_min", "gate"):
            low, high = getattr(self, name)
            if name == "lam_min":
                out[name] = rng.uniform(low, high, trials)
            else:
                out[name] = np.exp(rng.uniform(math.log(low), math.log(high), trials))
        return out


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Outcome of :func:`random_search`: per trial t its settings ``init_scale``, ``lr``, ``lam_min``, ``gate`` (T,),
    and per restart r: final KKT loss ``kkt`` (T, R), ``nearest`` (mean distance from each training point to
    its nearest candidate, T × R), the ``candidates`` (T, R, m, d) and multipliers ``lam`` (T, R, m).
    ``best`` is the trial with the lowest median KKT loss (the attacker's only evidence).

    ``spec`` is the network's ``NetSpec``, ``space`` the :class:`SearchSpace` searched and ``attack`` the
    ``AttackConfig`` of the settings not searched.
    """

    spec: object
    space: SearchSpace
    attack: AttackConfig
    init_scale: np.ndarray
    lr: np.ndarray
    lam_min: np.ndarray
    gate: np.ndarray
    kkt: np.ndarray
    nearest: np.ndarray
    candidates: np.ndarray
    lam: np.ndarray

    @property
    def best(self) -> int:
        return int(np.argmin(np.median(self.kkt, axis=1)))

    def rows(self) -> list[dict]:
        return [{"init_scale": s, "lr": l, "lam_min": m, "gate": g, "kkt_median": np.median(k),
                 "nearest_median": np.median(n)}
                for s, l, m, g, k, n in zip(self.init_scale, self.lr, self.lam_min, self.gate, self.kkt, self.nearest)]


def random_search(spec, *, trials: int = 8, restarts: int = 2, space: SearchSpace | None = None, seed: int = 0,
                  attack: AttackConfig | None = None, candidates_per_point: int = 2, executor: str = "local",
                  num_cpus: float = 1, num_gpus: float = 0, device="auto", cache: bool = True, cache_root=None,
                  refresh: bool = False) -> SearchResult:
    """Haim et al.'s random search over (init scale, lr, λ_min, α) on the network of ``spec`` (a ``NetSpec``).

    The network is ``trained_nets.trained_network(spec)`` (cached), attacked margin-normalised with
    m = ``candidates_per_point``·n candidates and no prior. Trial t draws its settings from ``space``
    (``SearchSpace.sample(trials, seed)``) and runs ``restarts`` seeds (``seed``, ``seed + 1``, ...) as one
    ``reconstruct_batch``, with the other settings from ``attack``. ``executor``: ``"local"`` (the trials one
    after another in this process) or ``"ray"`` (every trial a Ray task, all submitted at once, resources
    ``num_cpus`` / ``num_gpus`` each). Both give the same :class:`SearchResult` and share its cache entry.

    ``trials`` is the number of trials T. ``device``: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``;
    ``progress``: show progress bars; ``cache``: load the result from the disk cache when there, else compute and
    store it; ``cache_root``: the cache folder (default ``$RECONLEAK_CACHE``, else ``~/.cache/reconleak``);
    ``refresh``: compute even when cached.
    """
    if not isinstance(spec, trained_nets.NetSpec):
        raise TypeError(f"spec must be a trained_nets.NetSpec, got {type(spec).__name__}")
    trials, restarts = check_int(trials, "trials"), check_int(restarts, "restarts")
    candidates_per_point = check_int(candidates_per_point, "candidates_per_point")
    check_memory(8 * 4 * trials * restarts * candidates_per_point * spec.n * (spec.input_dim + 1),
                 f"trials={trials} × restarts={restarts} attacks of {candidates_per_point * spec.n} candidates")
    space = SearchSpace() if space is None else space
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
    attack = AttackConfig() if attack is None else attack
    if not isinstance(attack, AttackConfig):
        raise TypeError(f"attack must be an AttackConfig, got {type(attack).__name__}")
    seed = check_seed(seed)
    if executor not in ("local", "ray"):
        raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
    ray_executor = RayExecutor(1, num_cpus, num_gpus)
    device = get_device(device)

    def compute():
        tn = trained_nets.trained_network(spec, device=device, cache=cache, cache_root=cache_root)
        net = normalize_margin(tn.net, tn.X, tn.y)
        m = candidates_per_point * spec.n
        drawn = space.sample(trials, seed)
        seeds = [seed + r for r in range(restarts)]
        calls = []
        for t in range(trials):
            config = dataclasses.replace(attack, lam_min=float(drawn["lam_min"][t]), gate=float(drawn["gate"][t]))
            calls.append((net, m, {"config": config, "seeds": seeds, "init_scale": float(drawn["init_scale"][t]),
                                   "lr": float(drawn["lr"][t]), "device": device.type}))
        if executor == "ray":
            results = ray_executor.submit([(n, mm, ray_executor.task_kwargs(kw)) for n, mm, kw in calls])
        else:
            results = [attack_module.reconstruct_batch(n, mm, **kw) for n, mm, kw in calls]
        nearest = [[nearest_distances(tn.X, c.to(tn.X.dtype)).train_to_rec.mean().item() for c in r.candidates]
                   for r in results]
        return {**{k: torch.as_tensor(v) for k, v in drawn.items()},
                "kkt": torch.stack([r.kkt.double() for r in results]),
                "nearest": torch.tensor(nearest, dtype=torch.float64),
                "candidates": torch.stack([r.candidates for r in results]),
                "lam": torch.stack([r.lam for r in results])}

    if cache:
        key = {"search": "random_search", "spec": spec, "space": space, "trials": trials, "restarts": restarts,
               "seed": seed, "attack": attack, "candidates_per_point": candidates_per_point,
               "device": device.type, "version": _VERSION}
        value = cached(key, compute, root=cache_root, name="random_search", refresh=refresh)
    else:
        value = compute()
    return SearchResult(spec, space, attack, **{k: v.numpy() for k, v in value.items()})
