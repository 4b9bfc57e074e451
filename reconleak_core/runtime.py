"""Runtime helpers: the one seed helper, the device choice and the setup cell's versions line.

Every chapter's first cell calls :func:`setup`; every experiment seeds through :func:`set_seed`.
Nothing here changes global state at import time.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from reconleak_core.checks import check_int, check_seed

__all__ = ["set_seed", "get_device", "versions", "setup"]


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
    from reconleak_core import __version__

    return f"reconleak_core {__version__} | torch {torch.__version__} | numpy {np.__version__}"


def setup(seed: int = 0, device: str = "auto", threads: int | None = 1) -> torch.device:
    """The book's standard setup: seed everything, choose the device, print versions and device.

    ``threads`` sets torch's CPU thread count (``None`` keeps torch's default). The book's problems are
    tiny: on CPU one thread is several times faster than two (no synchronisation per small matmul) and
    keeps reductions in one order, so printed numbers reproduce. Raise it for paper scale on a CPU.
    Returns the chosen ``torch.device`` (CUDA when available with ``device="auto"``).
    """
    set_seed(seed)
    threads = check_int(threads, "threads", allow_none=True)
    if threads is not None:
        torch.set_num_threads(threads)
    chosen = get_device(device)
    print(versions())
    print(f"seed {seed} | device {chosen.type}")
    return chosen
