"""The on-disk cache: round trip, stable keys, atomic writes, corrupt entries recomputed safely."""

import dataclasses
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from reconleak_core import cache
from reconleak_core.cache import cache_key, cache_path, cache_root, cached


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    width: int = 100
    lr: float = 0.01
    steps: int = 1000
    dtype: torch.dtype = torch.float64
    widths: tuple = (10, 10)


@dataclasses.dataclass(frozen=True)
class AttackConfig:
    width: int = 100
    lr: float = 0.01
    steps: int = 1000
    dtype: torch.dtype = torch.float64
    widths: tuple = (10, 10)


class Counter:
    """A ``compute`` that counts its calls and returns a dict of tensors (like a state_dict)."""

    def __init__(self, seed=0):
        self.calls = 0
        self.seed = seed

    def __call__(self):
        self.calls += 1
        gen = torch.Generator().manual_seed(self.seed)
        return {"W": torch.randn(3, 4, generator=gen, dtype=torch.float64), "steps": 7,
                "history": [torch.tensor(1.5), 2.5], "note": "ok"}


def entries(folder):
    """Every file under ``folder`` (entries and anything else)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_cached_round_trip_computes_once(tmp_path):
    compute = Counter()
    first = cached(TrainConfig(), compute, root=tmp_path, name="nets")
    second = cached(TrainConfig(), compute, root=tmp_path, name="nets")
    assert compute.calls == 1
    assert torch.equal(first["W"], second["W"]) and second["W"].dtype == torch.float64
    assert second["steps"] == 7 and second["note"] == "ok" and second["history"][1] == 2.5
    assert entries(tmp_path) == [f"nets/{cache_key(TrainConfig())}.pt"]


def test_cache_key_is_stable_and_ignores_dict_order():
    assert cache_key(TrainConfig()) == cache_key(TrainConfig())
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": (1, 2), "a": 1})
    assert cache_key({"n": np.int64(3)}) == cache_key({"n": 3})
    assert len(cache_key(TrainConfig())) == 64


def test_cache_key_is_the_same_in_a_fresh_process():
    code = ("from reconleak_core.cache import cache_key; "
            "print(cache_key({'width': 100, 'lr': 0.01, 'name': 'x', 'nested': {'b': [1, 2.5]}}))")
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == cache_key({"nested": {"b": [1, 2.5]}, "name": "x", "lr": 0.01, "width": 100})


@pytest.mark.parametrize(
    "changed",
    [
        TrainConfig(width=101),
        TrainConfig(lr=0.010000000000000002),
        TrainConfig(dtype=torch.float32),
        TrainConfig(widths=(10, 11)),
        AttackConfig(),  # same fields, different configuration type
        dataclasses.asdict(TrainConfig()),
    ],
)
def test_cache_key_changes_with_any_configuration_change(changed):
    assert cache_key(changed) != cache_key(TrainConfig())


def test_different_configs_and_names_get_different_entries(tmp_path):
    a = cached(TrainConfig(), Counter(seed=1), root=tmp_path)
    b = cached(TrainConfig(width=5), Counter(seed=2), root=tmp_path)
    c = cached(TrainConfig(), Counter(seed=3), root=tmp_path, name="other")
    assert not torch.equal(a["W"], b["W"]) and not torch.equal(a["W"], c["W"])
    assert len(entries(tmp_path)) == 3


def test_interrupted_serialisation_leaves_no_entry_and_no_litter(tmp_path, monkeypatch):
    real_save = torch.save

    def save_half_then_fail(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial bytes")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        cached(TrainConfig(), Counter(), root=tmp_path)
    assert entries(tmp_path) == []
    monkeypatch.setattr(torch, "save", real_save)
    compute = Counter()
    cached(TrainConfig(), compute, root=tmp_path)
    assert compute.calls == 1 and entries(tmp_path) == [f"result/{cache_key(TrainConfig())}.pt"]


def test_interruption_between_write_and_replace_leaves_no_entry(tmp_path, monkeypatch):
    def killed(src, dst):
        raise OSError("killed before the rename")

    monkeypatch.setattr(cache.os, "replace", killed)
    with pytest.raises(OSError, match="killed"):
        cached(TrainConfig(), Counter(), root=tmp_path)
    assert not cache_path(TrainConfig(), tmp_path).exists()
    assert entries(tmp_path) == []


def test_leftover_temporary_file_is_never_read_as_an_entry(tmp_path):
    path = cache_path(TrainConfig(), tmp_path)
    path.parent.mkdir(parents=True)
    (path.parent / f".{path.stem}.abc.part").write_bytes(b"half an entry")
    compute = Counter()
    cached(TrainConfig(), compute, root=tmp_path)
    assert compute.calls == 1


def test_corrupt_entry_is_recomputed_and_replaced_with_a_warning(tmp_path):
    path = cache_path(TrainConfig(), tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage, not a torch file")
    compute = Counter()
    with pytest.warns(UserWarning, match="unreadable"):
        value = cached(TrainConfig(), compute, root=tmp_path)
    assert compute.calls == 1 and torch.equal(value["W"], Counter()()["W"])
    cached(TrainConfig(), compute, root=tmp_path)
    assert compute.calls == 1  # the replaced entry is valid


SIDE_EFFECTS = []


def _side_effect():
    SIDE_EFFECTS.append("pickled code ran")
    return {}


class _Malicious:
    def __reduce__(self):
        return (_side_effect, ())


def test_entry_with_pickled_code_is_never_executed(tmp_path):
    path = cache_path(TrainConfig(), tmp_path)
    path.parent.mkdir(parents=True)
    torch.save({"config": "x", "value": _Malicious()}, path)
    with pytest.warns(UserWarning, match="unreadable"):
        cached(TrainConfig(), Counter(), root=tmp_path)
    assert SIDE_EFFECTS == []


def test_entry_stored_for_another_configuration_is_a_miss(tmp_path):
    cached(TrainConfig(width=1), Counter(seed=1), root=tmp_path)
    src, dst = cache_path(TrainConfig(width=1), tmp_path), cache_path(TrainConfig(), tmp_path)
    os.replace(src, dst)
    compute = Counter(seed=2)
    with pytest.warns(UserWarning, match="different configuration"):
        value = cached(TrainConfig(), compute, root=tmp_path)
    assert compute.calls == 1 and torch.equal(value["W"], Counter(seed=2)()["W"])


def test_refresh_recomputes_and_replaces(tmp_path):
    cached(TrainConfig(), Counter(seed=1), root=tmp_path)
    value = cached(TrainConfig(), Counter(seed=2), root=tmp_path, refresh=True)
    again = cached(TrainConfig(), Counter(seed=3), root=tmp_path)
    assert torch.equal(value["W"], again["W"]) and torch.equal(again["W"], Counter(seed=2)()["W"])


def test_values_come_back_detached_on_cpu_for_hits_and_misses(tmp_path):
    def compute():
        return {"w": torch.ones(2, requires_grad=True) * 2}

    miss = cached({"k": 1}, compute, root=tmp_path)
    hit = cached({"k": 1}, compute, root=tmp_path)
    for value in (miss, hit):
        assert not value["w"].requires_grad and value["w"].device.type == "cpu"


def test_cache_root_precedence_and_no_directory_created(tmp_path, monkeypatch):
    monkeypatch.setenv("RECONLEAK_CACHE", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert cache_root() == tmp_path / "env"
    monkeypatch.delenv("RECONLEAK_CACHE")
    assert cache_root() == tmp_path / "xdg" / "reconleak"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == tmp_path / "home" / ".cache" / "reconleak"
    cache_path(TrainConfig())
    assert list(tmp_path.iterdir()) == []
    cached(TrainConfig(), Counter())
    assert (tmp_path / "home" / ".cache" / "reconleak" / "result").is_dir()


@pytest.mark.parametrize(
    "config, compute, name, error, match",
    [
        ({"a": object()}, Counter(), "r", TypeError, r"config\['a'\] has type object"),
        ({"a": float("nan")}, Counter(), "r", ValueError, "finite"),
        ({1: 2}, Counter(), "r", TypeError, "string keys"),
        ([1, 2], Counter(), "r", TypeError, "dataclass instance or a dict"),
        ({"a": 1}, "not callable", "r", TypeError, "callable"),
        ({"a": 1}, Counter(), "../escape", ValueError, "name"),
        ({"a": 1}, lambda: {"f": open}, "r", TypeError, r"value\['f'\] has type builtin_function_or_method"),
    ],
)
def test_cached_rejects_bad_arguments_without_writing(tmp_path, config, compute, name, error, match):
    with pytest.raises(error, match=match):
        cached(config, compute, root=tmp_path, name=name)
    assert entries(tmp_path) == []


def test_entries_carry_a_digest_and_every_byte_flip_in_tensor_data_is_detected(tmp_path):
    config = {"what": "byte flips"}

    def compute():
        return {"W": torch.randn(64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)}

    reference = cached(config, compute, root=tmp_path)["W"]
    path = cache_path(config, tmp_path)
    clean = path.read_bytes()
    assert clean.startswith(b"reconleak-cache 1 ")
    # the tensor's raw bytes lie in the body; flip one random bit of them at a time
    start = clean.index(reference.numpy().tobytes()[:64])
    rng = np.random.default_rng(0)
    detected = 0
    for _ in range(40):
        raw = bytearray(clean)
        raw[start + int(rng.integers(reference.numel() * 8))] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(raw))
        with pytest.warns(UserWarning, match="SHA-256 mismatch"):
            value = cached(config, compute, root=tmp_path)
        detected += 1
        assert torch.equal(value["W"], reference)  # recomputed, never the corrupted values
    assert detected == 40
    assert path.read_bytes() == clean


def test_stale_part_files_are_removed_and_fresh_ones_kept(tmp_path):
    path = cache_path(TrainConfig(), tmp_path)
    path.parent.mkdir(parents=True)
    stale, fresh = path.parent / ".old.abc.part", path.parent / ".new.def.part"
    stale.write_bytes(b"x" * 100)
    fresh.write_bytes(b"y" * 100)
    old = os.path.getmtime(stale) - cache.STALE_PART_SECONDS - 10
    os.utime(stale, (old, old))
    cached(TrainConfig(), Counter(), root=tmp_path)
    assert not stale.exists() and fresh.exists()


def test_a_folder_at_an_entry_path_or_a_file_as_root_is_a_clear_error(tmp_path):
    path = cache_path(TrainConfig(), tmp_path)
    path.mkdir(parents=True)
    compute = Counter()
    with pytest.raises(ValueError, match="not a regular file"):
        cached(TrainConfig(), compute, root=tmp_path)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError, match="is not a folder"):
        cached(TrainConfig(), compute, root=tmp_path / "file")
    assert compute.calls == 0  # refused before computing


def test_part_files_of_dead_writers_go_at_the_next_access_whatever_their_age_and_live_writers_keep_theirs(tmp_path):
    """A writer records its host and pid in its .part file's name; a killed writer's fresh file is an orphan."""
    path = cache_path(TrainConfig(), tmp_path)
    path.parent.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = cache._HOST
    orphan = path.parent / f".{path.stem}.{host}-{dead.pid}.k3j2h1.part"
    alive = path.parent / f".{path.stem}.{host}-{os.getppid()}.a1b2c3.part"
    foreign = path.parent / f".{path.stem}.otherhost-{dead.pid}.zz9y8x.part"
    for part in (orphan, alive, foreign):
        part.write_bytes(b"half an entry")
    compute = Counter()
    cached(TrainConfig(), compute, root=tmp_path)          # a miss: computes and writes
    assert not orphan.exists() and alive.exists() and foreign.exists()
    orphan.write_bytes(b"half an entry")
    cached(TrainConfig(), compute, root=tmp_path)          # a hit: reading cleans the folder too
    assert not orphan.exists() and alive.exists() and compute.calls == 1


@pytest.mark.parametrize("kwargs, error, message", [
    ({"refresh": "no"}, TypeError, "refresh must be True or False"),
    ({"refresh": 1}, TypeError, "refresh must be True or False"),
    ({"fallbacks": "a/folder"}, TypeError, "fallbacks must be a list or tuple of folders"),
    ({"fallbacks": [3]}, TypeError, "every fallback must be a folder path"),
])
def test_cached_refuses_a_refresh_that_is_not_a_boolean_and_fallbacks_that_are_not_a_list_of_folders(
        tmp_path, kwargs, error, message):
    compute = Counter()
    with pytest.raises(error, match=message):
        cached(TrainConfig(), compute, root=tmp_path, **kwargs)
    assert compute.calls == 0


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_entry_config_of_a_missing_file_or_a_refused_pickle_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        cache.entry_config(tmp_path / "missing.pt")
    body = b"\x80\x04cos\nsystem\n."                        # a pickle that would call os.system
    entry = tmp_path / "evil.pt"
    entry.write_bytes(b"reconleak-cache 1 " + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    with pytest.raises(ValueError, match="cannot be loaded safely"):
        cache.entry_config(entry)
