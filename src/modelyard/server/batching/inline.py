"""When a batch runs on the event loop's own thread instead of its instance thread. Pure: the batcher passes in
what it measured, these say what follows.

Handing a batch to a thread and back costs the loop tens of microseconds (a queue, a wake-up, a future), so a
model whose batches compute faster than `INLINE_BELOW_S` runs inline. The rule needs an estimate of what a batch
costs, and the wall clock measures more than the model: a batch whose runtime released the interpreter's lock
waits to take it back behind any other thread of the process (the drift tally's, the traffic log's writer), the
loop's thread is preempted by whatever else runs on its core, and on its instance thread a batch waits behind the
busy event loop itself. `compute_estimate` keeps such waits from moving a cheap model off the loop; `waited` and
`tried_inline` bring it back once it was moved anyway.
"""

from __future__ import annotations

INLINE_BELOW_S = 200e-6
CLIP = 2.0  # a batch counts for at most this many times the estimate
RISE, FALL = 0.05, 0.2  # the weight of a batch slower than the estimate, and of one faster
TRY_BELOW = 4.0  # a batch on the thread is worth trying inline when its thread computed under this many bounds
TRY_INLINE_AFTER = 64  # such batches on the thread before one is tried inline


def compute_estimate(previous: float | None, seconds: float) -> float:
    """How long a batch computes: an average of recent batches that rises slowly and falls fast, each batch
    counted for at most twice the estimate. W1 at c=64 gathers 10 to 50 rows a batch at about 100 µs, half the
    bound, and the machine lengthens batches in bursts: seven of ten batches at 320-910 µs, once in 5 s with the
    traffic log on and idle. Weighted a fifth both ways, such a burst crossed the bound (an earlier, unclipped
    average was moved by single waits: 8,300 requests/s with the drift tally's thread running, 15,200 without);
    rising by a twentieth, it moves the estimate by 40 %. A model that really got slower still crosses the bound:
    from 30 µs at 1 ms a batch in about forty batches."""
    if previous is None:
        return seconds
    weight = RISE if seconds > previous else FALL
    return (1 - weight) * previous + weight * min(seconds, CLIP * previous)


def runs_inline(compute_ewma_s: float | None, instances: int, inline_below_s: float) -> bool:
    """Run a batch on the event-loop thread when that is cheaper than handing it to a thread. Slower models,
    unknown ones and models with several instances use their instance threads, so decoding continues while they
    compute."""
    return instances == 1 and compute_ewma_s is not None and compute_ewma_s < inline_below_s


def waited(wall_s: float, thread_cpu_s: float, inline_below_s: float) -> bool:
    """A batch on its instance thread took longer than the inline bound by the wall, and its thread computed for
    less than a few bounds: worth trying inline (`tried_inline`). On a thread behind a busy loop every batch waits for
    the interpreter's lock, and batches grow while one computes (W1 at c=64: 32 rows, 460 µs by the wall and
    240 µs by the thread's clock, against 18 rows in 107 µs inline), so its estimate does not come back under
    the bound by itself. The thread's clock cannot decide alone: a model that waits for a disk or a network
    computes little too, and would block the loop if run inline."""
    return wall_s >= inline_below_s and thread_cpu_s < TRY_BELOW * inline_below_s


def tried_inline(estimate_s: float | None, inline_wall_s: float, inline_below_s: float) -> float | None:
    """The estimate after a batch tried inline: what the wall said there when it was under the bound (the loop
    had the lock, so that is the model's time), else the estimate as it was. A model that waits, or that really
    computes longer, stays on its thread; one that only waited there comes back, and its inline batches keep the
    estimate honest from then on."""
    return inline_wall_s if inline_wall_s < inline_below_s else estimate_s
