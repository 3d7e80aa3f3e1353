"""Work that must never slow what users wait for (a shadow's candidate, server/shadow/) runs in a process the
kernel schedules last.

A shadow answers after production has answered, so every cycle it takes from production is pure cost: on two
cores a shadow at share 1 cut production's throughput to 0.34x and tripled its p99 (docs/measurements.md). Inside
production's process a low priority did not help: a candidate thread at nice 19, descheduled while it held the
interpreter's lock, kept the event loop waiting. A process of its own shares no lock, so it can take the lowest
priority there is: Linux's `SCHED_IDLE` (it runs only on a core nothing else wants, and a thread that wakes takes
the core from it at once), and nice 19 everywhere, which threads inherit from their creator like the policy.
"""

from __future__ import annotations

import contextlib
import os
import sys

BACKGROUND_NICE = 19


def idle_process() -> bool:
    """Every thread of the calling process, and those it starts from now on (they inherit it), at the lowest
    priority. True where `SCHED_IDLE` was set; nice 19 is set wherever the system allows it. Called once the
    process has loaded what it runs: a load at `SCHED_IDLE` on busy cores could take minutes."""
    threads = [int(t) for t in os.listdir("/proc/self/task")] if sys.platform == "linux" else [0]
    idle = hasattr(os, "SCHED_IDLE")
    for thread in threads:  # on Linux a nice value and a policy are each thread's own
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, thread, BACKGROUND_NICE)
        try:
            if idle:
                os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            idle = False
    return idle
