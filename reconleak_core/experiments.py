"""The paper's experiments (and some beyond it) as pure functions of small frozen configurations, and the
registry that the command line, its help and the figures are read from.

Interface.

Every experiment is ``experiment(config=None, *, scale="book", device="auto", progress=False,
cache=True, cache_root=None, refresh=False)`` and returns a frozen :class:`Result` dataclass of tensors
(float64, CPU; what a chapter plots) with ``rows()`` (the table the command line prints), ``plot()`` (its
headline figure) and ``to_json()`` (the numbers). ``config=None`` takes the preset of ``scale``:

- ``"test"``  a few seconds, for the test suite (same code path);
- ``"book"``  the default: seconds on a laptop CPU, what the chapters show;
- ``"paper"`` the paper's sizes, meant for a GPU (``device="cuda"``).

=====================  =========================  ====================================================
name                   function                   question
=====================  =========================  ====================================================
``digit_leak``         :func:`digit_leak`         the leak with the right prior: pooled attacks on centred digits
``init_radius``        :func:`init_radius`        attack initialised on spheres of several radii (Fig. 2a)
``secret_shift``       :func:`secret_shift`       images shifted by an offset the attacker ignores (Fig. 2b)
``shift_guess``        :func:`shift_guess`        Fig. 2b over the grid of secret offsets × the attacker's guesses
``training_length``    :func:`training_length`    certificate ε, split distance and leakage along training
``training_leak``      :func:`training_leak`      pooled attacks with the right prior along one training run
``infer_shift``        :func:`infer_shift`        can the attacker estimate the secret shift? (open question)
``deep_init_radius``   :func:`init_radius`        Fig. 2a on a 3-layer network (generic KKT loss)
``deep_secret_shift``  :func:`secret_shift`       Fig. 2b on a 3-layer network
``bias_shift``         :func:`bias_shift`         does the secret shift survive a first-layer bias? (beyond)
=====================  =========================  ====================================================

Adding an experiment (from outside the package too) is one declaration; :data:`EXPERIMENTS` then holds
it, :func:`run` and ``python -m reconleak_core reproduce <name>`` (with ``--import <module>`` for a module
outside the package) run it, and the command line's help lists its summary::

    @dataclass(frozen=True)
    class MarginConfig:                        # a frozen configuration with a preset(scale, *, seed)
        net: NetSpec = NetSpec(n=6, d=4, subspace_dim=2, width=20)

        @classmethod
        def preset(cls, scale="book", *, seed=0):
            return cls(dataclasses.replace(cls.net, seed=seed))

    @dataclass(frozen=True, eq=False)
    class MarginResult(Result):                # tensors and numbers; rows() and plot()
        config: MarginConfig
        margins: torch.Tensor
        name = "margins"
        _json_fields = ("margins",)            # the numbers the command line writes to margins.json

        def rows(self):
            return [{"point": i, "margin": m} for i, m in enumerate(self.margins)]

        def plot(self):
            fig, ax = plt.subplots()
            ax.plot(self.margins)
            return fig

    @experiment("margins", config=MarginConfig, result=MarginResult, summary="normalised margins")
    def margins(config, run):                  # run: a Run (run.network, run.attack, run.pooled_attack)
        tn = run.network(config.net)
        return {"margins": kkt.margins(kkt.normalize_margin(tn.net, tn.X, tn.y), tn.X, tn.y)}

The declaration writes the shared opening (the preset for ``config=None``, the type check) and closing
(the disk cache, keyed by the configuration, the device type and the code version) once. The trained
networks come from :mod:`reconleak_core.trained_nets` (``run.network(spec)``), so experiments that share a
network train it once. Every attack sweep is ONE batched call of ``attack.reconstruct_batch`` on the
margin-normalised network (``run.attack``, one call per network). Seeds come from the configurations,
never global state. Introduced in the book's chapters "The KKT reconstruction attack", "Approximate KKT
points", "The initialisation radius", "Shifted images" and "Open questions"; what the presets measure is
recorded in ``benchmarks/RESULTS.md`` and in the chapters.

Data and training. Digits are centred by their training mean (``data.digits``; Haim et al.'s
``data_reduce_mean``), the secret shift is added after centring, priors are pixel boxes moved into model
coordinates (``data.pixel_box``), and scores are computed in pixel coordinates. Every network trains with
``train.TrainConfig``'s recipe (:meth:`~reconleak_core.trained_nets.NetSpec.shifted` divides its step by
(1 + ∣s∣)² for shifted data). The ``paper`` presets are the paper's sizes, for a GPU.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass

import numpy as np
import torch

from reconleak_core.attack import AttackConfig, Shift, Sphere
from reconleak_core.checks import check_bool, check_reals, check_seed, set_frozen
from reconleak_core.checks import check_int as _int
from reconleak_core.checks import check_positive as _positive
from reconleak_core.train import TrainConfig
from reconleak_core.trained_nets import NETWORK_VERSION, NetSpec, TrainedNet, trained_network

__all__ = ["SCALES", "Experiment", "Result", "Run", "experiment", "register", "EXPERIMENTS", "run",
           "DigitLeakConfig", "DigitLeakResult", "digit_leak",
           "InitRadiusConfig", "InitRadiusResult", "init_radius",
           "SecretShiftConfig", "SecretShiftResult", "secret_shift",
           "ShiftGuessConfig", "ShiftGuessResult", "shift_guess",
           "TrainingLengthConfig", "TrainingLengthResult", "training_length",
           "TrainingLeakConfig", "TrainingLeakResult", "training_leak",
           "InferShiftConfig", "InferShiftResult", "infer_shift",
           "BiasShiftConfig", "BiasShiftResult", "bias_shift", "kkt_residual", "ones_in_row_space"]

SCALES = ("test", "book", "paper")
_VERSION = 6  # bump when a computation changes: it is part of every result's cache key
_floats = check_reals


def _paper_attack(steps: int) -> AttackConfig:
    """The attack of a ``"paper"`` preset: the book's settings, ``steps`` steps, each compiled (the runs are
    long enough for ``torch.compile`` to pay off; ``AttackConfig.compile``)."""
    return AttackConfig(steps=steps, compile=True)


def _scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    return scale


# ------------------------------------------------------------------------------------------ registry
def _jsonable(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, np.ndarray):
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
    figure) and :meth:`to_json`. :meth:`figures` lists the figures the command line writes (by default
    the headline one alone); a result type overrides ``rows`` and ``plot``."""

    name = ""
    _json_fields: tuple = ()
    _plot = ""

    def to_json(self) -> dict:
        """The configuration and the headline numbers as plain JSON values (no big arrays)."""
        out = {"experiment": self.name, "config": _jsonable(self.config)}
        out.update({k: _jsonable(getattr(self, k)) for k in self._json_fields})
        return out

    def rows(self) -> list[dict]:
        """The table of the command line: one dict per row, the same keys in every row."""
        raise NotImplementedError(f"{type(self).__name__} must define rows()")

    def plot(self, **options):
        """The headline figure (a matplotlib ``Figure``): the function of :mod:`reconleak_core.viz` named by
        the class attribute ``_plot`` (the book's results; ``options`` go to it, e.g. ``figsize``), or a result
        type's own ``plot()``."""
        if not self._plot:
            raise NotImplementedError(f"{type(self).__name__} must define plot()")
        from reconleak_core import viz

        return getattr(viz, self._plot)(self, **options)

    def figures(self) -> dict:
        """``{suffix: Figure}``: the figures the command line writes as ``<experiment><suffix>.png``."""
        return {"": self.plot()}


@dataclass(frozen=True)
class Run:
    """How an experiment computes: the device, progress bars and the disk cache. Every network and every
    attack of an experiment goes through it, so that an experiment's body names none of these."""

    device: object = "auto"
    progress: bool = False
    cache: bool = True
    cache_root: object = None

    def network(self, spec: NetSpec) -> TrainedNet:
        """:func:`reconleak_core.trained_nets.trained_network` of ``spec`` (cached unless ``cache`` is off)."""
        return trained_network(spec, device=self.device, progress=self.progress, cache=self.cache,
                               cache_root=self.cache_root)

    def attack(self, net, X, y, n_candidates: int, config: AttackConfig, **members):
        """ONE batched attack (``attack.reconstruct_batch``) on the margin-normalised network θ / q_min^{1/L},
        through ``sweep.batched_attack``: in this process, or split over Ray tasks inside ``sweep.on_ray()``."""
        from reconleak_core.kkt import normalize_margin
        from reconleak_core.sweep import batched_attack

        return batched_attack(normalize_margin(net, X, y), n_candidates, config=config, device=self.device,
                              progress=self.progress, **members)

    def pooled_attack(self, net, X, y, **options):
        """``pooling.pooled_attack`` on this run's device, with its progress setting."""
        from reconleak_core.pooling import pooled_attack

        return pooled_attack(net, X, y, device=self.device, progress=self.progress, **options)


@dataclass(frozen=True)
class Experiment:
    """One registered experiment (:func:`register`): its ``name`` (the command line's), the experiment
    ``function`` (``function(config=None, *, scale, device, progress, cache, cache_root, refresh)``), its
    ``preset(scale, seed)`` → configuration, a one-line ``summary`` (the command line's help) and its
    ``result`` type (a :class:`Result`). Calling it runs the preset: ``EXPERIMENTS["init_radius"]("test")``."""

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
        missing = [m for m in ("rows", "plot") if getattr(self.result, m) is getattr(Result, m)
                   and not (m == "plot" and self.result._plot)]
        if missing:
            raise TypeError(f"experiment {self.name!r}: {self.result.__name__} must define {' and '.join(missing)}()")

    def __call__(self, scale: str = "book", *, seed: int = 0, device="auto", progress: bool = False,
                 cache: bool = True, cache_root=None, refresh: bool = False):
        """Run the preset of ``scale`` with ``seed``."""
        return self.function(self.preset(_scale(scale), check_seed(seed)), device=device, progress=progress,
                             cache=cache, cache_root=cache_root, refresh=refresh)


EXPERIMENTS: dict = {}
"""name → :class:`Experiment`: every registered experiment, in the order of registration."""


def register(entry: Experiment, *, replace: bool = False) -> Experiment:
    """Add ``entry`` to :data:`EXPERIMENTS` (the command line, its help and :func:`run` read it). Raises
    ``ValueError`` if the name is taken, unless ``replace``."""
    if not isinstance(entry, Experiment):
        raise TypeError(f"register takes an Experiment, got {type(entry).__name__}")
    if entry.name in EXPERIMENTS and not replace:
        raise ValueError(f"an experiment named {entry.name!r} is already registered (replace=True replaces it)")
    EXPERIMENTS[entry.name] = entry
    return entry


def experiment(name: str, *, config: type, result: type, summary: str, variants: dict | None = None):
    """Declare an experiment: decorates ``compute(config, run) -> dict`` (the result's fields, without
    ``config``; ``run`` a :class:`Run`) and returns the public experiment function
    ``f(config=None, *, scale="book", device="auto", progress=False, cache=True, cache_root=None,
    refresh=False) -> result``, registered under ``name`` with ``config.preset`` as its preset. The opening
    and closing every experiment shares are here: ``config=None`` takes the preset of ``scale``, a config of
    another type is refused, and the result is cached on disk keyed by the config, the device type and the
    code version (``cache.cached``). ``variants``: further registry entries ``{name: (summary,
    preset_options)}`` running this function on ``config.preset(scale, seed=seed, **preset_options)``."""
    def declare(compute):
        def run_experiment(config_=None, *, scale: str = "book", device="auto", progress: bool = False,
                           cache: bool = True, cache_root=None, refresh: bool = False):
            from reconleak_core.cache import cached
            from reconleak_core.runtime import get_device

            value = config.preset(_scale(scale)) if config_ is None else config_
            if not isinstance(value, config):
                raise TypeError(f"config must be a {config.__name__}, got {type(value).__name__}")
            run = Run(device=device, progress=check_bool(progress, "progress"), cache=check_bool(cache, "cache"),
                      cache_root=cache_root)
            def fields():  # the result's fields: tensors detached, on the CPU
                return {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v)
                        for k, v in compute(value, run).items()}

            if not cache:
                return result(config=value, **fields())
            key = {"experiment": name, "config": value, "device": get_device(device).type, "version": _VERSION,
                   "networks": NETWORK_VERSION}
            return result(config=value, **cached(key, fields, root=cache_root, name=name, refresh=refresh))

        run_experiment.__name__ = run_experiment.__qualname__ = compute.__name__
        run_experiment.__doc__, run_experiment.__module__ = compute.__doc__, compute.__module__
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
        cache_root=None, refresh: bool = False):
    """Run the experiment ``name`` (a key of :data:`EXPERIMENTS`) at ``scale`` with seed ``seed``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name](scale, seed=seed, device=device, progress=progress, cache=cache,
                             cache_root=cache_root, refresh=refresh)


# ------------------------------------------------------------------------------ shared attack & scoring
def _distances(X: torch.Tensor, candidates: torch.Tensor) -> tuple[float, float, float]:
    """(mean over training points of the distance to the nearest candidate, mean Hungarian matched distance,
    mean over training points of the direction-only distance 1 − cos∠ to the best-aligned candidate)."""
    from reconleak_core.metrics import matching, nearest_distances
    from reconleak_core.pooling import pool_scores

    candidates = candidates.to(X.dtype)
    direction = pool_scores(X, candidates, metric="cosine", threshold=0.0).score.mean().item()
    return (nearest_distances(X, candidates).train_to_rec.mean().item(), matching(X, candidates).mean, direction)


def _certificate(net, X, y):
    from reconleak_core.certificate import certificate

    return certificate(net, X, y)


def _tensor(values) -> torch.Tensor:
    """Numbers, tensors, or (nested) lists of them as one CPU tensor (a result field): floating values in
    float64; counts stay integers and flags booleans."""
    if isinstance(values, (list, tuple)) and values and isinstance(values[0], torch.Tensor):
        return torch.stack([_tensor(v) for v in values])
    values = values.detach().cpu() if isinstance(values, torch.Tensor) else torch.tensor(values)
    return values.to(torch.float64) if values.is_floating_point() else values


def _attack_seeds(seed: int, count: int) -> list[int]:
    return [seed + s for s in range(count)]


def _init_scale(arch: str) -> float:
    """The presets' initialisation scale: small (0.1, the rich regime) for two layers; 0.5 for three layers,
    whose output scales like init³ and would otherwise start too close to the saddle at 0 to train in seconds
    (the measurement behind 0.5: ``benchmarks/RESULTS.md``, hand notes)."""
    return 0.1 if arch == "two_layer" else 0.5


def _check_common(config) -> None:
    if not isinstance(config.net, NetSpec):
        raise TypeError(f"net must be a NetSpec, got {type(config.net).__name__}")
    if not isinstance(config.attack, AttackConfig):
        raise TypeError(f"attack must be an AttackConfig, got {type(config.attack).__name__}")
    _int(config.seeds, "seeds")
    _int(config.candidates_per_point, "candidates_per_point")
    check_seed(config.seed)


# ---------------------------------------------------------------------------------- 1. init radius
@dataclass(frozen=True)
class InitRadiusConfig:
    """Fig. 2a: the attack initialised on spheres of several ``radii`` (× ``seeds``), one batched call.

    ``net`` is trained on the unit sphere of a subspace; the attack has no prior, m = ``candidates_per_point``·n
    candidates, settings ``attack``; member seeds are ``seed``, ``seed + 1``, ... and are shared across radii,
    so the radii differ only by the radius (same random directions). Presets: :meth:`preset`.
    ``prior="sphere"``: every member also keeps its candidates on the sphere of its own init radius
    (``attack.Sphere(radius)``, projected): the attacker who believes the data lie on that sphere (the
    paper's Fig. 2a with the sphere prior at a right or a wrong radius); ``None`` (default): no prior.
    """

    net: NetSpec = NetSpec()
    radii: tuple = (0.1, 0.3, 1.0, 3.0, 10.0)
    seeds: int = 2
    candidates_per_point: int = 2
    attack: AttackConfig = AttackConfig(steps=2000)
    seed: int = 0
    prior: str | None = None

    def __post_init__(self):
        _check_common(self)
        set_frozen(self, radii=_floats(self.radii, "radii", positive=True))
        if self.prior not in (None, "sphere"):
            raise ValueError(f"prior must be None (no prior) or 'sphere' (the sphere of each member's init "
                             f"radius, projected), got {self.prior!r}")

    @classmethod
    def preset(cls, scale: str = "book", *, arch: str = "two_layer", seed: int = 0) -> InitRadiusConfig:
        """``"test"`` (seconds), ``"book"`` (default) or ``"paper"`` sizes; ``arch="mlp3"`` for the deep variant."""
        scale = _scale(scale)
        if scale == "test":
            net = NetSpec(n=8, d=8, subspace_dim=4, width=30, train=TrainConfig(steps=1500), arch=arch, init_scale=0.5,
                          seed=seed)
            return cls(net, radii=(0.1, 1.0, 10.0), seeds=1, attack=AttackConfig(steps=200), seed=seed)
        if scale == "book":
            if arch == "two_layer":
                return cls(NetSpec(seed=seed), seed=seed)
            # the generic (vmapped) KKT loss of the 3-layer net is slower: a narrower net, fewer attack steps
            return cls(NetSpec(arch=arch, width=50, init_scale=_init_scale(arch), seed=seed),
                       attack=AttackConfig(steps=1000), seed=seed)
        net = NetSpec(n=100, d=100, subspace_dim=20, width=1000, train=TrainConfig(steps=100_000), arch=arch,
                      init_scale=_init_scale(arch), seed=seed)
        return cls(net, radii=(0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0), seeds=4, attack=_paper_attack(50_000), seed=seed)


@dataclass(frozen=True, eq=False)
class InitRadiusResult(Result):
    """Per radius (rows) and attack seed (columns): final KKT loss ``kkt``, ``nearest`` (mean over training
    points of the distance to the nearest candidate), ``matched`` (mean Hungarian matched distance),
    ``direction`` (mean over training points of 1 − cos∠ to the best-aligned candidate: blind to the scale
    symmetry (x′, λ′) → (cx′, λ′/c)) and ``candidate_norm`` (median ‖x′‖); ``eps_rel`` is the trained network's certificate and ``theta_sq`` = ‖θ̂‖²
    of the margin-normalised network (``kkt / theta_sq`` is the relative KKT loss). ``X``, ``y``, and the
    ``candidates`` (R, S, m, d) with their multipliers ``lam`` are kept for plots."""

    config: InitRadiusConfig
    radii: torch.Tensor
    kkt: torch.Tensor
    nearest: torch.Tensor
    matched: torch.Tensor
    direction: torch.Tensor
    candidate_norm: torch.Tensor
    eps_rel: float
    theta_sq: float
    X: torch.Tensor
    y: torch.Tensor
    candidates: torch.Tensor
    lam: torch.Tensor

    name = "init_radius"
    _json_fields = ("radii", "kkt", "nearest", "matched", "direction", "candidate_norm", "eps_rel", "theta_sq")

    def pooled(self, *, metric: str = "l2", threshold: float = 0.1) -> list:
        """Per radius, the seeds pooled as restarts (``pooling.pool_scores``): every training point scored
        against its best candidate over all seeds of that radius (``metric`` "l2" or "cosine" (direction
        only); ``threshold``: the distance below which a point counts as recovered). A list of
        ``PooledResult``, one per radius, with each restart's final KKT loss."""
        from reconleak_core.pooling import pool_scores

        return [pool_scores(self.X, c, metric=metric, threshold=threshold, kkt=k)
                for c, k in zip(self.candidates, self.kkt)]

    _plot = "plot_init_radius"

    def rows(self) -> list[dict]:
        return [{"radius": r, "kkt_rel": k, "nearest_dist": nd, "matched_dist": md, "direction": dr,
                 "candidate_norm": cn}
                for r, k, nd, md, dr, cn in zip(self.radii, self.kkt.mean(1) / self.theta_sq, self.nearest.mean(1),
                                                self.matched.mean(1), self.direction.mean(1),
                                                self.candidate_norm.mean(1))]


@experiment("init_radius", config=InitRadiusConfig, result=InitRadiusResult,
            summary="paper Fig. 2a: attack initialised on spheres of several radii",
            variants={"deep_init_radius": ("Fig. 2a on a 3-layer homogeneous network", {"arch": "mlp3"})})
def init_radius(config: InitRadiusConfig, run: Run) -> dict:
    """Paper Fig. 2a: does the attack's initialisation radius decide what it finds?

    Theorem 4 (chapter "The initialisation radius"): when the data span a subspace, KKT sets exist at any
    distance, so the KKT loss alone cannot tell them apart. The attack (no prior) is initialised uniformly on
    the sphere of each radius in ``config.radii`` (all radii × seeds in ONE batched attack). Expected: final KKT
    losses of the same order at every radius while the reconstruction distance is smallest near the true
    radius (1) and grows away from it.
    """
    tn = run.network(config.net)
    R, S = len(config.radii), config.seeds
    seeds = _attack_seeds(config.seed, S)
    radii = [r for r in config.radii for _ in seeds]
    prior = None if config.prior is None else [Sphere(r) for r in radii]
    res = run.attack(tn.net, tn.X, tn.y, config.candidates_per_point * config.net.n, config.attack,
                     init="sphere", init_radius=radii, seeds=seeds * R, prior=prior)
    cand = res.candidates.to(torch.float64)
    dist = _tensor([_distances(tn.X, c) for c in cand]).reshape(R, S, 3)
    cert = _certificate(tn.net, tn.X, tn.y)
    return dict(radii=_tensor(config.radii), kkt=res.kkt.double().reshape(R, S),
                nearest=dist[..., 0], matched=dist[..., 1], direction=dist[..., 2],
                candidate_norm=cand.norm(dim=-1).median(dim=-1).values.reshape(R, S),
                eps_rel=float(cert.eps_rel), theta_sq=float(cert.norm) ** 2, X=tn.X, y=tn.y,
                candidates=cand.reshape(R, S, *cand.shape[1:]), lam=res.lam.double().reshape(R, S, -1))


# --------------------------------------------------------------------------------- 2. secret shift
def _digits_spec(scale: str, arch: str, seed: int) -> NetSpec:
    """Centred digits (``data.digits``), n = 20 at book scale, width 1000, 10,000 steps of the default recipe:
    the network of Haim et al.'s kind that leaks (chapter "Reconstruction attacks"). The 3-layer variant keeps
    the narrower, shorter recipe its generic KKT loss can afford (width 50, 3000 steps at lr 0.02)."""
    n, width, steps = {"test": (8, 100, 600), "book": (20, 1000, 10_000), "paper": (200, 1000, 100_000)}[scale]
    train = TrainConfig(steps=steps)
    if arch != "two_layer":
        width = {"test": 20, "book": 50, "paper": width}[scale]
        train = TrainConfig(steps=3000 if scale == "book" else steps, lr=0.02)
    return NetSpec(dataset="digits", n=n, d=None, subspace_dim=None, width=width, train=train, arch=arch,
                   init_scale=_init_scale(arch), seed=seed)


def _pixel_prior(box, mean: torch.Tensor, enforce: str = "penalty"):
    from reconleak_core.data import pixel_box

    return pixel_box(box[0], box[1], mean, enforce=enforce)


def _check_box(box, name: str = "box") -> tuple:
    box = _floats(box, name)
    if len(box) != 2 or box[0] >= box[1]:
        raise ValueError(f"{name} must be (lo, hi) with lo < hi, got {box!r}")
    return box


# ------------------------------------------------------------------------------------ 0. digit leak
@dataclass(frozen=True)
class DigitLeakConfig:
    """The leak of Haim et al. with the right prior: ``net`` (centred digits), the pixel box ``box``,
    ``restarts`` pooled attacks of m = ``candidates_per_point``·n candidates (``pooling.pooled_attack``, one
    batched call), each training image scored by SSIM against its best pooled candidate (pixel coordinates).
    """

    net: NetSpec = _digits_spec("book", "two_layer", 0)
    box: tuple = (0.0, 1.0)
    restarts: int = 8
    candidates_per_point: int = 1
    attack: AttackConfig = AttackConfig(steps=3000)
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.net, NetSpec) or self.net.dataset != "digits":
            raise TypeError("net must be a NetSpec of digits")
        if not isinstance(self.attack, AttackConfig):
            raise TypeError(f"attack must be an AttackConfig, got {type(self.attack).__name__}")
        set_frozen(self, box=_check_box(self.box))
        _int(self.restarts, "restarts")
        _int(self.candidates_per_point, "candidates_per_point")
        _int(self.seed, "seed", 0)

    @classmethod
    def preset(cls, scale: str = "book", *, seed: int = 0) -> DigitLeakConfig:
        """``"test"``: 8 digits, width 20, 2 restarts × 200 steps; ``"book"``: 20 digits, width 1000,
        8 restarts × 3000 steps; ``"paper"``: 200 digits, 16 restarts × 50,000 steps. ``seed`` draws the digits."""
        scale = _scale(scale)
        net = _digits_spec(scale, "two_layer", seed)
        if scale == "test":
            return cls(net, restarts=2, attack=AttackConfig(steps=200), seed=seed)
        if scale == "book":
            return cls(net, seed=seed)
        return cls(net, restarts=16, attack=_paper_attack(50_000), seed=seed)


@dataclass(frozen=True, eq=False)
class DigitLeakResult(Result):
    """``ssim`` (n,): each training image's SSIM with its best pooled candidate; ``median``, ``fraction``
    (share ≥ ``pooling.RECOVERED_SSIM``), ``shared``; ``images`` / ``best`` (n, 64): the training images and their
    best candidates in pixel coordinates; ``kkt`` (restarts,), ``eps_rel`` of the trained network."""

    config: DigitLeakConfig
    ssim: torch.Tensor
    median: float
    fraction: float
    shared: int
    kkt: torch.Tensor
    eps_rel: float
    images: torch.Tensor
    best: torch.Tensor
    image_shape: tuple = (1, 8, 8)

    name = "digit_leak"
    _json_fields = ("ssim", "median", "fraction", "shared", "kkt", "eps_rel")

    _plot = "plot_digit_leak"

    def rows(self) -> list[dict]:
        return [{"median_ssim": self.median, "fraction_recovered": self.fraction, "shared": self.shared,
                 "eps_rel": self.eps_rel, "kkt_median": self.kkt.quantile(0.5).item()}]


@experiment("digit_leak", config=DigitLeakConfig, result=DigitLeakResult,
            summary="the leak with the right prior: pooled attacks on centred digits (Haim et al.)")
def digit_leak(config: DigitLeakConfig, run: Run) -> dict:
    """The leak the paper starts from (Haim et al. 2022; chapter "Reconstruction attacks"): with the right
    prior (the pixel box [0, 1]) pooled attacks on a network trained on centred digits recover training images."""
    tn = run.network(config.net)
    res = run.pooled_attack(tn.net, tn.X, tn.y, restarts=config.restarts,
                            candidates_per_point=config.candidates_per_point, prior=_pixel_prior(config.box, tn.mean),
                            mean=tn.mean, image_shape=(1, 8, 8), config=config.attack, seed=config.seed)
    return dict(ssim=res.score, median=res.median, fraction=res.fraction, shared=res.shared, kkt=res.kkt,
                eps_rel=float(_certificate(tn.net, tn.X, tn.y).eps_rel), images=res.X, best=res.best_candidates)


# --------------------------------------------------------------------------------- 2. secret shift
@dataclass(frozen=True)
class SecretShiftConfig:
    """Fig. 2b: centred digits shifted by each of ``offsets`` (one network per offset, trained on X − mean + s),
    each attacked in ONE batched call by ``restarts`` members with the uninformed pixel box ``box`` and
    ``restarts`` members of an attacker who knows the shift: the prior ``priors.Shift(s, box)``, which works
    in shifted coordinates (random initialisations centred at s, the pixel box moved to ``box + s``). ``net``
    is the template (its offset must be 0).

    Scores (``pooling.pool_scores``, Haim et al.'s protocol: candidates in pixel coordinates and training images
    min–max rescaled, so the score ignores a constant shift): per training image the SSIM of its best pooled
    candidate; "average-ness": ``shared``, the number of training images whose best candidate is also another's.
    """

    net: NetSpec = _digits_spec("book", "two_layer", 0)
    offsets: tuple = (0.0, 0.25, 0.5, 1.0, 2.0)
    box: tuple = (0.0, 1.0)
    restarts: int = 4
    candidates_per_point: int = 1
    attack: AttackConfig = AttackConfig(steps=2000)
    top_k: int = 6
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.net, NetSpec):
            raise TypeError(f"net must be a NetSpec, got {type(self.net).__name__}")
        if not isinstance(self.attack, AttackConfig):
            raise TypeError(f"attack must be an AttackConfig, got {type(self.attack).__name__}")
        _int(self.restarts, "restarts")
        _int(self.candidates_per_point, "candidates_per_point")
        _int(self.seed, "seed", 0)
        if self.net.dataset != "digits":
            raise ValueError(f"net must be a digits NetSpec (this experiment shifts images), got dataset "
                             f"{self.net.dataset!r}")
        if self.net.offset != 0:
            raise ValueError(f"net is the unshifted template: its offset must be 0, got {self.net.offset}")
        set_frozen(self, offsets=_floats(self.offsets, "offsets"), box=_check_box(self.box))
        if _int(self.top_k, "top_k") > self.net.n:
            raise ValueError(f"top_k must be at most the number of training images n={self.net.n}, got {self.top_k}")

    @classmethod
    def preset(cls, scale: str = "book", *, arch: str = "two_layer", seed: int = 0) -> SecretShiftConfig:
        scale = _scale(scale)
        net = _digits_spec(scale, arch, seed)
        if scale == "test":
            return cls(net, offsets=(0.0, 0.5), restarts=1, attack=AttackConfig(steps=200), top_k=3, seed=seed)
        if scale == "book":
            return cls(net, attack=AttackConfig(steps=2000 if arch == "two_layer" else 1000), seed=seed)
        return cls(net, offsets=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0), restarts=8, attack=_paper_attack(50_000),
                   top_k=10, seed=seed)


@dataclass(frozen=True, eq=False)
class SecretShiftResult(Result):
    """Per offset (rows) and prior (columns: 0 uninformed box, 1 informed box + s): ``median`` SSIM over the
    training images of their best pooled candidate, ``fraction`` ≥ ``pooling.RECOVERED_SSIM``, ``ssim_top``
    (mean of the top_k), ``shared`` (average-ness, see the config), ``kkt`` (median final KKT loss over restarts);
    ``eps_rel`` per offset's network. ``recon`` / ``nearest`` (O, 2, top_k, 64): the best reconstructions
    (rescaled, pixel coordinates) and their training images, for image grids (``image_shape``)."""

    config: SecretShiftConfig
    offsets: torch.Tensor
    median: torch.Tensor
    fraction: torch.Tensor
    ssim_top: torch.Tensor
    shared: torch.Tensor
    kkt: torch.Tensor
    eps_rel: torch.Tensor
    recon: torch.Tensor
    nearest: torch.Tensor
    image_shape: tuple = (1, 8, 8)

    name = "secret_shift"
    _json_fields = ("offsets", "median", "fraction", "ssim_top", "shared", "kkt", "eps_rel")

    _plot = "plot_secret_shift"

    def figures(self) -> dict:
        """The headline figure and ``"_images"``: the best reconstructions beside their training images
        (:func:`reconleak_core.viz.plot_shift_reconstructions`)."""
        from reconleak_core.viz import plot_shift_reconstructions

        return {"": self.plot(), "_images": plot_shift_reconstructions(self)}

    def rows(self) -> list[dict]:
        return [{"offset": o, "median_uninformed": m[0], "median_informed": m[1], "shared_uninformed": sh[0],
                 "shared_informed": sh[1], "kkt_uninformed": k[0], "kkt_informed": k[1], "eps_rel": e}
                for o, m, sh, k, e in zip(self.offsets, self.median, self.shared, self.kkt, self.eps_rel)]


@experiment("secret_shift", config=SecretShiftConfig, result=SecretShiftResult,
            summary="paper Fig. 2b: images shifted by an offset the attacker does not know",
            variants={"deep_secret_shift": ("Fig. 2b on a 3-layer homogeneous network", {"arch": "mlp3"})})
def secret_shift(config: SecretShiftConfig, run: Run) -> dict:
    """Paper Fig. 2b: a prior placed for the wrong data does not help — the secret shift.

    The training images are centred, then moved by s (pixels in [s, 1 + s] once the mean is added back). The
    attacker who does not know s uses the pixel box [0, 1]; one who knows it works in shifted coordinates
    (``Shift(s, box)``: initialised around s, box [s, 1 + s]). Both run in ONE batched call per network. Expected (chapter "Shifted images"): the uninformed attack's best candidates
    get worse and shared by several training images (averages) as s grows; the informed one keeps the leak.
    Centring matters: an uncentred image set is already shifted by its mean (about 0.3 per pixel for digits).
    """
    out = _shift_grid(config, run, lambda offset: (0.0, offset))
    return dict(offsets=_tensor(config.offsets), **out)


def _shift_grid(config, run: Run, guesses_of) -> dict:
    """For every secret offset s of ``config``: the network ``config.net.shifted(s)`` and ONE batched attack
    with ``config.restarts`` members per guess g in ``guesses_of(s)`` (the prior ``Shift(g, box)``: the
    attacker's coordinates moved by g, so random initialisations are centred at g and ``config.box`` becomes
    [lo + g, hi + g] in pixels; g = 0 is the plain pixel box), pooled per guess and scored with Haim et al.'s rescaled SSIM. Tensors (O, G, ...) of the scores, the
    top-``config.top_k`` reconstructions and their training images; ``eps_rel`` (O,) of each network."""
    from reconleak_core.pooling import pool_scores

    R, lo, hi, d = config.restarts, *config.box, config.net.input_dim
    keys = ("median", "fraction", "ssim_top", "shared", "kkt", "recon", "nearest")
    out = {k: [] for k in (*keys, "eps_rel")}
    for offset in config.offsets:
        tn = run.network(config.net.shifted(offset))
        guesses = guesses_of(offset)
        box = _pixel_prior((lo, hi), tn.mean)
        priors = [Shift(torch.full((d,), float(g), dtype=torch.float64), box) for g in guesses for _ in range(R)]
        res = run.attack(tn.net, tn.X, tn.y, config.candidates_per_point * config.net.n, config.attack,
                         prior=priors, seeds=_attack_seeds(config.seed, R) * len(guesses))
        row = {k: [] for k in keys}
        for j in range(len(guesses)):
            part = slice(j * R, (j + 1) * R)
            pooled = pool_scores(tn.X_clean, res.candidates[part], mean=tn.mean, image_shape=(1, 8, 8),
                                 rescale=True, kkt=res.kkt[part])
            order = pooled.score.argsort(descending=True)[:config.top_k]
            for k, v in (("median", pooled.median), ("fraction", pooled.fraction),
                         ("ssim_top", pooled.score[order].mean().item()), ("shared", pooled.shared),
                         ("kkt", pooled.kkt.median().item()), ("recon", pooled.best_candidates[order]),
                         ("nearest", pooled.X[order])):
                row[k].append(v)
        for k, v in row.items():
            out[k].append(torch.stack(v) if k in ("recon", "nearest") else _tensor(v))
        out["eps_rel"].append(_certificate(tn.net, tn.X, tn.y).eps_rel)
    return {k: (_tensor(v) if k == "eps_rel" else torch.stack(v)) for k, v in out.items()}


@dataclass(frozen=True)
class ShiftGuessConfig(SecretShiftConfig):
    """:func:`shift_guess`: the settings of :class:`SecretShiftConfig` and the attacker's ``guesses`` g (box
    [g, 1 + g] in pixel coordinates); ``None`` (default): the offsets themselves, so that the column g = 0 is
    the uninformed attack and the diagonal g = s the informed one."""

    guesses: tuple | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.guesses is not None:
            set_frozen(self, guesses=_floats(self.guesses, "guesses"))
            if not self.guesses:
                raise ValueError("guesses must hold at least one value (or be None: the offsets)")

    @property
    def grid(self) -> tuple:
        """The guesses attacked, ``guesses`` or (when it is None) the offsets."""
        return self.offsets if self.guesses is None else self.guesses

    @classmethod
    def preset(cls, scale: str = "book", *, arch: str = "two_layer", seed: int = 0) -> ShiftGuessConfig:
        """:class:`SecretShiftConfig`'s presets, lighter at book scale, where chapter "Shifted images" runs
        it over several data draws: networks of width 300 (their weights are committed checkpoints,
        ``trained_nets.CHECKPOINTS``, for seeds 0–2) and one restart of 1000 steps per (offset, guess)."""
        config = super().preset(scale, arch=arch, seed=seed)
        if _scale(scale) != "book" or arch != "two_layer":
            return config
        return dataclasses.replace(config, net=dataclasses.replace(config.net, width=300), restarts=1,
                                   attack=dataclasses.replace(config.attack, steps=1000))


@dataclass(frozen=True, eq=False)
class ShiftGuessResult(Result):
    """:func:`shift_guess`: per secret offset (rows) and attacker's guess g (columns, prior
    ``Shift(g, box)``: initialised around g, box [g, 1 + g] in pixel coordinates) the pooled ``median`` SSIM, ``fraction`` ≥ ``pooling.RECOVERED_SSIM``, ``shared``
    (average-ness) and ``kkt`` (median over restarts), all (O, G); ``eps_rel`` (O,) of each offset's network;
    ``recon`` / ``nearest`` (O, G, top_k, 64): the best reconstructions (rescaled, pixel coordinates) and their
    training images, best first. ``guess == 0`` is the uninformed attack, ``guess == offset`` the informed one."""

    config: ShiftGuessConfig
    offsets: torch.Tensor
    guesses: torch.Tensor
    median: torch.Tensor
    fraction: torch.Tensor
    ssim_top: torch.Tensor
    shared: torch.Tensor
    kkt: torch.Tensor
    eps_rel: torch.Tensor
    recon: torch.Tensor
    nearest: torch.Tensor
    image_shape: tuple = (1, 8, 8)

    name = "shift_guess"
    _json_fields = ("offsets", "guesses", "median", "fraction", "shared", "kkt", "eps_rel")

    def at(self, offset: float, guess: float) -> tuple[int, int]:
        """The (row, column) of a secret offset and a guess (each must be one of the grid's values)."""
        for values, v, what in ((self.offsets, offset, "offset"), (self.guesses, guess, "guess")):
            if not torch.isclose(values, torch.tensor(float(v), dtype=values.dtype)).any():
                raise ValueError(f"{what} {v!r} is not on the grid {values.tolist()}")
        return tuple(int(torch.isclose(values, torch.tensor(float(v), dtype=values.dtype)).int().argmax())
                     for values, v in ((self.offsets, offset), (self.guesses, guess)))

    _plot = "plot_shift_guess"

    def by_attacker(self, field: str = "median") -> dict:
        """The paper's two attackers read off the grid, per offset: ``{"uninformed [0, 1]": column g = 0,
        "informed [s, 1+s]": diagonal g = s}`` of the (O, G) field ``field`` (median, fraction, shared or
        kkt). Needs 0 and every offset among the guesses (the default grid)."""
        if field not in ("median", "fraction", "shared", "kkt"):
            raise ValueError(f"field must be one of median, fraction, shared, kkt, got {field!r}")
        values = getattr(self, field)
        cells = [self.at(o, 0.0) for o in self.offsets.tolist()], [self.at(o, o) for o in self.offsets.tolist()]
        return {name: torch.stack([values[i, j] for i, j in where])
                for name, where in zip(("uninformed [0, 1]", "informed [s, 1+s]"), cells)}

    def rows(self) -> list[dict]:
        return [{"offset": o, "guess": g, "median": self.median[i, j], "shared": self.shared[i, j],
                 "kkt": self.kkt[i, j], "eps_rel": self.eps_rel[i]}
                for i, o in enumerate(self.offsets) for j, g in enumerate(self.guesses)]


@experiment("shift_guess", config=ShiftGuessConfig, result=ShiftGuessResult,
            summary="Fig. 2b over the grid of secret offsets x attacker's guesses")
def shift_guess(config: ShiftGuessConfig, run: Run) -> dict:
    """Fig. 2b over the whole (secret offset × attacker's guess) grid (chapter "Shifted images").

    The networks of :func:`secret_shift` (``config.net.shifted(s)`` for every offset s); for each, ONE
    batched attack with ``config.restarts`` members per guess g of ``config.grid``, each with the prior
    ``Shift(g, box)`` (initialised around g, the pixel box moved to [g, 1 + g]), scored as :func:`secret_shift` scores (rescaled SSIM, pooled over
    the restarts of one guess). With the default guesses (the offsets) the column g = 0 is the uninformed
    attack and the diagonal g = s the informed one: the chapter's figure and its two sliders come from this
    one computation."""
    out = _shift_grid(config, run, lambda offset: config.grid)
    return dict(offsets=_tensor(config.offsets), guesses=_tensor(config.grid), **out)


# ------------------------------------------------------------------------------ 3. training length
@dataclass(frozen=True)
class TrainingLengthConfig:
    """Networks saved along ONE training run (``net.checkpoints`` and ``net.steps``); for each, the certificate
    (ε_rel, δ), the achievable splitting distance (``lemmas.achievable_split_distance``, Theorems 5, 8, 9) and
    the attack's reconstruction distances (no prior, ``seeds`` members in one batched call per network).
    ``refine_steps``: the linear-programming refinement rounds of the split directions (0: the ℓ2 relaxation).

    The default network keeps a component of its initialisation outside the data's span (``in_span=False``):
    then no direction splits a point for free and the split budget is finite; it grows as training shrinks
    that component relative to ‖θ‖ (the measured form of "better-trained networks leak less").
    """

    net: NetSpec = NetSpec(in_span=False, init_scale=0.5, train=TrainConfig(steps=12_000), checkpoints=(3000, 6000))
    seeds: int = 1
    candidates_per_point: int = 2
    attack: AttackConfig = AttackConfig(steps=1500)
    refine_steps: int = 5
    seed: int = 0

    def __post_init__(self):
        _check_common(self)
        _int(self.refine_steps, "refine_steps", 0)
        if self.net.arch != "two_layer":
            raise ValueError("training_length needs arch='two_layer' (the splitting lemmas are stated for it)")

    @classmethod
    def preset(cls, scale: str = "book", *, seed: int = 0) -> TrainingLengthConfig:
        scale = _scale(scale)
        if scale == "test":
            net = NetSpec(n=8, d=8, subspace_dim=4, width=30, in_span=False, init_scale=0.5,
                          train=TrainConfig(steps=2000), checkpoints=(1000,), seed=seed)
            return cls(net, seeds=1, attack=AttackConfig(steps=200), refine_steps=0, seed=seed)
        if scale == "book":
            return cls(dataclasses.replace(cls.net, seed=seed), seed=seed)
        net = NetSpec(n=100, d=100, subspace_dim=20, width=1000, in_span=False, train=TrainConfig(steps=1_000_000),
                      checkpoints=(1000, 10_000, 100_000), seed=seed)
        return cls(net, seeds=4, attack=_paper_attack(50_000), seed=seed)


@dataclass(frozen=True, eq=False)
class TrainingLengthResult(Result):
    """Per checkpoint (``steps``): ``eps_rel``, ``delta``, ``split_distance`` (a KKT set by splitting exists
    at any distance below it), ``split_reach``, and the attack's ``nearest`` / ``matched`` distances and final
    ``kkt`` loss (means over seeds)."""

    config: TrainingLengthConfig
    steps: torch.Tensor
    eps_rel: torch.Tensor
    delta: torch.Tensor
    split_distance: torch.Tensor
    split_reach: torch.Tensor
    nearest: torch.Tensor
    matched: torch.Tensor
    kkt: torch.Tensor

    name = "training_length"
    _json_fields = ("steps", "eps_rel", "delta", "split_distance", "split_reach", "nearest", "matched", "kkt")

    _plot = "plot_training_length"

    def rows(self) -> list[dict]:
        return [{"steps": s, "eps_rel": e, "split_distance": sd, "nearest_dist": nd, "matched_dist": md,
                 "kkt_loss": k}
                for s, e, sd, nd, md, k in zip(self.steps, self.eps_rel, self.split_distance, self.nearest,
                                               self.matched, self.kkt)]


@experiment("training_length", config=TrainingLengthConfig, result=TrainingLengthResult,
            summary="certificate ε, split distance and leakage along one training run")
def training_length(config: TrainingLengthConfig, run: Run) -> dict:
    """Does training longer (a smaller certificate ε) leave more room for far KKT sets, and less leakage?

    Theorems 5, 8 and 9 (chapter "Approximate KKT and training time"): the closer θ is to a KKT point, the
    farther split-based alternative KKT sets reach. Measured on checkpoints of ONE run: ε_rel, the achievable
    split distance, and the attack's reconstruction distance.
    """
    from reconleak_core.lemmas import achievable_split_distance

    tn = run.network(config.net)
    out = {k: [] for k in ("eps_rel", "delta", "split_distance", "split_reach", "nearest", "matched", "kkt")}
    seeds = _attack_seeds(config.seed, config.seeds)
    for net in tn.nets:
        cert = _certificate(net, tn.X, tn.y)
        reach = achievable_split_distance(net, tn.X, tn.y, cert.lam, refine_steps=config.refine_steps)
        res = run.attack(net, tn.X, tn.y, config.candidates_per_point * config.net.n, config.attack, seeds=seeds)
        dist = _tensor([_distances(tn.X, c)[:2] for c in res.candidates])
        for k, v in (("eps_rel", cert.eps_rel), ("delta", cert.delta), ("split_distance", reach.distance),
                     ("split_reach", reach.reach), ("nearest", dist[:, 0].mean()), ("matched", dist[:, 1].mean()),
                     ("kkt", res.kkt.double().mean())):
            out[k].append(float(v))
    return dict(steps=torch.tensor(tn.steps), **{k: _tensor(v) for k, v in out.items()})


# ------------------------------------------------------------------ 3b. leakage along one training run
@dataclass(frozen=True)
class TrainingLeakConfig:
    """Leakage along ONE training run, where there is leakage to lose: ``net`` is saved at its
    ``checkpoints`` and at the end; every saved network is attacked by ``restarts`` pooled attacks
    (``pooling.pooled_attack``, one batched call per network) with the prior the data satisfy, the sphere
    ‖x‖ = ``radius`` (projected); each training point is scored by its distance to its nearest pooled
    candidate, and counts as recovered within ``threshold``. The default is chapter "Reconstruction
    attacks"' circle (n = 10 points on the unit circle of ℝ², where the sphere prior leaks).
    """

    net: NetSpec = NetSpec(n=10, d=2, subspace_dim=None, width=1000, train=TrainConfig(steps=3000),
                           checkpoints=(300, 1000))
    restarts: int = 4
    candidates_per_point: int = 2
    attack: AttackConfig = AttackConfig(steps=800)
    radius: float = 1.0
    threshold: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.net, NetSpec) or self.net.dataset != "sphere" or self.net.arch != "two_layer":
            raise TypeError("net must be a two-layer NetSpec of sphere data")
        if not isinstance(self.attack, AttackConfig):
            raise TypeError(f"attack must be an AttackConfig, got {type(self.attack).__name__}")
        _int(self.restarts, "restarts")
        _int(self.candidates_per_point, "candidates_per_point")
        _positive(self.radius, "radius")
        _positive(self.threshold, "threshold")
        check_seed(self.seed)

    @classmethod
    def preset(cls, scale: str = "book", *, seed: int = 0) -> TrainingLeakConfig:
        """``"test"`` (seconds), ``"book"`` (default) or ``"paper"`` (longer training and attacks)."""
        scale = _scale(scale)
        if scale == "test":
            net = NetSpec(n=6, d=2, subspace_dim=None, width=50, train=TrainConfig(steps=400),
                          checkpoints=(100,), seed=seed)
            return cls(net, restarts=2, attack=AttackConfig(steps=100), seed=seed)
        if scale == "book":
            return cls(dataclasses.replace(cls.net, seed=seed), seed=seed)
        net = dataclasses.replace(cls.net, train=TrainConfig(steps=100_000),
                                  checkpoints=(300, 1000, 10_000), seed=seed)
        return cls(net, restarts=16, attack=_paper_attack(20_000), seed=seed)


@dataclass(frozen=True, eq=False)
class TrainingLeakResult(Result):
    """Per saved network (``steps``, C of them): the certificate's ``eps_rel`` (C,), each restart's final
    KKT loss ``kkt`` (C, R) relative to ‖θ̂‖² (``kkt_rel``), every training point's distance to its
    nearest pooled candidate ``distance`` (C, n) and direction-only distance ``direction`` (C, n, 1 − cos),
    the ``fraction`` recovered within the threshold (C,) and their ``median`` distance (C,); the
    ``candidates`` (C, R·m, d), the training points ``X`` and labels ``y`` for plots."""

    config: TrainingLeakConfig
    steps: torch.Tensor
    eps_rel: torch.Tensor
    kkt_rel: torch.Tensor
    distance: torch.Tensor
    direction: torch.Tensor
    fraction: torch.Tensor
    median: torch.Tensor
    candidates: torch.Tensor
    X: torch.Tensor
    y: torch.Tensor

    name = "training_leak"
    _json_fields = ("steps", "eps_rel", "kkt_rel", "fraction", "median")

    _plot = "plot_training_leak"

    def rows(self) -> list[dict]:
        return [{"steps": s, "eps_rel": e, "kkt_rel": k.quantile(0.5).item(), "recovered": f, "median_dist": m}
                for s, e, k, f, m in zip(self.steps, self.eps_rel, self.kkt_rel, self.fraction, self.median)]


@experiment("training_leak", config=TrainingLeakConfig, result=TrainingLeakResult,
            summary="better-trained nets leak less? pooled attacks with the right prior along one run")
def training_leak(config: TrainingLeakConfig, run: Run) -> dict:
    """Better-trained ⇒ less leakage? Pooled attacks with the right prior on checkpoints of ONE run.

    Theorems 5, 8 and 9 (chapter "Approximate KKT and training time") say that the closer θ is to a KKT
    point (smaller certificate ε), the farther equally good KKT sets reach; this measures what a pooled
    attack with the right prior recovers from each checkpoint, beside the checkpoint's ε_rel
    (``certificate.certificate``). Nothing here guarantees a monotone trend; the chapter reports what it finds.
    """
    from reconleak_core.kkt import normalize_margin
    from reconleak_core.pooling import pool_scores

    tn = run.network(config.net)
    out = {k: [] for k in ("eps_rel", "kkt_rel", "distance", "direction", "fraction", "median", "candidates")}
    for net in tn.nets:
        cert = _certificate(net, tn.X, tn.y)
        theta_sq = sum((p.detach().double() ** 2).sum() for p in normalize_margin(net, tn.X, tn.y).parameters())
        pooled = run.pooled_attack(net, tn.X, tn.y, restarts=config.restarts,
                                   candidates_per_point=config.candidates_per_point, prior=Sphere(config.radius),
                                   metric="l2", threshold=config.threshold, config=config.attack, seed=config.seed)
        cos = pool_scores(tn.X, pooled.candidates, metric="cosine", threshold=0.0).score
        for k, v in (("eps_rel", cert.eps_rel), ("kkt_rel", pooled.kkt / theta_sq), ("distance", pooled.score),
                     ("direction", cos), ("fraction", pooled.fraction), ("median", pooled.median),
                     ("candidates", pooled.candidates)):
            out[k].append(_tensor(v))
    return dict(steps=torch.tensor(tn.steps), X=tn.X, y=tn.y, **{k: torch.stack(v) for k, v in out.items()})


# ---------------------------------------------------------------------------------- 4. infer shift
@dataclass(frozen=True)
class InferShiftConfig:
    """Open question 2: can the attacker estimate the secret shift from the weights alone?

    Method: for each true offset (one network each, the ``secret_shift`` networks), ONE batched attack whose
    members use the shifted box prior ``Shift(s, Box(lo, hi))`` (projected) for every trial shift s in
    ``trials``; the estimate is the trial whose attack reaches the lowest final KKT loss (the attacker's
    only evidence). ``seeds`` members per trial.
    """

    net: NetSpec = _digits_spec("book", "two_layer", 0)
    offsets: tuple = (0.0, 0.5, 1.0, 2.0)
    trials: tuple = (-0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5)
    box: tuple = (0.0, 1.0)
    seeds: int = 1
    candidates_per_point: int = 2
    attack: AttackConfig = AttackConfig(steps=1000)
    seed: int = 0

    def __post_init__(self):
        _check_common(self)
        if self.net.dataset != "digits":
            raise ValueError(f"net must be a digits NetSpec (this experiment shifts images), got dataset "
                             f"{self.net.dataset!r}")
        if self.net.offset != 0:
            raise ValueError(f"net is the unshifted template: its offset must be 0, got {self.net.offset}")
        set_frozen(self, offsets=_floats(self.offsets, "offsets"), trials=_floats(self.trials, "trials"),
             box=_floats(self.box, "box"))
        if len(self.box) != 2 or self.box[0] >= self.box[1]:
            raise ValueError(f"box must be (lo, hi) with lo < hi, got {self.box!r}")

    @classmethod
    def preset(cls, scale: str = "book", *, seed: int = 0) -> InferShiftConfig:
        scale = _scale(scale)
        net = _digits_spec(scale, "two_layer", seed)
        if scale == "test":
            return cls(net, offsets=(0.0, 1.0), trials=(0.0, 1.0, 2.0), attack=AttackConfig(steps=200),
                       seed=seed)
        if scale == "book":
            return cls(net, seed=seed)
        return cls(net, offsets=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0), trials=tuple(np.round(np.arange(-1, 5.01, 0.25), 2)),
                   seeds=2, attack=_paper_attack(50_000), seed=seed)


@dataclass(frozen=True, eq=False)
class InferShiftResult(Result):
    """``loss`` (O, T): final KKT loss (min over seeds) of the attack with each trial shift, per true offset;
    ``estimate`` (O,): the trial with the lowest loss; ``error`` = estimate − offset."""

    config: InferShiftConfig
    offsets: torch.Tensor
    trials: torch.Tensor
    loss: torch.Tensor
    estimate: torch.Tensor
    error: torch.Tensor

    name = "infer_shift"
    _json_fields = ("offsets", "trials", "loss", "estimate", "error")

    _plot = "plot_infer_shift"

    def rows(self) -> list[dict]:
        return [{"true_offset": o, "estimate": e, "error": err, "best_kkt_loss": l.min()}
                for o, e, err, l in zip(self.offsets, self.estimate, self.error, self.loss)]


@experiment("infer_shift", config=InferShiftConfig, result=InferShiftResult,
            summary="can the attacker estimate the secret shift? (beyond the paper)")
def infer_shift(config: InferShiftConfig, run: Run) -> dict:
    """Beyond the paper (open question 2): estimate the secret shift by the KKT loss under shifted box priors.

    For each true offset the network trained on X + offset is attacked once, batched over the trial shifts
    (× seeds); the trial whose prior Shift(s, Box) lets the candidates reach the lowest KKT loss is the
    estimate. Reports the estimates against the truth; nothing guarantees success (chapter "Open questions").
    """
    T, S, d = len(config.trials), config.seeds, config.net.input_dim
    losses = []
    for offset in config.offsets:
        spec = config.net.shifted(offset)
        tn = run.network(spec)
        inner = _pixel_prior(config.box, tn.mean, enforce="project")   # the pixel box, in model coordinates
        priors = [Shift(torch.full((d,), s, dtype=torch.float64), inner) for s in config.trials for _ in range(S)]
        res = run.attack(tn.net, tn.X, tn.y, config.candidates_per_point * spec.n, config.attack, prior=priors,
                         seeds=_attack_seeds(config.seed, S) * T)
        losses.append(res.kkt.double().reshape(T, S).amin(dim=1))
    loss, trials, offsets = torch.stack(losses), _tensor(config.trials), _tensor(config.offsets)
    estimate = trials[loss.argmin(dim=1)]
    return dict(offsets=offsets, trials=trials, loss=loss, estimate=estimate, error=estimate - offsets)


# ---------------------------------------------------------------------- 5. bias vs the secret shift
def kkt_residual(net, X, y) -> float:
    """ε_rel of the margin-normalised ``net`` at its training set: min over λ ≥ 0 of ‖θ̂ − Σᵢ λᵢyᵢ∇θΦ(θ̂; xᵢ)‖ / ‖θ̂‖.

    The multipliers are a non-negative least-squares fit (``scipy.optimize.nnls``) of the hard-gate
    gradients (``kkt.stationarity_sum`` with 1[z > 0]); it works for any network of the library, a
    first-layer bias included (θ = (W, b, v)), where ``certificate.certificate`` (Clarke gates) does not. It is an
    upper bound on the certificate's ε_rel: points on a ReLU kink get the one-sided gate, not the best one.
    """
    from scipy.optimize import nnls

    from reconleak_core.kkt import normalize_margin, stationarity_sum
    from reconleak_core.models import parameter_vector

    net = normalize_margin(net, X, y)
    n = X.shape[0]
    with torch.no_grad():
        J = stationarity_sum(net, X, y, torch.eye(n, dtype=X.dtype)).numpy()   # (n, P): row i = yᵢ∇θΦ(xᵢ)
        theta = parameter_vector(net).numpy()
    lam, residual = nnls(J.T, theta)
    return float(residual / np.linalg.norm(theta))


def ones_in_row_space(net, rtol: float = 1e-8) -> float:
    """‖P 1‖ / ‖1‖ with P the projector onto the row space of the first-layer weights W (two-layer nets).

    Gradient descent from an initialisation inside the data's span keeps the rows of W in span{xᵢ + s1};
    centred data sum to zero, so for s ≠ 0 that span contains 1 (the mean of the xᵢ + s1 is s1) and the
    value is 1, while for s = 0 it is below 1 unless 1 happens to lie in the span of the centred images. A
    detector of *whether* the data were shifted, blind to *how much* (chapter "Open questions")."""
    W = net.W.detach().to(torch.float64)
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    basis = Vh[S > rtol * S.max()]
    ones = torch.ones(W.shape[1], dtype=torch.float64) / W.shape[1] ** 0.5
    return float((basis @ ones).norm())


def _chapter_digits_spec(scale: str, seed: int) -> NetSpec:
    """The two-layer digit networks of chapter "Open questions": narrower and shorter than ``_digits_spec`` at
    book scale (width 100, 2000 steps), so that 3 draws × offsets × {no bias, bias} train in seconds."""
    spec = _digits_spec(scale, "two_layer", seed)
    if scale == "book":
        spec = dataclasses.replace(spec, width=100, train=TrainConfig(steps=2000))
    return spec


@dataclass(frozen=True)
class BiasShiftConfig:
    """Beyond the paper: does the secret-shift defense survive a first-layer bias?

    For each data draw in ``draws`` (digits drawn with that seed; network init seed and first attack seed too),
    each secret offset in ``offsets`` and each ``bias`` in ``biases``: the network ``net.shifted(s)`` (with
    ``bias``) is trained, then attacked in ONE batched call by ``restarts`` members with the uninformed pixel
    box ``box`` (the attacker ignores s), scored as ``secret_shift`` (pooled, rescaled SSIM). ``net`` is the
    bias-free, unshifted template. Also measured per network: :func:`kkt_residual` (how close to a KKT point)
    and two shift estimators (the pooled candidates' mean coordinate; :func:`ones_in_row_space`).
    """

    net: NetSpec = _chapter_digits_spec("book", 0)
    offsets: tuple = (0.0, 1.0)
    biases: tuple = (False, True)
    draws: tuple = (0, 1, 2)
    box: tuple = (0.0, 1.0)
    restarts: int = 2
    candidates_per_point: int = 1
    attack: AttackConfig = AttackConfig(steps=600)
    top_k: int = 4

    def __post_init__(self):
        if not isinstance(self.net, NetSpec) or self.net.dataset != "digits" or self.net.arch != "two_layer":
            raise ValueError("net must be a two-layer digits NetSpec")
        if self.net.offset != 0 or self.net.bias:
            raise ValueError("net is the bias-free, unshifted template: offset 0 and bias False")
        if not isinstance(self.attack, AttackConfig):
            raise TypeError(f"attack must be an AttackConfig, got {type(self.attack).__name__}")
        set_frozen(self, offsets=_floats(self.offsets, "offsets"), box=_check_box(self.box),
             draws=tuple(check_seed(d) for d in self.draws), biases=tuple(self.biases))
        if not self.draws or not self.offsets:
            raise ValueError("draws and offsets must not be empty")
        if not self.biases or not all(isinstance(b, bool) for b in self.biases):
            raise ValueError(f"biases must be a non-empty tuple of True/False, got {self.biases!r}")
        _int(self.restarts, "restarts")
        _int(self.candidates_per_point, "candidates_per_point")
        if _int(self.top_k, "top_k") > self.net.n:
            raise ValueError(f"top_k must be at most n={self.net.n}, got {self.top_k}")

    @classmethod
    def preset(cls, scale: str = "book", *, seed: int = 0) -> BiasShiftConfig:
        """``"test"``: one draw, offsets 0 and 1, 1 restart × 100 steps; ``"book"``: 3 draws (``seed``, +1, +2),
        offsets 0 and 1, width 100, 2000 training steps, 2 restarts × 600 steps; ``"paper"``: width 1000, offsets
        to 2, 5 draws, 8 restarts × 20,000 steps."""
        scale = _scale(scale)
        net = _chapter_digits_spec(scale, seed)
        if scale == "test":
            return cls(net, offsets=(0.0, 1.0), draws=(seed,), restarts=1, attack=AttackConfig(steps=100), top_k=2)
        if scale == "book":
            return cls(net, draws=(seed, seed + 1, seed + 2))
        return cls(net, offsets=(0.0, 0.5, 1.0, 2.0), draws=tuple(seed + k for k in range(5)), restarts=8,
                   attack=_paper_attack(20_000), top_k=10)

    def spec(self, draw: int, offset: float, bias: bool) -> NetSpec:
        """The network of one (draw, offset, bias) cell: the template's draw, shifted, with or without bias."""
        return dataclasses.replace(self.net, seed=draw, bias=bias).shifted(offset)


@dataclass(frozen=True, eq=False)
class BiasShiftResult(Result):
    """Arrays indexed (draw, offset, bias): ``median`` pooled SSIM (uninformed box), ``fraction`` ≥
    ``pooling.RECOVERED_SSIM``, ``shared``, ``kkt`` (median final KKT loss over restarts), ``eps_rel``
    (:func:`kkt_residual`), ``mean_estimate`` (the pooled candidates' mean coordinate in model coordinates: the
    training set's is exactly s), ``ones_in_row_space``; ``ssim`` (D, O, B, n) per image; ``recon`` /
    ``nearest`` (D, O, B, top_k, 64): best reconstructions and their training images (rescaled pixels)."""

    config: BiasShiftConfig
    offsets: torch.Tensor
    biases: torch.Tensor
    draws: torch.Tensor
    median: torch.Tensor
    fraction: torch.Tensor
    shared: torch.Tensor
    kkt: torch.Tensor
    eps_rel: torch.Tensor
    mean_estimate: torch.Tensor
    ones_in_row_space: torch.Tensor
    ssim: torch.Tensor
    recon: torch.Tensor
    nearest: torch.Tensor
    image_shape: tuple = (1, 8, 8)

    name = "bias_shift"
    _json_fields = ("offsets", "biases", "draws", "median", "fraction", "shared", "kkt", "eps_rel",
                    "mean_estimate", "ones_in_row_space")

    _plot = "plot_bias_shift"

    def rows(self) -> list[dict]:
        """One row per (offset, bias): medians over the draws."""
        med = lambda a: a.double().quantile(0.5).item()
        return [{"offset": float(o), "bias": int(b), "median_ssim": med(self.median[:, i, j]),
                 "fraction": med(self.fraction[:, i, j]), "shared": med(self.shared[:, i, j]),
                 "eps_rel": med(self.eps_rel[:, i, j]), "mean_estimate": med(self.mean_estimate[:, i, j])}
                for i, o in enumerate(self.offsets) for j, b in enumerate(self.biases)]


@experiment("bias_shift", config=BiasShiftConfig, result=BiasShiftResult,
            summary="does the secret-shift defense survive a first-layer bias? (beyond the paper)")
def bias_shift(config: BiasShiftConfig, run: Run) -> dict:
    """Beyond the paper (chapter "Open questions"): the secret shift against networks with a first-layer bias.

    A bias can absorb a constant shift: wⱼ·(x + s1) + bⱼ = wⱼ·x + (bⱼ + s wⱼ·1), so a biased net trained on
    shifted data can realise the same function of the centred images as one trained on them. Whether the
    uninformed attack (box [0, 1] in pixels) then recovers the images is measured, not proven: pooled SSIM
    per (draw, offset, bias), with the networks' KKT residual beside it.

    """
    from reconleak_core.pooling import pool_scores

    keys = ("median", "fraction", "shared", "kkt", "eps_rel", "mean_estimate", "ones_in_row_space", "ssim",
            "recon", "nearest")
    out = {k: [] for k in keys}
    for draw in config.draws:
        for offset in config.offsets:
            for bias in config.biases:
                spec = config.spec(draw, offset, bias)
                tn = run.network(spec)
                res = run.attack(tn.net, tn.X, tn.y, config.candidates_per_point * spec.n, config.attack,
                                 prior=_pixel_prior(config.box, tn.mean), seeds=_attack_seeds(draw, config.restarts))
                pooled = pool_scores(tn.X_clean, res.candidates, mean=tn.mean, image_shape=(1, 8, 8),
                                     rescale=True, kkt=res.kkt)
                order = pooled.score.argsort(descending=True)[:config.top_k]
                cell = {"median": pooled.median, "fraction": pooled.fraction, "shared": pooled.shared,
                        "kkt": pooled.kkt.median(), "eps_rel": kkt_residual(tn.net, tn.X, tn.y),
                        "mean_estimate": res.candidates.double().mean(), "ones_in_row_space": ones_in_row_space(tn.net),
                        "ssim": pooled.score, "recon": pooled.best_candidates[order], "nearest": pooled.X[order]}
                for k, v in cell.items():
                    out[k].append(_tensor(v))
    D, O, B = len(config.draws), len(config.offsets), len(config.biases)
    return dict(offsets=_tensor(config.offsets), biases=torch.tensor(config.biases), draws=torch.tensor(config.draws),
                **{k: torch.stack(v).reshape(D, O, B, *v[0].shape) for k, v in out.items()})
