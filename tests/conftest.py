"""Shared pytest configuration.

With ``--nbval`` (the README's test command) the run must actually compare notebooks: a run that
collected no notebook cell (a wrong path, a typo in the chapter folder) fails instead of passing
quietly on the unit tests alone. Every test runs on one torch CPU thread (``one_cpu_thread``).
"""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import settings

# Property-based tests explore new examples on every local run; in CI (CI=true) they replay a fixed
# sequence, so a submission's result does not depend on the draw.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def freed_memory_kept():
    """As in a chapter's setup cell (``runtime.setup``): freed memory stays in the process, so the tests'
    attacks do not page-fault their temporaries back at every step (``runtime.keep_freed_memory``)."""
    from reconleak_core.runtime import keep_freed_memory

    keep_freed_memory()


@pytest.fixture(scope="session", autouse=True)
def one_cpu_thread():
    """The tests' problems are tiny: one torch thread is several times faster than two on the 2-core CI
    machine (no synchronisation per small matmul) and sums in one order. Restored after the session."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    if not (config.getoption("nbval", default=False) or config.getoption("nbval_lax", default=False)):
        return
    from nbval.plugin import IPyNbCell

    if not any(isinstance(item, IPyNbCell) for item in session.items):
        raise pytest.UsageError(
            "--nbval was given but no notebook cell was collected: pass the chapters folder, e.g. "
            "`python3 -m pytest tests book --nbval ...`"
        )
