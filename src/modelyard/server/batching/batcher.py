"""Dynamic batching wired to asyncio: the policy (policy.py) decides, this runs batches on instance threads.

Runtimes that release the GIL (ONNX Runtime, torch) run on a thread per instance, so `instances.count` batches run
at once while the event loop keeps decoding requests. Every decision happens on the event loop thread; a worker
thread only concatenates, predicts and splits. A request's future is set exactly once: results, the model's error,
its deadline, or unload, whichever comes first; a cancelled request is never run.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from modelyard.errors import DeadlineExceeded, ModelExecutionError, ModelyardError, Unavailable
from modelyard.runtimes.base import Runtime
from modelyard.server.batching.policy import BatchPolicy, BatchQueue, Pending
from modelyard.server.metrics.stats import ModelStats

Tensors = dict[str, np.ndarray]


@dataclass(slots=True)
class Job:
    inputs: Tensors
    future: asyncio.Future[Tensors]


def _abandoned(job: Job) -> bool:
    return job.future.done()


def model_error(exc: BaseException) -> ModelyardError:
    """What a request sees when its model raised: our own errors as they are, anything else as the model's error."""
    return exc if isinstance(exc, ModelyardError) else ModelExecutionError(f"{type(exc).__name__}: {exc}")


def run_batch(runtime: Runtime, batch: list[Pending[Job]]) -> tuple[list[Tensors], int]:
    """Concatenate, predict, split: runs on an instance thread. Returns per-request outputs and compute ns."""
    jobs = [p.payload for p in batch]
    if len(jobs) == 1:
        inputs = jobs[0].inputs
    else:
        inputs = {name: np.concatenate([j.inputs[name] for j in jobs]) for name in jobs[0].inputs}
    start = time.perf_counter_ns()
    outputs = runtime.predict(inputs)
    compute_ns = time.perf_counter_ns() - start
    if len(jobs) == 1:
        return [outputs], compute_ns
    rows = [p.rows for p in batch]
    total = sum(rows)
    offsets = np.cumsum(rows)[:-1]
    per_request: list[Tensors] = [{} for _ in jobs]
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise ModelExecutionError(
                f"output {name!r} has shape {list(array.shape)}; a batch of {total} needs {total} rows"
            )
        for out, part in zip(per_request, np.split(array, offsets), strict=True):
            out[name] = part
    return per_request, compute_ns


INLINE_BELOW_S = 200e-6
PROBE_EVERY = 16


CLIP = 2.0  # a batch counts for at most this many times the estimate


def compute_estimate(previous: float | None, seconds: float) -> float:
    """How long a batch computes, for the inline rule: an average of recent batches (0.8 old, 0.2 new), each
    counted for at most twice the estimate. The machine can lengthen a batch's time by far more than the model
    does: a batch whose runtime released the interpreter's lock waits to take it back behind any other thread of
    the process (the drift tally's, the traffic log's writer) for up to the 5 ms switch interval. Unclipped, those
    waits moved a 30 µs model off the loop onto its instance thread (W1 at c=64: 8,300 requests/s with the drift
    tally's thread running, 15,200 without); clipped, a model that really got slower still moves the estimate up
    by a fifth a batch, from 30 µs past 200 µs in eleven batches."""
    if previous is None:
        return seconds
    return 0.8 * previous + 0.2 * min(seconds, CLIP * previous)


def runs_inline(compute_ewma_s: float | None, instances: int, inline_below_s: float) -> bool:
    """Run a batch on the event-loop thread when that is cheaper than handing it to a thread.

    Handing a batch to a thread and back costs the loop tens of microseconds (a queue, a wake-up, a future);
    a model whose batches compute faster than `inline_below_s` runs inline instead. Slower models, unknown ones
    and models with several instances use their instance threads, so decoding continues while they compute.
    """
    return instances == 1 and compute_ewma_s is not None and compute_ewma_s < inline_below_s


class Batcher:
    def __init__(
        self,
        policy: BatchPolicy,
        instances: list[Runtime],
        stats: ModelStats,
        label: str,
        clock: Callable[[], float] = time.monotonic,
        inline_below_s: float = INLINE_BELOW_S,
        compute_estimate_s: float | None = None,
        thread_initializer: Callable[[], object] | None = None,
    ) -> None:
        self.policy = policy
        self.queue: BatchQueue[Job] = BatchQueue(policy, is_abandoned=_abandoned)
        self.free: deque[Runtime] = deque(instances)
        self.count = len(instances)
        self.stats = stats
        self.clock = clock
        self.pool = ThreadPoolExecutor(
            max_workers=len(instances), thread_name_prefix=f"modelyard-{label}", initializer=thread_initializer
        )
        self._timer: asyncio.TimerHandle | None = None
        self._pump_scheduled = False
        self.activity = 0  # requests seen; the idle watcher compares it between ticks
        self._idle_watch: asyncio.TimerHandle | None = None  # armed from a request until the model is idle
        self._on_idle: Callable[[], None] | None = None
        self._idle_period_s = 1.0
        self._seen = 0  # activity at the last tick
        self._gathering = False  # inline model under load: requests wait one tick to share a batch
        self._since_probe = 0
        self.inline_below_s = inline_below_s
        self.compute_ewma_s = compute_estimate_s
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> int:
        return self.count - len(self.free)

    @property
    def depth(self) -> int:
        return len(self.queue)

    async def submit(self, inputs: Tensors, rows: int, key: object, timeout_s: float | None = None) -> Tensors:
        if self._closed:
            raise Unavailable("the model is being unloaded")
        self.activity += 1
        if self._idle_watch is None and self._on_idle is not None:
            self._watch_again()
        if self._idle_inline():
            self._since_probe += 1
            if self._since_probe < PROBE_EVERY:
                return self._run_now(inputs, rows)
            self._since_probe = 0  # this one goes through the queue: does a batch form behind it?
        loop = asyncio.get_running_loop()
        now = self.clock()
        job = Job(inputs, loop.create_future())
        deadline = now + timeout_s if timeout_s else None
        if not self.queue.offer(Pending(job, key, rows, now, deadline)):
            raise Unavailable(f"the model's queue is full ({self.policy.max_queue_size} requests); retry later")
        self._idle.clear()
        if not self._pump_scheduled:
            # One loop tick later: requests decoded in this tick join the same batch, idle or not.
            self._pump_scheduled = True
            loop.call_soon(self._scheduled_pump)
        if not timeout_s:
            return await job.future
        try:
            return await asyncio.wait_for(job.future, timeout_s)
        except TimeoutError:
            raise DeadlineExceeded(f"the request's timeout of {timeout_s * 1e6:.0f} us passed") from None

    def watch_idle(self, on_idle: Callable[[], None], period_s: float = 1.0) -> None:
        """Call `on_idle` (on an instance thread) once a model that had traffic has then seen none for a whole
        period: the moment to give back memory that the largest batches left allocated. The watch ticks only
        from a request to that release, so an idle model wakes nobody (each wake of an idle worker costs about as
        much CPU as the rest of its idle second)."""
        self._on_idle, self._idle_period_s = on_idle, period_s
        self._seen = self.activity

    def _watch_again(self) -> None:
        self._idle_watch = asyncio.get_running_loop().call_later(self._idle_period_s, self._idle_tick)

    def _idle_tick(self) -> None:
        self._idle_watch = None
        if self._closed or self._on_idle is None:
            return
        if self.activity != self._seen:
            self._seen = self.activity  # requests came during the period: look again after the next
        elif self.queue or len(self.free) != self.count:
            pass  # quiet, but still working
        else:
            asyncio.get_running_loop().run_in_executor(self.pool, self._on_idle)
            return  # asleep until the next request arms the watch
        self._watch_again()

    def _idle_inline(self) -> bool:
        """Nothing queued or running, and batches are cheaper inline than on a thread: run this request now.

        An inline model is never seen busy by the event loop, so there is nothing to gather while it runs; the
        request then costs what the runtime costs, without a future or a loop iteration.
        """
        return (
            not self._gathering
            and len(self.free) == self.count
            and not self.queue
            and not self._pump_scheduled
            and runs_inline(self.compute_ewma_s, self.count, self.inline_below_s)
        )

    def _run_now(self, inputs: Tensors, rows: int) -> Tensors:
        runtime = self.free[0]
        self.stats.record_queue(0.0)
        start = time.perf_counter_ns()
        try:
            outputs = runtime.predict(inputs)
        except Exception as exc:
            raise model_error(exc) from exc
        compute_ns = time.perf_counter_ns() - start
        self._observe(compute_ns)
        self.stats.record_batch(rows, compute_ns, 1)
        return outputs

    def _observe(self, compute_ns: int) -> None:
        self.compute_ewma_s = compute_estimate(self.compute_ewma_s, compute_ns / 1e9)

    def _scheduled_pump(self) -> None:
        self._pump_scheduled = False
        self._pump()

    def _pump(self) -> None:
        now = self.clock()
        for expired in self.queue.expire(now):
            self._fail(expired.payload, DeadlineExceeded("the request's timeout passed while it was queued"))
        while self.free:
            decision = self.queue.next_batch(now, len(self.free), self.busy)
            if decision is None:
                break
            if isinstance(decision, float):
                self._arm(decision)
                break
            self._start(decision, now)
            now = self.clock()
        if not self.queue and not self.busy:
            self._idle.set()

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, at - self.clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._pump()

    def _start(self, batch: list[Pending[Job]], now: float) -> None:
        runtime = self.free.popleft()
        for pending in batch:
            self.stats.record_queue(now - pending.enqueued_at)
        if runs_inline(self.compute_ewma_s, self.count, self.inline_below_s):
            self._gathering = len(batch) > 1
            self._run_inline(runtime, batch)
            return
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, run_batch, runtime, batch)
        future.add_done_callback(partial(self._finish_future, runtime, batch))

    def _run_inline(self, runtime: Runtime, batch: list[Pending[Job]]) -> None:
        try:
            outcome: tuple[list[Tensors], int] | BaseException = run_batch(runtime, batch)
        except Exception as exc:
            outcome = exc
        self._complete(runtime, batch, outcome)  # the caller's pump loop takes the next batch

    def _finish_future(
        self, runtime: Runtime, batch: list[Pending[Job]], done: asyncio.Future[tuple[list[Tensors], int]]
    ) -> None:
        error = done.exception()
        self._complete(runtime, batch, done.result() if error is None else error)
        if not self._closed:
            self._pump()
        elif not self.busy:
            self._idle.set()

    def _complete(
        self, runtime: Runtime, batch: list[Pending[Job]], outcome: tuple[list[Tensors], int] | BaseException
    ) -> None:
        """Give the instance back and settle every request of the batch (each future exactly once)."""
        self.free.append(runtime)
        if not isinstance(outcome, BaseException):
            results, compute_ns = outcome
            self._observe(compute_ns)
            self.stats.record_batch(sum(p.rows for p in batch), compute_ns, len(batch))
            for pending, result in zip(batch, results, strict=True):
                if not pending.payload.future.done():
                    pending.payload.future.set_result(result)
        else:
            mapped = model_error(outcome)
            for pending in batch:
                self._fail(pending.payload, mapped)

    @staticmethod
    def _fail(job: Job, error: BaseException) -> None:
        if not job.future.done():
            job.future.set_exception(error)

    async def drain(self, timeout_s: float) -> bool:
        """Wait for queued and running requests to finish; True if they did within the timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Refuse new requests, fail queued ones, let running batches finish on their threads."""
        self._closed = True
        for timer in (self._timer, self._idle_watch):
            if timer is not None:
                timer.cancel()
        while self.queue.items:
            self._fail(self.queue.items.popleft().payload, Unavailable("the model was unloaded"))
        self.pool.shutdown(wait=False)
