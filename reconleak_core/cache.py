"""On-disk cache of expensive results (trained networks, attack outputs), keyed by their configuration.

Interface. :func:`cached(config, compute, name=...) <cached>` returns the stored value for
``config`` when there is one and otherwise calls ``compute()``, stores its result and returns it.
``config`` is a (frozen) dataclass or a dict of plain values; :func:`cache_key` turns it into a
SHA-256 of its canonical JSON, so equal configurations share an entry and any change of a value,
a field name or the dataclass's type gives a new one. Values are tensors, numbers, strings, None
and dicts/lists/tuples of them (a ``state_dict`` qualifies); they are stored detached and on the CPU
and come back on the CPU.

Guarantees. Entries are written atomically (temporary file in the same folder, fsync, ``os.replace``), so an
interrupted write never leaves a partial entry under an entry's name. A temporary file is named
``.<key>.<host>-<pid>.<random>.part`` after its writer; at every access to a folder (:func:`cached` reading or
writing there) the ``.part`` files of writers of this host that are no longer alive are deleted, whatever
their age (a live writer keeps its file), and those of other hosts, or of an older naming, once untouched for
:data:`STALE_PART_SECONDS`. An entry is a one-line header (``reconleak-cache 1 <sha256>``) followed by the
``torch.save`` bytes of ``{"config", "value"}``; the SHA-256 of those bytes is checked before they are read,
so any flipped byte is detected. Entries are read with ``torch.load(..., weights_only=True)``, which never
executes pickled code; an entry that cannot be read, fails its digest, or was stored for another
configuration, is a miss: a warning is issued and the value is recomputed and replaced. A folder (or anything
but a regular file) at an entry's path, or a root that is not a folder, raises ``ValueError`` naming the path.
The root folder is ``root`` if given, else the environment variable ``RECONLEAK_CACHE``, else
``$XDG_CACHE_HOME/reconleak``, else ``~/.cache/reconleak``; it is looked up at call time and created only when
an entry is written (nothing happens at import).
Include a code version in the configuration when the computation itself may change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import numbers
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from reconleak_core.checks import check_bool, is_sequence

__all__ = ["cache_root", "cache_key", "cache_path", "cached", "entry_config", "file_sha256", "STALE_PART_SECONDS"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_MAGIC = b"reconleak-cache 1 "
STALE_PART_SECONDS = 3600.0
"""A temporary ``.part`` file whose writer cannot be checked (another host, or no pid in its name) and that was
not modified for this long is an orphan of a killed write (a live writer writes its whole payload at once,
right before renaming it) and is deleted by the next access."""
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", os.uname().nodename if hasattr(os, "uname") else "host") or "host"
_PART = re.compile(r"\.[^.]+\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>[0-9]+)\.[^.]*\.part")


def file_sha256(path) -> str:
    """SHA-256 (hex) of the bytes of the file ``path``, read in 1 MiB blocks (the digest of committed checkpoints
    in ``MANIFEST.json`` and of downloaded archives)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_root(root=None) -> Path:
    """The cache folder: ``root``, else ``$RECONLEAK_CACHE``, else ``$XDG_CACHE_HOME/reconleak``,
    else ``~/.cache/reconleak``. Nothing is created. A ``root`` that is not a path (str or ``os.PathLike``), or
    that holds a NUL character, raises ``TypeError``/``ValueError``."""
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"the cache root must be a folder path (str or Path), got {type(root).__name__} {root!r}")
        if "\0" in os.fspath(root):
            raise ValueError(f"the cache root {root!r} holds a NUL character: it is not a valid path")
        return Path(root)
    if os.environ.get("RECONLEAK_CACHE"):
        return Path(os.environ["RECONLEAK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "reconleak"


def _canonical(value, where: str):
    """A JSON-ready copy of a configuration value; raises TypeError naming the offending entry."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):  # also NumPy integers
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise ValueError(f"configuration entry {where} is {value}: only finite numbers can be keyed")
        return float(value)
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _canonical(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)}
        return {"__dataclass__": f"{type(value).__module__}.{type(value).__qualname__}", **fields}
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"configuration entry {where} has non-string keys; use string keys")
        return {k: _canonical(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"configuration entry {where} has type {type(value).__name__}; use numbers, strings, "
                    "None, torch dtypes/devices, dataclasses, dicts and lists")


def _config_json(config) -> str:
    if not (isinstance(config, Mapping) or (dataclasses.is_dataclass(config) and not isinstance(config, type))):
        raise TypeError(f"config must be a dataclass instance or a dict, got {type(config).__name__}")
    try:
        canonical = _canonical(config, "config")
    except RecursionError:
        raise ValueError("config is nested too deeply (or refers to itself): it cannot be keyed") from None
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def cache_key(config) -> str:
    """SHA-256 (hex) of the canonical JSON of ``config`` (sorted keys, dataclass type included).

    The key is the same in every process and on every machine (no Python ``hash``). Tuples and lists
    key alike; ``1`` and ``1.0`` do not (type your dataclass fields).
    """
    return hashlib.sha256(_config_json(config).encode()).hexdigest()


def _check_name(name) -> str:
    if not (isinstance(name, str) and _NAME.fullmatch(name)):
        raise ValueError(f"name must be letters, digits, '_', '.' or '-' (a folder name), got {name!r}")
    return name


def cache_path(config, root=None, name: str = "result") -> Path:
    """Where the entry of ``config`` lives: ``<root>/<name>/<cache_key(config)>.pt``.

    ``root``: the cache folder (default :func:`cache_root`); ``name``: the subfolder of this kind of entry.
    """
    return cache_root(root) / _check_name(name) / f"{cache_key(config)}.pt"


def _portable(value, where: str = "value"):
    """A detached CPU copy of a storable value; raises TypeError naming anything else."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        if not all(isinstance(k, (str, int)) for k in value):
            raise TypeError(f"{where} has keys that are not strings or integers; they cannot be cached")
        return {k: _portable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_portable(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(f"{where} has type {type(value).__name__}; only tensors, numbers, strings, None and "
                    "dicts/lists/tuples of them can be cached")


def _check_folder(folder: Path) -> None:
    """Raise ``ValueError`` when ``folder`` or one of its parents exists but is not a folder."""
    for part in (folder, *folder.parents):
        if part.exists() or part.is_symlink():
            if not part.is_dir():
                raise ValueError(f"cache folder {folder} cannot be created: {part} exists and is not a folder")
            return


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):   # another user's process, or not a valid pid
        return True
    return True


def _clean_stale_parts(folder: Path) -> None:
    """Delete in ``folder`` the ``.part`` files of dead writers of this host, and the other ``.part`` files
    untouched for ``STALE_PART_SECONDS`` (see the module docstring)."""
    if not folder.is_dir():
        return
    now = time.time()
    for part in folder.glob(".*.part"):
        owner = _PART.fullmatch(part.name)
        try:
            if not part.is_file():
                continue
            if owner is not None and owner["host"] == _HOST:
                orphan = int(owner["pid"]) != os.getpid() and not _alive(int(owner["pid"]))
            else:
                orphan = now - part.stat().st_mtime > STALE_PART_SECONDS
            if orphan:
                part.unlink()
        except OSError:  # removed meanwhile by another process, or not ours to remove
            pass


def _encode(payload) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    return _MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def _write_atomic(path: Path, payload) -> None:
    data = _encode(payload)  # serialised before any file exists: a failure here leaves nothing behind
    _check_folder(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cache folder {path.parent} cannot be created: {exc.strerror or exc}") from exc
    _clean_stale_parts(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.{_HOST}-{os.getpid()}.", suffix=".part")
    except OSError as exc:
        raise ValueError(f"cache folder {path.parent} is not writable: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _read(path: Path, config_json: str):
    """The stored value, or raise if the entry is unreadable, fails its digest or belongs to another configuration."""
    payload = _payload(path)
    if payload["config"] != config_json:
        raise ValueError("stored for a different configuration")
    return payload["value"]


def entry_config(path) -> str:
    """The canonical JSON of the configuration that the entry file ``path`` was stored for (its SHA-256
    checked first; ``ValueError`` for anything that is not an intact entry)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or Path), got {type(path).__name__}")
    try:
        return _payload(Path(path))["config"]
    except ValueError as exc:
        raise ValueError(f"{path} is not an intact reconleak cache entry: {exc}") from exc


def _payload(path: Path) -> dict:
    """The ``{"config", "value"}`` of the entry file ``path``; ``ValueError`` for anything else (a missing or
    unreadable file, no digest header, a digest mismatch, a pickle that ``weights_only`` refuses)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    header, _, body = data.partition(b"\n")
    if not header.startswith(_MAGIC) or len(header) != len(_MAGIC) + 64:
        raise ValueError("not a reconleak cache entry (no digest header)")
    if hashlib.sha256(body).hexdigest().encode() != header[len(_MAGIC):]:
        raise ValueError("SHA-256 mismatch: the entry's bytes were changed after it was written")
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(f"its payload cannot be loaded safely ({type(exc).__name__}: {str(exc)[:200]})") from exc
    if not (isinstance(payload, dict) and set(payload) == {"config", "value"}):
        raise ValueError("not a reconleak cache entry")
    return payload


def cached(config, compute: Callable[[], object], root=None, name: str = "result", refresh: bool = False,
           fallbacks=()):
    """Load the value stored for ``config`` under ``name``, or compute, store and return it.

    ``compute`` takes no argument (close over what it needs). ``refresh=True`` recomputes and
    replaces an existing entry. A corrupt (digest mismatch, unreadable) or foreign entry is recomputed
    with a ``UserWarning``. ``fallbacks``: read-only folders laid out like a cache root (a committed store
    of precomputed values, such as ``trained_nets.CHECKPOINTS``), searched in order when ``root`` has no
    entry and ``refresh`` is off: an entry found there is checked like any other and returned as it is
    (nothing is written); a corrupt one is skipped with a ``UserWarning`` (``fallbacks`` is a list or tuple of
    folders; ``refresh`` is True or False). Something other than a file at the entry's path, or a cache
    folder that cannot be created or written, raises ``ValueError`` (checked before ``compute`` runs where possible).
    The returned value is detached and on the CPU in both cases (hit or miss), so a chapter behaves
    the same whether or not the cache was warm.
    """
    if not callable(compute):
        raise TypeError(f"compute must be a callable taking no argument, got {type(compute).__name__}")
    refresh = check_bool(refresh, "refresh")
    if isinstance(fallbacks, (str, bytes, os.PathLike)) or not is_sequence(fallbacks):
        raise TypeError(f"fallbacks must be a list or tuple of folders, got {type(fallbacks).__name__} "
                        f"{fallbacks!r} (one folder: fallbacks=[folder])")
    for folder in fallbacks:
        if not isinstance(folder, (str, os.PathLike)):
            raise TypeError(f"every fallback must be a folder path (str or Path), got {type(folder).__name__}")
    config_json = _config_json(config)
    path = cache_path(config, root, name)
    if (path.exists() or path.is_symlink()) and not path.is_file():
        raise ValueError(f"cache entry path {path} exists but is not a regular file (a folder or a broken link?); "
                         "remove it or choose another cache folder")
    _check_folder(path.parent)
    _clean_stale_parts(path.parent)
    if path.is_file() and not refresh:
        try:
            return _read(path, config_json)
        except Exception as exc:  # noqa: BLE001 - any unreadable entry is a miss, by design
            warnings.warn(f"cache entry {path} is unreadable ({type(exc).__name__}: {exc}); recomputing it",
                          stacklevel=2)
    for folder in () if refresh else fallbacks:
        stored = cache_path(config, folder, name)
        if stored.is_file():
            try:
                return _read(stored, config_json)
            except Exception as exc:  # noqa: BLE001 - a damaged store entry is skipped, never trusted
                warnings.warn(f"stored entry {stored} is unreadable ({type(exc).__name__}: {exc}); skipping it",
                              stacklevel=2)
    value = _portable(compute())
    _write_atomic(path, {"config": config_json, "value": value})
    return value
