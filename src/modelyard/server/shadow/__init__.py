"""A shadow candidate runs in a process of its own, at the lowest priority, fed by production's worker.

In the worker's own process the candidate shared production's interpreter lock: a candidate thread at nice 19,
descheduled while it held the lock, kept the event loop waiting for it (a priority inversion no nice value can
undo), and a crash in the candidate's runtime would have taken production down with it. Here the worker only
gathers the shadowed requests and writes them, a few milliseconds' worth at a time, to a pipe whose buffer is
bounded in bytes (past it they are dropped and counted); the candidate's process loads the version, batches,
answers and logs its answers itself, and reports its statistics back. `process.py` is the worker's side,
`child.py` the candidate's, `frames.py` what crosses between them.
"""

from modelyard.server.shadow.process import ShadowProcess

__all__ = ["ShadowProcess"]
