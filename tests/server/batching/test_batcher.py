"""The batcher wired to asyncio and threads: gathering while busy, splitting, errors, deadlines, cancellation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from modelyard.errors import DeadlineExceeded, ModelExecutionError, Unavailable
from modelyard.runtimes.base import Tensors
from modelyard.runtimes.onnx import OnnxRuntime
from modelyard.server.batching.batcher import Batcher, Detached
from modelyard.server.batching.policy import BatchPolicy
from modelyard.server.metrics.stats import ModelStats

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


class GatedRuntime:
    """A real runtime (y = 2x) whose calls wait for a gate, so a test decides when an instance is busy."""

    thread_safe = True

    def __init__(self, fail_on: float | None = None) -> None:
        self.gate = threading.Event()
        self.calls: list[int] = []
        self.running = 0
        self.max_running = 0
        self.lock = threading.Lock()
        self.fail_on = fail_on

    def predict(self, inputs: Tensors) -> dict[str, np.ndarray]:
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.calls.append(len(inputs["x"]))
        try:
            assert self.gate.wait(10), "test gate never opened"
            if self.fail_on is not None and (inputs["x"] == self.fail_on).any():
                raise ValueError("bad row")
            return {"y": inputs["x"] * 2}
        finally:
            with self.lock:
                self.running -= 1

    def native_signature(self) -> None:
        return None

    def unload(self) -> None:
        pass


def row(value: float) -> dict[str, np.ndarray]:
    return {"x": np.array([[value]], dtype=np.float32)}


async def until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


def test_requests_gather_while_busy_and_results_come_back_in_order() -> None:
    async def scenario() -> None:
        runtime = GatedRuntime()
        stats = ModelStats()
        batcher = Batcher(BatchPolicy(max_batch_size=16), [runtime], stats, "t")
        first = asyncio.ensure_future(batcher.submit(row(0), 1, "k"))
        await until(lambda: runtime.calls == [1])  # dispatched at once: the instance was idle
        rest = [asyncio.ensure_future(batcher.submit(row(i), 1, "k")) for i in range(1, 6)]
        await asyncio.sleep(0.02)
        runtime.gate.set()
        results = await asyncio.gather(first, *rest)
        assert runtime.calls == [1, 5]
        assert [float(r["y"][0, 0]) for r in results] == [0, 2, 4, 6, 8, 10]
        assert stats.execution_count == 2
        assert stats.inference_count == 6
        assert sorted(stats.batches) == [1, 5]

    run(scenario())


def test_multi_row_requests_split_back_by_rows() -> None:
    async def scenario() -> None:
        runtime = GatedRuntime()
        runtime.gate.set()
        batcher = Batcher(BatchPolicy(max_batch_size=8), [runtime], ModelStats(), "t")
        blocker = GatedRuntime()
        batcher.free.clear()
        batcher.free.append(blocker)  # hold the instance until all three are queued
        a = asyncio.ensure_future(batcher.submit({"x": np.ones((1, 1), np.float32)}, 1, "k"))
        await until(lambda: blocker.calls)
        b = asyncio.ensure_future(batcher.submit({"x": np.full((3, 1), 2, np.float32)}, 3, "k"))
        c = asyncio.ensure_future(batcher.submit({"x": np.full((2, 1), 3, np.float32)}, 2, "k"))
        await asyncio.sleep(0.01)
        blocker.gate.set()
        _, rb, rc = await asyncio.gather(a, b, c)
        assert blocker.calls == [1, 5]
        assert rb["y"].shape == (3, 1)
        assert (rb["y"] == 4).all()
        assert rc["y"].shape == (2, 1)
        assert (rc["y"] == 6).all()

    run(scenario())


def test_model_error_fails_its_batch_only_and_the_next_request_works() -> None:
    async def scenario() -> None:
        runtime = GatedRuntime(fail_on=-1)
        runtime.gate.set()
        stats = ModelStats()
        batcher = Batcher(BatchPolicy(max_batch_size=4), [runtime], stats, "t")
        with pytest.raises(ModelExecutionError, match="ValueError: bad row"):
            await batcher.submit(row(-1), 1, "k")
        assert float((await batcher.submit(row(3), 1, "k"))["y"][0, 0]) == 6

    run(scenario())


def test_full_queue_gives_back_pressure() -> None:
    async def scenario() -> None:
        runtime = GatedRuntime()
        batcher = Batcher(BatchPolicy(max_batch_size=1, max_queue_size=2), [runtime], ModelStats(), "t")
        running = asyncio.ensure_future(batcher.submit(row(0), 1, "k"))
        await until(lambda: runtime.calls)
        queued = [asyncio.ensure_future(batcher.submit(row(i), 1, "k")) for i in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(Unavailable, match="queue is full"):
            await batcher.submit(row(3), 1, "k")
        runtime.gate.set()
        assert len(await asyncio.gather(running, *queued)) == 3

    run(scenario())


def test_deadline_fails_only_that_request_and_cancelled_requests_never_run() -> None:
    async def scenario() -> None:
        runtime = GatedRuntime()
        batcher = Batcher(BatchPolicy(max_batch_size=1), [runtime], ModelStats(), "t")
        running = asyncio.ensure_future(batcher.submit(row(0), 1, "k"))
        await until(lambda: runtime.calls)
        with pytest.raises(DeadlineExceeded):
            await batcher.submit(row(1), 1, "k", timeout_s=0.01)
        cancelled = asyncio.ensure_future(batcher.submit(row(2), 1, "k"))
        kept = asyncio.ensure_future(batcher.submit(row(3), 1, "k"))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        runtime.gate.set()
        await running
        assert float((await kept)["y"][0, 0]) == 6
        assert runtime.calls == [1, 1]  # neither the expired nor the cancelled request ran

    run(scenario())


def test_instances_run_batches_at_once() -> None:
    async def scenario() -> None:
        runtime = GatedRuntime()
        batcher = Batcher(BatchPolicy(max_batch_size=1), [runtime] * 3, ModelStats(), "t")
        futures = [asyncio.ensure_future(batcher.submit(row(i), 1, "k")) for i in range(3)]
        await until(lambda: runtime.running == 3)
        runtime.gate.set()
        await asyncio.gather(*futures)
        assert runtime.max_running == 3

    run(scenario())


def test_close_fails_queued_requests_and_refuses_new_ones() -> None:
    async def scenario() -> None:
        runtime = GatedRuntime()
        batcher = Batcher(BatchPolicy(max_batch_size=1), [runtime], ModelStats(), "t")
        running = asyncio.ensure_future(batcher.submit(row(0), 1, "k"))
        await until(lambda: runtime.calls)
        queued = asyncio.ensure_future(batcher.submit(row(1), 1, "k"))
        await asyncio.sleep(0)
        batcher.close()
        with pytest.raises(Unavailable, match="unloaded"):
            await queued
        with pytest.raises(Unavailable):
            await batcher.submit(row(2), 1, "k")
        runtime.gate.set()
        assert float((await running)["y"][0, 0]) == 0

    run(scenario())


def test_batched_onnx_results_equal_one_by_one_results(mlp_path: Path) -> None:
    runtime = OnnxRuntime(mlp_path)
    rows = np.random.default_rng(0).standard_normal((40, 4)).astype(np.float32)
    expected = runtime.predict({"x": rows})["y"]

    async def scenario() -> list[dict[str, np.ndarray]]:
        batcher = Batcher(BatchPolicy(max_batch_size=8), [runtime], ModelStats(), "t")
        return await asyncio.gather(*(batcher.submit({"x": rows[i : i + 1]}, 1, "k") for i in range(40)))

    got = np.concatenate([r["y"] for r in run(scenario())])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


class FastRuntime:
    """A real, cheap runtime (y = x + 1) that records which thread ran it."""

    thread_safe = True

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.calls: list[int] = []

    def predict(self, inputs: Tensors) -> dict[str, np.ndarray]:
        self.threads.append(threading.get_ident())
        self.calls.append(len(inputs["x"]))
        return {"y": inputs["x"] + 1}

    def native_signature(self) -> None:
        return None

    def unload(self) -> None:
        pass


def test_cheap_model_on_an_idle_server_runs_on_the_loop_thread_without_queueing() -> None:
    async def scenario() -> None:
        runtime = FastRuntime()
        stats = ModelStats()
        batcher = Batcher(BatchPolicy(max_batch_size=8), [runtime], stats, "t", compute_estimate_s=10e-6)
        for i in range(5):
            result = await batcher.submit(row(i), 1, "k")
            assert float(result["y"][0, 0]) == i + 1
        assert set(runtime.threads) == {threading.get_ident()}
        assert runtime.calls == [1] * 5
        assert stats.execution_count == 5

    run(scenario())


def test_cheap_model_under_load_switches_to_gathering_and_back() -> None:
    from modelyard.server.batching.batcher import PROBE_EVERY

    async def scenario() -> None:
        runtime = FastRuntime()
        batcher = Batcher(BatchPolicy(max_batch_size=64), [runtime], ModelStats(), "t", compute_estimate_s=10e-6)
        burst = await asyncio.gather(*(batcher.submit(row(i), 1, "k") for i in range(PROBE_EVERY + 8)))
        assert [float(r["y"][0, 0]) for r in burst] == [i + 1 for i in range(PROBE_EVERY + 8)]
        assert max(runtime.calls) > 1  # the probe found company: a batch formed behind it
        assert batcher._gathering
        runtime.calls.clear()
        for i in range(3):  # one at a time again: the next batch has one request, back to running at once
            await batcher.submit(row(i), 1, "k")
        assert not batcher._gathering
        assert runtime.calls == [1, 1, 1]

    run(scenario())


def test_slow_model_uses_its_instance_thread() -> None:
    async def scenario() -> None:
        runtime = FastRuntime()
        batcher = Batcher(BatchPolicy(max_batch_size=8), [runtime], ModelStats(), "t", compute_estimate_s=0.01)
        await batcher.submit(row(1), 1, "k")
        assert runtime.threads[0] != threading.get_ident()

    run(scenario())


class WaitingRuntime(FastRuntime):
    """y = x + 1 that sleeps `seconds` on every call, or only on calls off the thread it was made on: what a
    model that waits for a disk looks like, or a cheap one whose thread waits for the lock behind a busy loop."""

    def __init__(self, seconds: float, only_off_loop: bool) -> None:
        super().__init__()
        self.seconds, self.only_off_loop, self.loop_thread = seconds, only_off_loop, threading.get_ident()

    def predict(self, inputs: Tensors) -> dict[str, np.ndarray]:
        if not self.only_off_loop or threading.get_ident() != self.loop_thread:
            time.sleep(self.seconds)  # the wall moves, the thread's CPU clock does not
        return super().predict(inputs)


def test_a_cheap_model_whose_batches_only_wait_on_its_thread_comes_back_inline() -> None:
    from modelyard.server.batching.inline import TRY_INLINE_AFTER

    async def scenario() -> None:
        runtime = WaitingRuntime(1e-3, only_off_loop=True)
        batcher = Batcher(BatchPolicy(max_batch_size=8), [runtime], ModelStats(), "t", compute_estimate_s=0.01)
        for i in range(TRY_INLINE_AFTER + 10):
            assert float((await batcher.submit(row(i), 1, "k"))["y"][0, 0]) == i + 1
        loop = threading.get_ident()
        assert all(t != loop for t in runtime.threads[:TRY_INLINE_AFTER])  # 1 ms a batch there: on its thread
        assert runtime.threads[TRY_INLINE_AFTER] == loop  # then tried inline, where it takes microseconds
        assert runtime.threads[-9:] == [loop] * 9  # and kept there
        assert batcher.compute_ewma_s is not None
        assert batcher.compute_ewma_s < batcher.inline_below_s

    run(scenario())


def test_a_model_that_waits_wherever_it_runs_stays_on_its_thread() -> None:
    from modelyard.server.batching.inline import TRY_INLINE_AFTER

    async def scenario() -> None:
        runtime = WaitingRuntime(1e-3, only_off_loop=False)
        batcher = Batcher(BatchPolicy(max_batch_size=8), [runtime], ModelStats(), "t", compute_estimate_s=0.01)
        for i in range(2 * TRY_INLINE_AFTER + 4):
            await batcher.submit(row(i), 1, "k")
        on_loop = [i for i, t in enumerate(runtime.threads) if t == threading.get_ident()]
        assert on_loop == [TRY_INLINE_AFTER, 2 * TRY_INLINE_AFTER + 1]  # tried inline once each time, never kept there
        assert batcher.compute_ewma_s is not None
        assert batcher.compute_ewma_s >= batcher.inline_below_s

    run(scenario())


def test_memory_is_released_once_after_a_burst_and_an_idle_model_arms_no_timer() -> None:
    async def scenario() -> None:
        runtime = GatedRuntime()
        runtime.gate.set()
        batcher = Batcher(BatchPolicy(max_batch_size=4), [runtime], ModelStats(), "t")
        released: list[int] = []
        batcher.watch_idle(lambda: released.append(batcher.activity), period_s=0.02)
        await asyncio.sleep(0.1)
        assert released == []  # no traffic yet: nothing to release
        assert batcher._idle_watch is None  # and no timer to wake the loop
        for burst in (1, 2):
            for i in range(3):
                await batcher.submit(row(i), 1, "k")
                await asyncio.sleep(0.005)  # less than a period: still busy
            await until(lambda b=burst: len(released) == b)
            assert released[-1] == 3 * burst  # after the burst's last request, not during it
            await asyncio.sleep(0.1)
            assert len(released) == burst  # once
            assert batcher._idle_watch is None  # then asleep until a request
        batcher.close()

    run(scenario())


def test_each_batch_is_shown_whole_once_on_its_thread_and_inline() -> None:
    """The drift tally's hook: one call a batch with the batch's joined inputs and outputs, not one a request."""

    async def scenario() -> None:
        seen: list[tuple[list[float], list[float]]] = []

        def hook(inputs: Tensors, outputs: Tensors) -> None:
            seen.append((inputs["x"].ravel().tolist(), outputs["y"].ravel().tolist()))

        runtime = GatedRuntime()
        batcher = Batcher(BatchPolicy(max_batch_size=16), [runtime], ModelStats(), "t", seen=hook)
        first = asyncio.ensure_future(batcher.submit(row(0), 1, "k"))
        await until(lambda: runtime.calls == [1])
        rest = [asyncio.ensure_future(batcher.submit(row(i), 1, "k")) for i in range(1, 4)]
        await asyncio.sleep(0.02)
        runtime.gate.set()
        await asyncio.gather(first, *rest)
        assert seen == [([0], [0]), ([1, 2, 3], [2, 4, 6])]  # on the instance thread
        inline = Batcher(BatchPolicy(max_batch_size=16), [runtime], ModelStats(), "t", compute_estimate_s=1e-6,
                         seen=hook)  # fmt: skip
        await inline.submit(row(5), 1, "k")  # an idle, cheap model: run at once on the loop
        assert seen[-1] == ([5], [10])
        failing = GatedRuntime(fail_on=7)
        failing.gate.set()
        broken = Batcher(BatchPolicy(max_batch_size=16), [failing], ModelStats(), "t", seen=hook)
        with pytest.raises(ModelExecutionError):
            await broken.submit(row(7), 1, "k")
        assert len(seen) == 3  # a batch that failed shows nothing

    run(scenario())


def test_the_traffic_logs_hook_is_shown_each_batchs_logged_requests_by_their_rows() -> None:
    """`submit(logged=...)`: the batch that answers shows the log which of its rows each logged request holds, with
    the batch's tensors; a batch without a logged request, or one that failed, shows nothing."""

    async def scenario() -> None:
        shown: list[tuple[list[tuple[int, int, str, str | None]], int, list[float]]] = []
        latencies: list[int] = []

        def hook(entries: list[Any], rows: int, inputs: Tensors, outputs: Tensors) -> None:
            shown.append(([e[:4] for e in entries], rows, outputs["y"].ravel().tolist()))
            latencies.extend(e[4] for e in entries)

        runtime = GatedRuntime()
        batcher = Batcher(BatchPolicy(max_batch_size=16), [runtime], ModelStats(), "t", log=hook)
        first = asyncio.ensure_future(batcher.submit(row(0), 1, "k", logged=("m", "r0")))
        await until(lambda: runtime.calls == [1])
        two = {"x": np.array([[1], [2]], dtype=np.float32)}
        rest = [asyncio.ensure_future(batcher.submit(two, 2, "k")),
                asyncio.ensure_future(batcher.submit(row(3), 1, "k", logged=("m@production", "r3"))),
                asyncio.ensure_future(batcher.submit(row(4), 1, "k"))]  # fmt: skip
        await asyncio.sleep(0.02)
        runtime.gate.set()
        await asyncio.gather(first, *rest)
        assert shown == [([(0, 1, "m", "r0")], 1, [0]), ([(2, 1, "m@production", "r3")], 4, [2, 4, 6, 8])]
        await batcher.submit(row(5), 1, "k")
        assert len(shown) == 2  # nothing logged in that batch
        inline = Batcher(BatchPolicy(max_batch_size=16), [runtime], ModelStats(), "t", compute_estimate_s=1e-6,
                         log=hook)  # fmt: skip
        await inline.submit(row(6), 1, "k", logged=("m", None))  # run at once on the loop: logged the same
        assert shown[-1] == ([(0, 1, "m", None)], 1, [12])
        failing = GatedRuntime(fail_on=7)
        failing.gate.set()
        broken = Batcher(BatchPolicy(max_batch_size=16), [failing], ModelStats(), "t", log=hook)
        with pytest.raises(ModelExecutionError):
            await broken.submit(row(7), 1, "k", logged=("m", "r7"))
        assert len(shown) == 3  # the data plane logs a failure, with its error
        assert all(isinstance(ns, int) and ns >= 0 for ns in latencies)

        def broken_log(*_: Any) -> None:
            raise OSError("disk full")

        unlucky = Batcher(BatchPolicy(max_batch_size=16), [runtime], ModelStats(), "t", log=broken_log)
        answered = await unlucky.submit(row(8), 1, "k", logged=("m", "r8"))
        assert answered["y"].tolist() == [[16]]  # a log that fails never fails the request its model answered

    run(scenario())


def test_a_detached_job_joins_a_batch_is_logged_and_reports_its_end_without_a_future() -> None:
    """`enqueue` (a shadow's call): batched with awaited requests, its rows logged, its end told to its sink;
    a failed batch tells it the model's error; a closed batcher refuses it at once."""

    async def scenario() -> None:
        runtime = GatedRuntime(fail_on=-1)
        logged: list[list[Any]] = []
        batcher = Batcher(BatchPolicy(max_batch_size=8), [runtime], ModelStats(), "t",
                          log=lambda entries, rows, inputs, outputs: logged.append([entries, rows]))  # fmt: skip
        ends: list[BaseException | None] = []
        first = asyncio.ensure_future(batcher.submit(row(1), 1, "k"))
        await until(lambda: runtime.calls == [1])  # the instance busy: the next two gather
        sink = Detached(ends.append)
        batcher.enqueue(row(2), 1, "k", sink, ("m@shadow", "r2"))
        awaited = asyncio.ensure_future(batcher.submit(row(3), 1, "k"))
        assert not sink.done()
        runtime.gate.set()
        assert float((await awaited)["y"][0, 0]) == 6
        await first
        await until(lambda: ends)
        assert ends == [None]
        assert runtime.calls == [1, 2]
        assert logged == [[[(0, 1, "m@shadow", "r2", logged[0][0][0][4])], 2]]  # its row of the batch of two
        batcher.enqueue(row(-1), 1, "k", Detached(ends.append))
        await until(lambda: len(ends) == 2)
        assert isinstance(ends[1], ModelExecutionError)
        batcher.close()
        with pytest.raises(Unavailable):
            batcher.enqueue(row(4), 1, "k", Detached(ends.append))
        assert len(ends) == 2

    run(scenario())
