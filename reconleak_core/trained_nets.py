"""Trained networks of the book: a :class:`NetSpec` (data, architecture, training recipe) and the one
helper :func:`trained_network` that builds, trains and caches it.

Interface. ``trained_network(spec, *, device, progress, cache, cache_root, refresh)`` returns a
:class:`TrainedNet`: the training data as the network saw them (centred, shifted), the labels, the clean
data and the training mean, and the network after each checkpoint of ONE training run. Training is
``train.train_max_margin`` (gradient descent on an exponentially-tailed loss: by Lyu & Li 2020 and Ji &
Telgarsky 2020 the direction converges to a KKT point of the max-margin problem, the paper's §2). The
weights are cached on disk keyed by the spec (``cache.cached``, written atomically), so experiments and
chapters that share a network train it once. A network that does not separate its data has no KKT
normalisation: :func:`trained_network` raises ``ValueError`` and caches nothing.
Introduced in the book's chapter "The KKT reconstruction attack"; used by :mod:`reconleak_core.experiments`
and chapters 5–8.

Committed checkpoints. :data:`CHECKPOINTS` is a store of trained networks that ships with the package: cache
entries keyed exactly as :func:`trained_network` keys its own (spec and :data:`NETWORK_VERSION`), with
``MANIFEST.json`` naming each entry's spec, the command that made it, the torch version and the SHA-256 of the
entry file. A spec absent from the user's cache is loaded from there (the file's SHA-256 checked against
``MANIFEST.json`` — a mismatch, or a file the manifest does not list, raises ``ValueError`` — then the entry's
own digest, ``torch.load(weights_only=True)``) instead of trained; a change of the spec or of the version
misses the store and trains as before, so a stale entry is never used. :func:`store_checkpoints` writes the
store (``python -m reconleak_core checkpoints EXPERIMENT --seeds ...``: the networks of that experiment's
runs, trained on the CPU).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from reconleak_core import data
from reconleak_core.cache import cache_path, cached, entry_config, file_sha256
from reconleak_core.checks import (
    check_bool,
    check_int,
    check_positive,
    check_real,
    check_seed,
    is_sequence,
    set_frozen,
)
from reconleak_core.models import HomogeneousMLP, TwoLayerReLU, span_projector
from reconleak_core.runtime import get_device
from reconleak_core.train import TrainConfig, train_max_margin

__all__ = ["NetSpec", "TrainedNet", "trained_network", "NETWORK_VERSION", "CHECKPOINTS", "store_checkpoints"]

ARCHS = ("two_layer", "mlp3")
DATASETS = ("sphere", "digits")
#: Part of every trained network's cache key; bump it when training or the data change.
NETWORK_VERSION = 5
#: The committed store of trained networks (see the module docstring), read after the user's cache.
CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
_ENTRIES = "trained_net"   # the cache name of trained networks, in the user's cache and in the store


@dataclass(frozen=True)
class NetSpec:
    """A trained network: its data, architecture and training (the cache key of :func:`trained_network`).

    - ``dataset``: ``"sphere"`` (``data.sphere``: n points on the unit sphere of a ``subspace_dim``-dimensional
      subspace of ℝᵈ, the setting of Theorem 4) or ``"digits"`` (``data.digits``: 8×8 images,
      pixels in [0, 1], d = 64; ``d`` and ``subspace_dim`` must then be None).
    - ``center``: digits are centred by their training mean (Haim et al.; ``data.ImageSet``), default True.
    - ``offset``: the secret shift added to every coordinate of the data (after centring) before training.
    - ``arch``: ``"two_layer"`` (``TwoLayerReLU``, closed-form KKT loss) or ``"mlp3"`` (a 3-layer
      ``HomogeneousMLP`` with two hidden layers of ``width``, the generic KKT loss).
    - ``in_span``: initialise the first layer's rows inside the span of the data (Theorem 4's exact setting:
      gradient descent keeps them there); False keeps a component outside (Theorems 5, 8, 9).
    - ``train``: the recipe of ``train.train_max_margin`` (a ``TrainConfig``; its defaults, lr 0.3 with the
      smoothed-margin step, unless a preset says otherwise); ``steps`` reads ``train.steps``.
    - ``checkpoints``: earlier steps (< ``steps``) at which the weights are also kept (``training_length``).
    - ``bias``: a first-layer bias (``TwoLayerReLU(bias=True)``, as Haim et al.'s networks; two layers only).
      The net stays 2-homogeneous in θ = (W, b, v), so margin normalisation holds; ``certificate.certificate`` does
      not support it (``experiments.bias_shift`` measures such nets with
      :func:`~reconleak_core.experiments.bias_shift.kkt_residual` instead).

    ``n`` is the number of training points, ``classes`` the digit task of ``data.digits`` (ignored for sphere data),
    ``init_scale`` the initialisation scale of the network and ``seed`` draws the data and the initialisation.
    """

    dataset: str = "sphere"
    n: int = 20
    d: int | None = 10
    subspace_dim: int | None = 3
    classes: object = "odd_vs_even"
    center: bool = True
    offset: float = 0.0
    arch: str = "two_layer"
    width: int = 100
    init_scale: float = 0.1
    in_span: bool = True
    train: TrainConfig = TrainConfig()
    checkpoints: tuple = ()
    seed: int = 0
    bias: bool = False

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        check_int(self.n, "n", 2)
        if self.dataset == "sphere":
            check_int(self.d, "d")
            if self.subspace_dim is not None and check_int(self.subspace_dim, "subspace_dim") > self.d:
                raise ValueError(f"subspace_dim must be at most d={self.d}, got {self.subspace_dim}")
        elif self.d is not None or self.subspace_dim is not None:
            raise ValueError("digits have d = 64 and no subspace: leave d and subspace_dim as None")
        if not isinstance(self.classes, str):
            if not is_sequence(self.classes):
                raise TypeError(f"classes must be a name such as 'odd_vs_even' or a sequence of digit classes, "
                                f"got {type(self.classes).__name__} {self.classes!r}")
            set_frozen(self, classes=tuple(self.classes))
        if self.dataset == "digits":
            data.digit_labels(self.classes)
        check_real(self.offset, "offset")
        check_int(self.width, "width")
        check_positive(self.init_scale, "init_scale")
        set_frozen(self, **{flag: check_bool(getattr(self, flag), flag) for flag in ("in_span", "center", "bias")})
        if self.bias and self.arch != "two_layer":
            raise ValueError(f"bias=True needs arch='two_layer' (TwoLayerReLU(bias=True)), got arch={self.arch!r}")
        if not isinstance(self.train, TrainConfig):
            raise TypeError(f"train must be a TrainConfig, got {type(self.train).__name__}")
        if not is_sequence(self.checkpoints):
            raise TypeError(f"checkpoints must be a sequence of steps (e.g. (100, 500)), got "
                            f"{type(self.checkpoints).__name__} {self.checkpoints!r}")
        checkpoints = tuple(check_int(c, "checkpoints entry") for c in self.checkpoints)
        if list(checkpoints) != sorted(set(checkpoints)) or (checkpoints and checkpoints[-1] >= self.steps):
            raise ValueError(f"checkpoints must be increasing steps below steps={self.steps}, got {self.checkpoints!r}")
        set_frozen(self, checkpoints=checkpoints)
        check_seed(self.seed)

    @property
    def input_dim(self) -> int:
        return 64 if self.dataset == "digits" else self.d

    @property
    def steps(self) -> int:
        """Total training steps (``train.steps``)."""
        return self.train.steps

    def shifted(self, offset: float) -> NetSpec:
        """This spec trained on data shifted by ``offset``, with the step size divided by (1 + ∣offset∣)².

        The gradient of a ReLU net grows like ‖x‖², and a shift s adds s·√d to every ‖x‖; at the default
        lr 0.3 the first steps then switch every neuron off on centred digits shifted by s ≥ 1 (the
        measurements: ``benchmarks/RESULTS.md``, hand notes)."""
        offset = check_real(offset, "offset")
        train = dataclasses.replace(self.train, lr=self.train.lr / (1 + abs(offset)) ** 2)
        return dataclasses.replace(self, offset=offset, train=train)


@dataclass(frozen=True, eq=False)
class TrainedNet:
    """The outcome of :func:`trained_network`: the data and the network after every saved step.

    ``nets[k]`` is the network after ``steps[k]`` gradient steps (the checkpoints, then the final one; tuples);
    ``net`` is the final network. ``X`` is the (centred, shifted) training data the network saw (model
    coordinates), ``X_clean`` the same before the shift, ``mean`` the training mean that centring subtracted
    (zeros for sphere data or ``center=False``): ``X_clean + mean`` are the pixels. Float64 on the CPU.

    ``spec`` is the :class:`NetSpec` trained, ``y`` the ±1 labels.
    """

    spec: NetSpec
    X: torch.Tensor
    y: torch.Tensor
    X_clean: torch.Tensor
    steps: tuple
    nets: tuple
    mean: torch.Tensor

    @property
    def pixels(self) -> torch.Tensor:
        """The clean training points in pixel coordinates (``X_clean + mean``)."""
        return self.X_clean + self.mean

    @property
    def net(self) -> torch.nn.Module:
        return self.nets[-1]


def _data(spec: NetSpec):
    """The data of ``spec``: (X shifted by its offset, y, the clean X, the training mean)."""
    if spec.dataset == "sphere":
        X, y = data.sphere(spec.n, spec.d, subspace_dim=spec.subspace_dim, seed=spec.seed)
        mean = torch.zeros(spec.d, dtype=torch.float64)
    else:
        X, y, mean = (lambda s: (s.X, s.y, s.mean))(data.digits(spec.n, classes=spec.classes, seed=spec.seed,
                                                               center=spec.center))
    return data.shift(X, spec.offset), y, X, mean


def _new_net(spec: NetSpec, X: torch.Tensor) -> torch.nn.Module:

    if spec.arch == "two_layer":
        return TwoLayerReLU(spec.input_dim, spec.width, init_scale=spec.init_scale,
                            span=X if spec.in_span else None, bias=spec.bias, seed=spec.seed)
    net = HomogeneousMLP(spec.input_dim, (spec.width, spec.width), init_scale=spec.init_scale, seed=spec.seed)
    if spec.in_span:  # ∂Φ/∂(first-layer row) is a multiple of x, so gradient descent keeps the rows in the span too
        first = net.layers[0].weight
        with torch.no_grad():
            first.copy_(first @ span_projector(X, spec.input_dim, first.dtype))
    return net


def trained_network(spec: NetSpec, *, device="auto", progress: bool = False, cache: bool = True,
                    cache_root=None, refresh: bool = False, checkpoints: bool = True) -> TrainedNet:
    """Build the data and network of ``spec``, train it toward the max-margin direction, cache the weights.

    Training is ``train.train_max_margin`` (gradient descent on the exponentially-tailed loss; the paper's
    §2: the direction converges to a KKT point), run in segments ending at each checkpoint so that the
    intermediate networks of ONE run are kept. The weights are stored with ``cache.cached`` under the name
    ``"trained_net"``, keyed by ``spec`` (so a second experiment using the same spec does not retrain).
    ``checkpoints=True`` (default) reads the committed store :data:`CHECKPOINTS` when the cache has no
    entry (``refresh=True`` or ``cache=False`` trains regardless).
    Raises ``ValueError`` (and caches nothing) when the network does not separate its data at a checkpoint
    or at the end: such a network has no KKT normalisation.

    ``device``: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``; ``progress``: show progress bars;
    ``cache``: load the weights from the disk cache when there, else compute and store it; ``cache_root``: the cache
    folder (default ``$RECONLEAK_CACHE``, else ``~/.cache/reconleak``); ``refresh``: compute even when cached.
    """
    if not isinstance(spec, NetSpec):
        raise TypeError(f"spec must be a NetSpec, got {type(spec).__name__}")

    X, y, X_clean, mean = _data(spec)
    device = get_device(device)

    def compute():

        net = _new_net(spec, X).to(device)
        Xd, yd = X.to(device), y.to(device)
        states, done = [], 0
        for stop in (*spec.checkpoints, spec.steps):
            train_max_margin(net, Xd, yd, spec.train, steps=stop - done, progress=progress)
            done = stop
            with torch.no_grad():
                q_min = (yd * net(Xd)).min().item()
            if not q_min > 0:
                raise ValueError(f"the network of this NetSpec does not separate its data after {stop} steps "
                                 f"(min margin {q_min:.3g}), so it has no KKT normalisation: raise steps or lr "
                                 f"({spec.train}, checkpoints={spec.checkpoints})")
            states.append({k: v.detach().to("cpu", torch.float64).clone() for k, v in net.state_dict().items()})
        return {"states": states}

    key = {"spec": spec, "version": NETWORK_VERSION}
    cache, refresh = check_bool(cache, "cache"), check_bool(refresh, "refresh")
    stores = (CHECKPOINTS,) if check_bool(checkpoints, "checkpoints") else ()
    for store in stores if cache and not refresh else ():
        _check_committed(key, store)
    value = cached(key, compute, root=cache_root, name=_ENTRIES, refresh=refresh, fallbacks=stores) if cache \
        else compute()
    nets = []
    for state in value["states"]:
        net = _new_net(spec, X)
        net.load_state_dict(state)
        nets.append(net.eval())
    return TrainedNet(spec, X, y, X_clean, (*spec.checkpoints, spec.steps), tuple(nets), mean)


def _check_committed(key: dict, store: Path) -> None:
    """The committed entry of ``key`` in ``store`` (when there is one) must have the SHA-256 that
    ``store/MANIFEST.json`` records for it: its own header digest can be recomputed by whoever changes its
    weights, the manifest's (committed beside it) cannot without a visible change of the manifest."""

    path = cache_path(key, store, _ENTRIES)
    if not path.is_file():
        return
    manifest_path = Path(store) / "MANIFEST.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"the checkpoint store {store} has no readable MANIFEST.json ({exc}): its entries cannot "
                         "be checked") from exc
    record = manifest.get(path.name) if isinstance(manifest, dict) else None
    expected = record.get("sha256") if isinstance(record, dict) else None
    if expected is None:
        raise ValueError(f"committed checkpoint {path} is not listed with a SHA-256 in {manifest_path}: it is not "
                         "used (store it with `python -m reconleak_core checkpoints`, or pass checkpoints=False)")
    found = file_sha256(path)
    if found != expected:
        raise ValueError(f"committed checkpoint {path} has SHA-256 {found} but {manifest_path} records {expected}: "
                         "it was changed after it was stored and is not used (restore it from git, or pass "
                         "checkpoints=False to train)")


def store_checkpoints(cache_root, *, store=CHECKPOINTS, command: str) -> list[str]:
    """Copy the trained networks of the cache folder ``cache_root`` into the checkpoint ``store`` and record
    each in ``store/MANIFEST.json`` (its spec, ``command`` that made it, torch version, date, SHA-256 of the
    file); returns the
    entries' file names. Entries of an older :data:`NETWORK_VERSION` are refused: the store only holds
    networks that :func:`trained_network` would use."""

    if not isinstance(command, str) or not command.strip():
        raise ValueError("command must say how the networks were made (the command line that trained them)")
    for value, name in ((cache_root, "cache_root"), (store, "store")):
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name} must be a folder path (str or Path), got {type(value).__name__}")
    source, store = Path(cache_root) / _ENTRIES, Path(store)
    if store.exists() and not store.is_dir():
        raise ValueError(f"store {store} exists and is not a folder")
    files = sorted(source.glob("*.pt")) if source.is_dir() else []
    if not files:
        raise ValueError(f"no trained networks in {source}: nothing to store")
    manifest_path = store / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    (store / _ENTRIES).mkdir(parents=True, exist_ok=True)
    date = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}"
    for path in files:
        config = json.loads(entry_config(path))
        if config.get("version") != NETWORK_VERSION:
            raise ValueError(f"{path} was trained under NETWORK_VERSION {config.get('version')}, not "
                             f"{NETWORK_VERSION}: retrain it")
        part = store / _ENTRIES / f".{path.name}.part"
        shutil.copyfile(path, part)
        part.replace(store / _ENTRIES / path.name)   # atomic: a reader never sees half an entry
        manifest[path.name] = {"spec": config["spec"], "version": NETWORK_VERSION, "command": command,
                               "torch": torch.__version__, "date": date, "sha256": file_sha256(path)}
    part = store / ".MANIFEST.json.part"
    part.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    part.replace(manifest_path)
    return [p.name for p in files]
