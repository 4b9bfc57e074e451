"""Claim: every registered experiment runs at its default scale (``book``) on seeds 0, 1 and 2 as far as its networks
go: each network its preset trains (the config's ``networks()``) is a committed checkpoint that separates its data.

A reader's ``python -m reconleak_core reproduce <name> --seed s`` therefore never stops at "does not separate its
data" (``deep_init_radius`` once did on seeds 0–2), and never trains a book network first. The check only loads:
``trained_network`` with an empty cache reads the store :data:`reconleak_core.trained_nets.CHECKPOINTS` (which
verifies each file's SHA-256 against ``MANIFEST.json``); a network missing from the store fails here with the
command that adds it.
"""

from __future__ import annotations

import dataclasses

import pytest

from reconleak_core import trained_nets
from reconleak_core.experiments import EXPERIMENTS
from reconleak_core.kkt import margins

SEEDS = (0, 1, 2)


def _cases():
    for name in EXPERIMENTS:
        for seed in SEEDS:
            yield pytest.param(name, seed, id=f"{name}-{seed}")


@pytest.mark.parametrize(("name", "seed"), _cases())
def test_every_book_preset_network_is_committed_and_separates_its_data(name, seed, tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError(f"a network of {name}'s book preset (seed {seed}) is not in the checkpoint store: add "
                             f"it with python -m reconleak_core checkpoints {name} --scale book --seeds {seed}")

    monkeypatch.setattr(trained_nets, "train_max_margin", no_training)
    for spec in EXPERIMENTS[name].preset("book", seed).networks():
        tn = trained_nets.trained_network(spec, device="cpu", cache_root=tmp_path)
        for net in tn.nets:
            assert margins(net, tn.X, tn.y).min().item() > 0, (name, spec)


def test_the_check_fails_for_a_network_that_is_not_committed(tmp_path, monkeypatch):
    committed = EXPERIMENTS["init_radius"].preset("book", 0).networks()[0]
    monkeypatch.setattr(trained_nets, "train_max_margin", _refuse)
    trained_nets.trained_network(committed, device="cpu", cache_root=tmp_path)   # loaded: no training
    with pytest.raises(AssertionError, match="training"):
        trained_nets.trained_network(dataclasses.replace(committed, seed=12345), device="cpu", cache_root=tmp_path)


def _refuse(*args, **kwargs):
    raise AssertionError("training started")
