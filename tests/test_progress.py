"""The library's progress bars stay cheap in a notebook: every redraw of a ``tqdm`` widget is a few IOPub
messages, and a cell that queues thousands of them loses its final "idle" status past ZeroMQ's
high-water mark, which nbval reports as "Timeout of 5 seconds exceeded waiting for output" (CI failed
so on chapter 2 with training bars that redrew at every logged step). Here a real kernel runs the
library's loops and the IOPub messages of each cell are counted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from reconleak_core import runtime

ROOT = Path(__file__).resolve().parents[1]

# 3,000 iterations of about 1 ms, a postfix at every one: tqdm's default (a redraw every 0.1 s, and at
# every set_postfix) would send thousands of widget messages
BAR_CELL = """
import time
from reconleak_core import runtime
bar = runtime.progress_bar(range(3000), desc="loop", enabled=True)
for i in bar:
    time.sleep(0.001)
    bar.set_postfix(i=i)
bar.close()
"""

# training that logs (and sets the bar's postfix) at every one of its 3,000 steps
TRAIN_CELL = """
import torch
from reconleak_core import models, train
torch.manual_seed(0)
X = torch.randn(8, 3, dtype=torch.float64)
y = torch.tensor([1.0, -1.0] * 4, dtype=torch.float64)
net = models.TwoLayerReLU(3, 20)
train.train_max_margin(net, X, y, train.TrainConfig(steps=3000, lr=0.1), log_every=1, progress=True)
"""

# a redraw is at most a handful of messages; one per second over a few seconds stays far below this
MAX_MESSAGES = 200


def _iopub_messages(client, code: str) -> tuple[int, list[str]]:
    """The number of IOPub messages a cell sends until its kernel is idle, and its error lines."""
    msg_id = client.execute(code)
    count, errors = 0, []
    while True:
        msg = client.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        count += 1
        if msg["msg_type"] == "error":
            errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return count, errors


@pytest.fixture(scope="module")
def kernel_client():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    manager, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(ROOT))
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("cell", [BAR_CELL, TRAIN_CELL], ids=["progress_bar", "train"])
def test_a_long_loop_sends_few_iopub_messages(kernel_client, cell):
    count, errors = _iopub_messages(kernel_client, cell)
    assert not errors, errors
    assert count <= MAX_MESSAGES, f"the cell sent {count} IOPub messages (at most {MAX_MESSAGES} wanted)"


def test_the_widget_bar_is_the_one_counted(kernel_client):
    """The counts above are of a widget bar (tqdm.auto in a kernel), not of a text bar."""
    _, errors = _iopub_messages(kernel_client, "import tqdm.auto, tqdm.notebook\n"
                                               "assert issubclass(tqdm.auto.tqdm, tqdm.notebook.tqdm)")
    assert not errors, errors


def test_progress_bar_checks_its_input():
    with pytest.raises(TypeError, match="enabled must be"):
        runtime.progress_bar(range(3), desc="x", enabled="yes")
    with pytest.raises(ValueError, match="total"):
        runtime.progress_bar(total=-1, desc="x", enabled=False)
    with pytest.raises(TypeError, match="desc must be a string"):
        runtime.progress_bar(range(3), desc=3, enabled=False)


def test_a_disabled_bar_iterates_and_takes_postfixes():
    bar = runtime.progress_bar(range(4), desc="x", enabled=False)
    seen = []
    for i in bar:
        bar.set_postfix(i=i)
        seen.append(i)
    bar.close()
    assert seen == [0, 1, 2, 3]


def test_tqdms_default_would_fail_the_count(kernel_client):
    """The measure can fail: the same loop with a plain ``tqdm.auto`` bar (a redraw at every postfix)."""
    plain = BAR_CELL.replace('runtime.progress_bar(range(3000), desc="loop", enabled=True)',
                             'tqdm(range(3000), desc="loop")').replace("import time",
                                                                       "import time\nfrom tqdm.auto import tqdm")
    assert plain != BAR_CELL
    count, errors = _iopub_messages(kernel_client, plain)
    assert not errors, errors
    assert count > MAX_MESSAGES, count
