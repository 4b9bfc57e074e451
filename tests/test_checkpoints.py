"""Committed checkpoints: the store of trained networks that ships with the package (``trained_nets.CHECKPOINTS``).

A spec absent from the user's cache is loaded from the store instead of trained; a damaged or foreign
store entry is never trusted; the maintainers' command writes entries and their manifest; and every
committed entry is intact, current (this NETWORK_VERSION) and listed, so the store cannot go stale
silently.
"""

import hashlib
import io
import json
import subprocess
import sys

import pytest
import torch

from reconleak_core import cache, trained_nets
from reconleak_core.trained_nets import CHECKPOINTS, NETWORK_VERSION, NetSpec, TrainConfig, trained_network

SPEC = NetSpec(n=6, d=4, subspace_dim=2, width=8, train=TrainConfig(steps=300))


def _no_training(*args, **kwargs):
    raise AssertionError("trained although the network was in a store")


def test_cache_reads_a_fallback_store_without_writing_to_it_or_to_the_cache(tmp_path):
    cache.cached({"a": 1}, lambda: torch.ones(3), root=tmp_path / "store", name="x")
    before = sorted((tmp_path / "store").rglob("*"))
    value = cache.cached({"a": 1}, lambda: pytest.fail("computed"), root=tmp_path / "user", name="x",
                         fallbacks=(tmp_path / "store",))
    assert torch.equal(value, torch.ones(3))
    assert not (tmp_path / "user").exists() and sorted((tmp_path / "store").rglob("*")) == before


def test_a_damaged_store_entry_is_skipped_with_a_warning_and_recomputed(tmp_path):
    store = tmp_path / "store"
    cache.cached({"a": 1}, lambda: torch.ones(3), root=store, name="x")
    entry = cache.cache_path({"a": 1}, store, "x")
    data = bytearray(entry.read_bytes())
    data[-5] ^= 0xFF
    entry.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="stored entry .* unreadable"):
        value = cache.cached({"a": 1}, lambda: torch.zeros(3), root=tmp_path / "user", name="x", fallbacks=(store,))
    assert torch.equal(value, torch.zeros(3))


def test_refresh_ignores_the_store(tmp_path):
    cache.cached({"a": 1}, lambda: torch.ones(3), root=tmp_path / "store", name="x")
    value = cache.cached({"a": 1}, lambda: torch.zeros(3), root=tmp_path / "user", name="x", refresh=True,
                         fallbacks=(tmp_path / "store",))
    assert torch.equal(value, torch.zeros(3))


def test_trained_network_loads_a_stored_network_instead_of_training(tmp_path, monkeypatch):
    made = trained_network(SPEC, device="cpu", cache_root=tmp_path / "made")
    names = trained_nets.store_checkpoints(tmp_path / "made", store=tmp_path / "store", command="pytest")
    manifest = json.loads((tmp_path / "store" / "MANIFEST.json").read_text())
    assert list(manifest) == names and manifest[names[0]]["version"] == NETWORK_VERSION
    assert manifest[names[0]]["spec"]["width"] == SPEC.width and manifest[names[0]]["command"] == "pytest"
    monkeypatch.setattr(trained_nets, "CHECKPOINTS", tmp_path / "store")
    monkeypatch.setattr(trained_nets, "train_max_margin", _no_training)
    loaded = trained_network(SPEC, device="cpu", cache_root=tmp_path / "user")
    assert torch.equal(loaded.net.W, made.net.W) and torch.equal(loaded.net.v, made.net.v)
    with pytest.raises(AssertionError, match="trained although"):   # checkpoints=False: the store is not read
        trained_network(SPEC, device="cpu", cache_root=tmp_path / "user2", checkpoints=False)
    with pytest.raises(AssertionError, match="trained although"):   # another spec misses the store
        trained_network(NetSpec(n=6, d=4, subspace_dim=2, width=9, train=TrainConfig(steps=300)), device="cpu",
                        cache_root=tmp_path / "user3")


def test_store_refuses_an_empty_source_a_missing_command_and_an_old_version(tmp_path):
    with pytest.raises(ValueError, match="no trained networks"):
        trained_nets.store_checkpoints(tmp_path / "empty", store=tmp_path / "store", command="pytest")
    trained_network(SPEC, device="cpu", cache_root=tmp_path / "made")
    with pytest.raises(ValueError, match="command must say"):
        trained_nets.store_checkpoints(tmp_path / "made", store=tmp_path / "store", command=" ")
    old = {"spec": SPEC, "version": NETWORK_VERSION - 1}
    cache.cached(old, lambda: {"states": []}, root=tmp_path / "old", name="trained_net")
    with pytest.raises(ValueError, match="NETWORK_VERSION"):
        trained_nets.store_checkpoints(tmp_path / "old", store=tmp_path / "store", command="pytest")


def test_checkpoints_command_stores_an_experiments_networks(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "reconleak_core", "checkpoints", "training_leak", "--scale", "test",
                           "--seeds", "0", "--store", str(tmp_path / "store")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "store" / "MANIFEST.json").read_text())
    assert manifest and all(e["command"].startswith("python -m reconleak_core checkpoints training_leak")
                            for e in manifest.values())
    assert sorted(p.name for p in (tmp_path / "store" / "trained_net").glob("*.pt")) == sorted(manifest)
    bad = subprocess.run([sys.executable, "-m", "reconleak_core", "checkpoints", "training_leak", "--seeds", "-1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "seed" in bad.stderr


def test_committed_checkpoints_are_intact_current_and_listed():
    manifest = json.loads((CHECKPOINTS / "MANIFEST.json").read_text())
    files = sorted(p.name for p in (CHECKPOINTS / "trained_net").glob("*.pt"))
    assert files and files == sorted(manifest), "MANIFEST.json and the stored files differ"
    for name in files:
        config = json.loads(cache.entry_config(CHECKPOINTS / "trained_net" / name))   # digest checked
        assert config["version"] == NETWORK_VERSION, (
            f"{name} is stale (NETWORK_VERSION {config['version']}): rerun {manifest[name]['command']}")
        assert config["spec"] == manifest[name]["spec"]
        assert cache.cache_key(config) + ".pt" == name   # the name trained_network looks up
        assert manifest[name]["sha256"] == cache.file_sha256(CHECKPOINTS / "trained_net" / name)


def test_chapter_seven_networks_are_all_committed():
    """The book preset of shift_guess, seeds 0-2 (chapter "Shifted images"): every network is in the store."""
    from reconleak_core.experiments import ShiftGuessConfig

    for seed in (0, 1, 2):
        config = ShiftGuessConfig.preset("book", seed=seed)
        for offset, spec in zip(config.offsets, config.networks()):
            key = {"spec": spec, "version": NETWORK_VERSION}
            assert cache.cache_path(key, CHECKPOINTS, "trained_net").is_file(), (seed, offset)


def test_a_committed_checkpoint_whose_weights_and_header_digest_were_both_changed_is_refused(tmp_path, monkeypatch):
    """The entry's own header digest can be recomputed by whoever edits its weights; the SHA-256 of the file
    in MANIFEST.json cannot without a visible change of the manifest, so such a file is refused, not loaded."""
    trained_network(SPEC, device="cpu", cache_root=tmp_path / "made")
    name, = trained_nets.store_checkpoints(tmp_path / "made", store=tmp_path / "store", command="pytest")
    entry = tmp_path / "store" / "trained_net" / name
    header, _, body = entry.read_bytes().partition(b"\n")
    payload = torch.load(io.BytesIO(body), weights_only=True)
    payload["value"]["states"][-1]["W"] *= -1.0           # the forgery
    forged = io.BytesIO()
    torch.save(payload, forged)
    forged = forged.getvalue()
    entry.write_bytes(b"reconleak-cache 1 " + hashlib.sha256(forged).hexdigest().encode() + b"\n" + forged)
    json.loads(cache.entry_config(entry))                 # its own digest holds
    monkeypatch.setattr(trained_nets, "CHECKPOINTS", tmp_path / "store")
    monkeypatch.setattr(trained_nets, "train_max_margin", _no_training)
    with pytest.raises(ValueError, match="was changed after it was stored"):
        trained_network(SPEC, device="cpu", cache_root=tmp_path / "user")
    manifest = json.loads((tmp_path / "store" / "MANIFEST.json").read_text())
    del manifest[name]["sha256"]
    (tmp_path / "store" / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="not listed with a SHA-256"):
        trained_network(SPEC, device="cpu", cache_root=tmp_path / "user")
