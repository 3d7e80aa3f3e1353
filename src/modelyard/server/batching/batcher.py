"""Dynamic batching wired to asyncio: the policy (policy.py) decides, this runs batches on instance threads.

Runtimes that release the GIL (ONNX Runtime, torch) run on a thread per instance, so `instances.count` batches run
at once while the event loop keeps decoding requests. Every decision happens on the event loop thread; a worker
thread only concatenates, predicts and splits. A request's future is set exactly once: results, the model's error,
its deadline, or unload, whichever comes first; a cancelled request is never run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from modelyard.errors import DeadlineExceeded, ModelExecutionError, ModelyardError, Unavailable
from modelyard.runtimes.base import Runtime
from modelyard.server.batching.inline import (
    INLINE_BELOW_S,
    TRY_INLINE_AFTER,
    compute_estimate,
    runs_inline,
    tried_inline,
    waited,
)
from modelyard.server.batching.policy import BatchPolicy, BatchQueue, Pending
from modelyard.server.metrics.stats import ModelStats

Tensors = dict[str, np.ndarray]
log = logging.getLogger("modelyard.server")


class Detached:
    """What settles a job that nobody awaits (a shadow's call, `Batcher.enqueue`): its outputs are dropped, its end
    (None, or the error) handed to `done` on the event loop's thread. No task, no future and no response built:
    the candidate's call was 50 to 90 µs of the loop's CPU a shadowed request, in process, when it was awaited
    through `submit` in a task of its own (docs/measurements.md, "Shadow and canary")."""

    __slots__ = ("_done", "_settled")

    def __init__(self, done: Callable[[BaseException | None], None]) -> None:
        self._done, self._settled = done, False

    def done(self) -> bool:
        return self._settled

    def set_result(self, _: Tensors) -> None:
        self._settled = True
        self._done(None)

    def set_exception(self, error: BaseException) -> None:
        self._settled = True
        self._done(error)


@dataclass(slots=True)
class Job:
    inputs: Tensors
    future: asyncio.Future[Tensors] | Detached
    logged: tuple[str, str | None] | None = None  # for the traffic log: the name called and the request's id


def _abandoned(job: Job) -> bool:
    return job.future.done()


def model_error(exc: BaseException) -> ModelyardError:
    """What a request sees when its model raised: our own errors as they are, anything else as the model's error."""
    return exc if isinstance(exc, ModelyardError) else ModelExecutionError(f"{type(exc).__name__}: {exc}")


BatchHook = Callable[[Tensors, Tensors], None]
Logged = tuple[int, int, str, str | None, int]  # a logged request's first row in its batch, rows, name, id, latency ns
LogHook = Callable[[list[Logged], int, Tensors, Tensors], None]  # ... and the batch's rows
ShownHook = Callable[[list[Pending[Job]], Tensors, Tensors], None]


def run_batch(runtime: Runtime, batch: list[Pending[Job]], shown: ShownHook | None = None) -> tuple[list[Tensors], int]:
    """Concatenate, predict, split: runs on an instance thread. Returns per-request outputs and compute ns.
    `shown`: the batch and its inputs and outputs whole (the drift tally, the traffic log), once the batch has
    answered every request, outside the compute time."""
    jobs = [p.payload for p in batch]
    if len(jobs) == 1:
        inputs = jobs[0].inputs
    else:
        inputs = {name: np.concatenate([j.inputs[name] for j in jobs]) for name in jobs[0].inputs}
    start = time.perf_counter_ns()
    outputs = runtime.predict(inputs)
    compute_ns = time.perf_counter_ns() - start
    if len(jobs) == 1:
        if shown is not None:
            shown(batch, inputs, outputs)
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
    if shown is not None:
        shown(batch, inputs, outputs)
    return per_request, compute_ns


PROBE_EVERY = 16


def run_timed(
    runtime: Runtime, batch: list[Pending[Job]], shown: ShownHook | None = None
) -> tuple[list[Tensors], int, int]:
    """`run_batch` on an instance thread, with the CPU time the thread spent on it (see `inline.waited`)."""
    cpu = time.thread_time_ns()
    results, compute_ns = run_batch(runtime, batch, shown)
    return results, compute_ns, time.thread_time_ns() - cpu


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
        seen: BatchHook | None = None,
        log: LogHook | None = None,
    ) -> None:
        """`seen`: shown each batch's inputs and outputs whole (the drift tally); `log`: shown the requests of
        each batch that asked to be logged (`submit(logged=...)`), with the batch's tensors (the traffic log)."""
        self.policy = policy
        self.label = label
        self.seen = seen
        self.log = log
        self._shown = self._show if seen is not None or log is not None else None
        self.queue: BatchQueue[Job] = BatchQueue(policy, is_abandoned=_abandoned)
        self.free: deque[Runtime] = deque(instances)
        self.count = len(instances)
        self.stats = stats
        self.clock = clock
        self.pool = ThreadPoolExecutor(max_workers=len(instances), thread_name_prefix=f"modelyard-{label}")
        self._timer: asyncio.TimerHandle | None = None
        self._pump_scheduled = False
        self.activity = 0  # requests seen; the idle watcher compares it between ticks
        self._idle_watch: asyncio.TimerHandle | None = None  # armed from a request until the model is idle
        self._on_idle: Callable[[], None] | None = None
        self._idle_period_s = 1.0
        self._seen = 0  # activity at the last tick
        self._gathering = False  # inline model under load: requests wait one tick to share a batch
        self._since_probe = 0
        self._waits = 0  # batches on the thread that waited more than they computed (`inline.waited`)
        self._try_inline = False  # the next batch runs inline, to see whether the model belongs there
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

    async def submit(
        self,
        inputs: Tensors,
        rows: int,
        key: object,
        timeout_s: float | None = None,
        logged: tuple[str, str | None] | None = None,
    ) -> Tensors:
        self._arrived()
        if self._idle_inline():
            self._since_probe += 1
            if self._since_probe < PROBE_EVERY:
                return self._run_now(inputs, rows, logged)
            self._since_probe = 0  # this one goes through the queue: does a batch form behind it?
        future: asyncio.Future[Tensors] = asyncio.get_running_loop().create_future()
        self._enqueue(Job(inputs, future, logged), key, rows, timeout_s)
        if not timeout_s:
            return await future
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise DeadlineExceeded(f"the request's timeout of {timeout_s * 1e6:.0f} us passed") from None

    def enqueue(
        self, inputs: Tensors, rows: int, key: object, sink: Detached, logged: tuple[str, str | None] | None = None
    ) -> None:
        """`submit` for a job that nobody awaits: queued now, settled through `sink` by the batch that runs it.
        Raises Unavailable, as `submit` does, when the model is unloading or its queue is full."""
        self._arrived()
        self._enqueue(Job(inputs, sink, logged), key, rows, None)

    def _arrived(self) -> None:
        if self._closed:
            raise Unavailable("the model is being unloaded")
        self.activity += 1
        if self._idle_watch is None and self._on_idle is not None:
            self._watch_again()

    def _enqueue(self, job: Job, key: object, rows: int, timeout_s: float | None) -> None:
        now = self.clock()
        deadline = now + timeout_s if timeout_s else None
        if not self.queue.offer(Pending(job, key, rows, now, deadline)):
            raise Unavailable(f"the model's queue is full ({self.policy.max_queue_size} requests); retry later")
        self._idle.clear()
        if not self._pump_scheduled:
            # One loop tick later: requests decoded in this tick join the same batch, idle or not.
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._scheduled_pump)

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
            and not self.policy.hold
            and len(self.free) == self.count
            and not self.queue
            and not self._pump_scheduled
            and runs_inline(self.compute_ewma_s, self.count, self.inline_below_s)
        )

    def _run_now(self, inputs: Tensors, rows: int, logged: tuple[str, str | None] | None) -> Tensors:
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
        if self.seen is not None:
            self.seen(inputs, outputs)
        if self.log is not None and logged is not None:
            self._log([(0, rows, logged[0], logged[1], compute_ns)], rows, inputs, outputs)
        return outputs

    def _show(self, batch: list[Pending[Job]], inputs: Tensors, outputs: Tensors) -> None:
        """A batch that answered, to the drift tally and to the traffic log (its logged requests, with the time
        each spent queued and computed as its latency), on whichever thread ran it. The log takes the batch's
        tensors whole, once, instead of each request copying its own rows: copies made request by request cost
        the event loop 25 µs a request at W1 c=64 with every request logged, on a VM where a whole record cost
        6 µs in a loop that made nothing else (docs/measurements.md, "The traffic log")."""
        if self.seen is not None:
            self.seen(inputs, outputs)
        if self.log is None:
            return
        now, row, entries = self.clock(), 0, []
        for pending in batch:
            logged = pending.payload.logged
            if logged is not None:
                entries.append((row, pending.rows, logged[0], logged[1], int((now - pending.enqueued_at) * 1e9)))
            row += pending.rows
        if entries:
            self._log(entries, row, inputs, outputs)

    def _log(self, entries: list[Logged], rows: int, inputs: Tensors, outputs: Tensors) -> None:
        """The traffic log never fails a request that its model answered."""
        assert self.log is not None
        try:
            self.log(entries, rows, inputs, outputs)
        except Exception:
            log.exception("the traffic log could not take a batch of %s; its requests were answered", self.label)

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
        trying, self._try_inline = self._try_inline, False
        if trying or runs_inline(self.compute_ewma_s, self.count, self.inline_below_s):
            self._gathering = len(batch) > 1
            self._run_inline(runtime, batch, trying)
            return
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, run_timed, runtime, batch, self._shown)
        future.add_done_callback(partial(self._finish_future, runtime, batch))

    def _run_inline(self, runtime: Runtime, batch: list[Pending[Job]], trying: bool = False) -> None:
        try:
            outcome: tuple[list[Tensors], int] | BaseException = run_batch(runtime, batch, self._shown)
        except Exception as exc:
            outcome = exc
        if trying and not isinstance(outcome, BaseException):
            self.compute_ewma_s = tried_inline(self.compute_ewma_s, outcome[1] / 1e9, self.inline_below_s)
        self._complete(runtime, batch, outcome, observe=not trying)  # the caller's pump loop takes the next batch

    def _finish_future(
        self, runtime: Runtime, batch: list[Pending[Job]], done: asyncio.Future[tuple[list[Tensors], int, int]]
    ) -> None:
        error = done.exception()
        if error is not None:
            self._complete(runtime, batch, error)
        else:
            results, compute_ns, cpu_ns = done.result()
            self._complete(runtime, batch, (results, compute_ns))
            self._count_wait(compute_ns / 1e9, cpu_ns / 1e9)
        if not self._closed:
            self._pump()
        elif not self.busy:
            self._idle.set()

    def _count_wait(self, wall_s: float, cpu_s: float) -> None:
        """A model moved off the loop whose batches there only wait is tried inline every `TRY_INLINE_AFTER` of them."""
        if self.count != 1 or not waited(wall_s, cpu_s, self.inline_below_s):
            return
        self._waits += 1
        if self._waits >= TRY_INLINE_AFTER:
            self._waits, self._try_inline = 0, True

    def _complete(
        self,
        runtime: Runtime,
        batch: list[Pending[Job]],
        outcome: tuple[list[Tensors], int] | BaseException,
        observe: bool = True,
    ) -> None:
        """Give the instance back and settle every request of the batch (each future exactly once)."""
        self.free.append(runtime)
        if not isinstance(outcome, BaseException):
            results, compute_ns = outcome
            if observe:
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
