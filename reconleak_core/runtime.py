"""Runtime helpers: the one seed helper, the device choice, the setup cell's versions line, the
library's progress bars and the memory check of long runs (:func:`check_memory`).

Every chapter's first cell calls :func:`setup`; every experiment seeds through :func:`set_seed`.
Nothing here changes global state at import time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import sys

import numpy as np
import torch
from tqdm.auto import tqdm

from reconleak_core import __version__
from reconleak_core.checks import check_bool, check_int, check_seed

__all__ = ["set_seed", "get_device", "versions", "setup", "keep_freed_memory", "progress_bar", "PROGRESS_INTERVAL",
           "check_memory"]

#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`keep_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 2**20   # glibc's maximum on 64-bit: blocks up to 32 MiB come from the heap
_TRIM_THRESHOLD = 2**30        # keep up to 1 GiB of freed heap in the process

#: Seconds between two redraws of a library progress bar. In a notebook every redraw of a ``tqdm``
#: widget is a few IOPub messages; a long cell that redraws at tqdm's default 0.1 s (or at every
#: ``set_postfix``) queues thousands of them, more than ZeroMQ's high-water mark, and the kernel then
#: drops messages, the cell's final "idle" status among them, which ``nbval`` reports as "Timeout of 5
#: seconds exceeded waiting for output". One redraw per second keeps a 10-minute cell under 2,000.
PROGRESS_INTERVAL = 1.0


def set_seed(seed: int) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) with ``seed``; return it.

    This is the single seeding helper of the library: experiments and chapters call it rather
    than seeding each generator themselves.
    """
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def get_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``"auto"`` to CUDA when available, else CPU; validate an explicit choice.

    Raises ``ValueError`` when ``"cuda"`` is asked for on a machine without a CUDA device, and for any
    device other than ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:k"``.

    ``device``: ``"auto"`` (default), ``"cpu"``, ``"cuda"``, ``"cuda:k"`` or a ``torch.device``.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {type(device).__name__}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unsupported device {device!r}: use 'auto', 'cpu' or 'cuda'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA device is available; use device='auto' or 'cpu'")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}: use 'auto', 'cpu' or 'cuda'")
    return resolved


def versions() -> str:
    """One line naming the library, torch and NumPy versions (printed by the setup cell)."""
    return f"reconleak_core {__version__} | torch {torch.__version__} | numpy {np.__version__}"


# matplotlib ≥ 3.9 names the inline backend "inline"; older versions give its module path.
_INLINE_BACKENDS = ("inline", "module://matplotlib_inline.backend_inline")


def _inline_figures_in_kernel() -> None:
    """In a Jupyter (IPython) kernel, make matplotlib draw figures into the cell outputs.

    A kernel normally starts with the inline backend, but ``MPLBACKEND=Agg`` in the environment (common
    on servers and CI) overrides it: ``plt.show()`` then leaves no figure in the outputs and the committed
    notebooks no longer match a re-execution. Outside a kernel (scripts, tests, a terminal IPython)
    nothing changes; a kernel already on the inline backend is left as it is.
    """
    if "IPython" not in sys.modules:  # not under IPython: importing it here would only cost time
        return
    from IPython import get_ipython  # lazy: IPython is there only in a notebook or a terminal IPython

    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:  # a terminal IPython has no kernel
        return
    import matplotlib  # lazy: only a kernel's figures need it, and a script picks its own backend first

    if matplotlib.get_backend().lower() not in _INLINE_BACKENDS:
        shell.run_line_magic("matplotlib", "inline")


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory in the process instead of returning it to the OS.

    An attack step allocates its temporaries afresh (tensors of 0.1–8 MB). With glibc's defaults, blocks
    above the dynamic mmap threshold are mapped and unmapped at every step and freed heap above the trim
    threshold is given back, so each step touches new pages and pays a page fault per 4 KiB — in a virtual
    machine the fault, not the arithmetic, then dominates: a batched book-scale step (K = 5, m = 20,
    width 300, d = 64) took 5.9 ms with the defaults and 2.6–2.8 ms with these settings, the same numbers
    (``benchmarks/RESULTS.md``). Sets ``M_MMAP_THRESHOLD`` to 32 MiB and ``M_TRIM_THRESHOLD`` to 1 GiB for
    the whole process (the price: up to 1 GiB of freed memory stays reserved). Returns whether it applied:
    ``False`` where the C library has no ``mallopt`` (not glibc: macOS, Windows, musl). Called by
    :func:`setup`, the command line and the benchmarks; never at import.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def setup(seed: int = 0, device: str = "auto", threads: int | None = 1) -> torch.device:
    """The book's standard setup: seed everything, choose the device, print versions and device.

    ``threads`` sets torch's CPU thread count (``None`` keeps torch's default; at most 4 per core, and
    at least 64 allowed). The book's problems are
    tiny: on CPU one thread is several times faster than two (no synchronisation per small matmul) and
    keeps reductions in one order, so printed numbers reproduce. Raise it for paper scale on a CPU.
    In a Jupyter kernel it also selects matplotlib's inline backend, whatever ``MPLBACKEND`` says, so that
    figures are saved in the chapter's outputs (see ``_inline_figures_in_kernel``), and it keeps freed
    memory in the process (:func:`keep_freed_memory`: a 2× faster attack step where page faults are dear).
    Returns the chosen ``torch.device`` (CUDA when available with ``device="auto"``).

    ``seed`` seeds Python, NumPy and torch (``torch.manual_seed``); ``device`` is resolved by :func:`get_device`.
    """
    set_seed(seed)
    threads = check_int(threads, "threads", allow_none=True, maximum=max(64, 4 * (os.cpu_count() or 1)))
    if threads is not None:
        torch.set_num_threads(threads)
    chosen = get_device(device)
    keep_freed_memory()
    _inline_figures_in_kernel()
    print(versions())
    print(f"seed {seed} | device {chosen.type}")
    return chosen


class _Bar:
    """A ``tqdm.auto`` bar whose postfix never forces a redraw (see :data:`PROGRESS_INTERVAL`)."""

    def __init__(self, bar):
        self._bar = bar

    def __iter__(self):
        return iter(self._bar)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._bar.close()

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def set_postfix(self, **values) -> None:
        """Shown at the bar's next timed redraw, not at once."""
        self._bar.set_postfix(refresh=False, **values)

    def close(self) -> None:
        self._bar.close()


def progress_bar(iterable=None, *, total: int | None = None, desc: str, enabled: bool, **tqdm_options):
    """The library's one progress bar: ``tqdm.auto`` (a widget in a notebook, text elsewhere) redrawn
    at most every :data:`PROGRESS_INTERVAL` seconds, with a postfix that waits for the next redraw.
    ``enabled=False`` returns a silent bar with the same methods. Raises ``TypeError`` for a non-boolean
    ``enabled`` and ``ValueError`` for a negative ``total``.

    ``iterable`` is wrapped as ``tqdm(iterable)`` (or ``None`` for a bar updated by hand, with ``total``); ``desc``
    is the bar's label; further ``tqdm_options`` go to ``tqdm``.
    """
    enabled = check_bool(enabled, "enabled")
    total = check_int(total, "total", minimum=0, allow_none=True)
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a string, got {type(desc).__name__}")
    return _Bar(tqdm(iterable, total=total, desc=desc, disable=not enabled,
                     mininterval=PROGRESS_INTERVAL, **tqdm_options))


def check_memory(nbytes: int, what: str) -> None:
    """Refuse (``ValueError``) a run whose up-front allocation of ``nbytes`` bytes (``what``: what holds them
    and why) exceeds half the machine's available memory, so that an absurd setting (``steps=10**12``) fails
    with its reason before the allocator is asked for terabytes. Where the available memory is unknown
    (no ``os.sysconf``), the bound is 64 GiB."""
    nbytes = check_int(nbytes, "nbytes", minimum=0)
    if not isinstance(what, str):
        raise TypeError(f"what must say what needs the memory (a string), got {type(what).__name__}")
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        available = 2 * 64 * 2**30
    if nbytes > available // 2:
        raise ValueError(f"{what} needs {nbytes / 2**30:.3g} GiB, more than half of the "
                         f"{available / 2**30:.3g} GiB of memory available: lower it")
