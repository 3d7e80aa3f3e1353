"""Work that must never slow what users wait for (a shadow candidate's calls) runs on threads the kernel schedules
last.

A shadow answers after production has answered, so every cycle it takes from production's threads is pure cost:
on two cores a shadow at share 1 cut production's throughput to 0.34x and tripled its p99 (docs/measurements.md).
Linux gives each thread its own nice value, and a thread inherits its creator's, so a model loaded on a thread at
nice 19 gets ONNX Runtime intra-op threads at nice 19 too, and its batches run on instance threads at nice 19: when
production wants the cores, the scheduler gives them to production (weight 1024 against 15), and the shadow runs on
what is left, or its bounded queue drops. Elsewhere (macOS sets a whole process's priority through the same call)
this does nothing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")
BACKGROUND_NICE = 19


def lower_this_thread(nice: int = BACKGROUND_NICE) -> bool:
    """Give the calling thread (and the threads it starts from now on) the lowest priority; True where done."""
    if sys.platform != "linux":
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError:
        return False
    return True


def thread_nice() -> int:
    """The calling thread's nice value (Linux), or the process's elsewhere."""
    who = threading.get_native_id() if sys.platform == "linux" else 0
    return os.getpriority(os.PRIO_PROCESS, who)


async def in_background_thread(function: Callable[[], T]) -> T:
    """`function()` on a fresh thread of the lowest priority, awaited. Not the loop's default executor: its
    threads are reused by everything else, and a thread's priority can be lowered but not raised back."""
    done: Future[T] = Future()

    def body() -> None:
        lower_this_thread()
        try:
            done.set_result(function())
        except BaseException as exc:  # handed to the awaiting task
            done.set_exception(exc)

    threading.Thread(target=body, name="modelyard-background-load", daemon=True).start()
    return await asyncio.wrap_future(done)
