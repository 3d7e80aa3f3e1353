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


def settle_heap() -> None:
    """After loading: move every object alive now (modules, runtimes, schemas) out of the collector's sight, and
    collect the youngest generation less often. A request allocates many short-lived objects; full collections
    that walk the whole long-lived heap were the server's worst pauses (p99)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def release_unloaded() -> None:
    """After an unload. Models loaded at startup were frozen with everything else (`settle_heap`), and the
    collector never looks at frozen objects: should an unloaded model sit in a reference cycle, its sessions and
    weights would stay forever. Unfreeze, collect, freeze again, and hand free pages back to the system."""
    gc.unfreeze()
    settle_heap()
    trim_heap()
