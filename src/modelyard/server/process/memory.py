"""Returning freed memory to the system after a burst of traffic."""

from __future__ import annotations

import ctypes
import functools
import gc
import os
from collections.abc import Callable

M_ARENA_MAX = -8  # glibc's mallopt parameter
ARENAS = "1"


@functools.cache
def _glibc(function: str) -> Callable[..., int] | None:
    """A glibc function, or None under other C libraries (which return memory and size arenas on their own)."""
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded; find_library("c") would run ldconfig (25 ms)
    except OSError:
        return None
    found = getattr(libc, function, None)
    return found if callable(found) else None


def limit_arenas() -> None:
    """One malloc arena for the serving process and its workers. glibc gives each thread an arena of its own, and
    `malloc_trim` can hand back only the main arena's top: a model loaded on a thread had its weights in another
    arena, whose top stayed resident after unload whenever they lay there (a flaky 19 MB in
    tests/server/process/test_memory.py). With one arena every unload gives its weights back, the tree idles 3 %
    lower after a burst, and throughput is the same within noise (docs/measurements.md, "One malloc arena").
    Set for this process and, through the environment, for the workers it starts; a value the user exported wins."""
    arenas = os.environ.setdefault("MALLOC_ARENA_MAX", ARENAS)
    mallopt = _glibc("mallopt")
    if mallopt is not None and arenas.isdigit():
        mallopt(M_ARENA_MAX, int(arenas))


def trim_heap() -> bool:
    """Ask glibc to hand free heap pages back (decoded requests leave many); False where there is no glibc."""
    gc.collect()  # cycles left by failed requests (exceptions hold frames) go first
    trim = _glibc("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True


def freeze_imported() -> None:
    """After the server's stack is imported and before workers fork: the collector in each worker would walk every
    imported object (56,000 of them), write to its header and so copy its page, and the first full collection at
    startup took 27-54 ms per worker. Frozen here, they are never walked again (what Python's documentation of
    `gc.freeze` advises before `fork`). The few cycles left as garbage by the imports stay, once."""
    gc.freeze()


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
