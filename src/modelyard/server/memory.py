"""Returning freed memory to the system after a burst of traffic."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)  # glibc only; other C libraries return memory on their own terms
    return trim if callable(trim) else None


def trim_heap() -> bool:
    """Ask glibc to hand free heap pages back (decoded requests leave many); False where there is no glibc."""
    gc.collect()  # cycles left by failed requests (exceptions hold frames) go first
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
