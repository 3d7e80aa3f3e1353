"""The batching policy, tick by tick with a fake clock."""

from __future__ import annotations

from modelyard.server.batching.policy import BatchPolicy, BatchQueue, Pending

MS = 0.001


def q(policy: BatchPolicy) -> BatchQueue[str]:
    return BatchQueue(policy, is_abandoned=lambda payload: payload.startswith("cancelled"))


def put(
    queue: BatchQueue[str], name: str, at: float, rows: int = 1, key: object = "k", deadline: float | None = None
) -> None:
    assert queue.offer(Pending(name, key, rows, at, deadline))


def names(batch: object) -> list[str]:
    assert isinstance(batch, list), batch
    return [p.payload for p in batch]


def test_idle_model_dispatches_at_once_without_waiting_for_the_delay() -> None:
    queue = q(BatchPolicy(max_batch_size=32, max_queue_delay_s=5 * MS))
    put(queue, "a", at=0.0)
    assert names(queue.next_batch(now=0.0, free=1, busy=0)) == ["a"]
    assert len(queue) == 0


def test_requests_gather_while_the_only_instance_is_busy() -> None:
    queue = q(BatchPolicy(max_batch_size=32, max_queue_delay_s=5 * MS))
    for i, t in enumerate((0.0, 0.1 * MS, 0.2 * MS)):
        put(queue, f"r{i}", at=t)
    assert queue.next_batch(now=0.3 * MS, free=0, busy=1) is None  # nothing can run
    assert names(queue.next_batch(now=0.4 * MS, free=1, busy=0)) == ["r0", "r1", "r2"]


def test_with_other_instances_busy_a_partial_batch_waits_for_the_delay() -> None:
    queue = q(BatchPolicy(max_batch_size=8, preferred_batch_sizes=(4,), max_queue_delay_s=2 * MS))
    put(queue, "a", at=0.0)
    put(queue, "b", at=0.5 * MS)
    assert queue.next_batch(now=1 * MS, free=1, busy=1) == 2 * MS  # look again when a's delay is over
    put(queue, "c", at=1.5 * MS)
    assert names(queue.next_batch(now=2 * MS, free=1, busy=1)) == ["a", "b", "c"]


def test_preferred_size_goes_at_once_and_the_rest_waits() -> None:
    queue = q(BatchPolicy(max_batch_size=8, preferred_batch_sizes=(2, 4), max_queue_delay_s=10 * MS))
    for i in range(5):
        put(queue, f"r{i}", at=i * 0.01 * MS)
    assert names(queue.next_batch(now=0.1 * MS, free=1, busy=1)) == ["r0", "r1", "r2", "r3"]
    assert isinstance(queue.next_batch(now=0.1 * MS, free=1, busy=2), float)
    assert names(queue.next_batch(now=0.1 * MS, free=1, busy=0)) == ["r4"]


def test_max_batch_size_counts_rows_and_keeps_order() -> None:
    queue = q(BatchPolicy(max_batch_size=4))
    put(queue, "three", at=0.0, rows=3)
    put(queue, "two", at=0.1, rows=2)
    put(queue, "one", at=0.2, rows=1)
    assert names(queue.next_batch(now=1.0, free=1, busy=0)) == ["three", "one"]
    assert names(queue.next_batch(now=1.0, free=1, busy=0)) == ["two"]


def test_requests_with_different_shapes_are_never_mixed() -> None:
    queue = q(BatchPolicy(max_batch_size=8))
    put(queue, "a", at=0.0, key=("x", (3,)))
    put(queue, "b", at=0.1, key=("x", (4,)))
    put(queue, "c", at=0.2, key=("x", (3,)))
    assert names(queue.next_batch(now=1.0, free=2, busy=0)) == ["a", "c"]
    assert names(queue.next_batch(now=1.0, free=1, busy=1)) == ["b"]


def test_unbatched_model_runs_one_request_per_call() -> None:
    queue = q(BatchPolicy(max_batch_size=0))
    put(queue, "a", at=0.0)
    put(queue, "b", at=0.0)
    assert names(queue.next_batch(now=0.0, free=2, busy=0)) == ["a"]
    assert names(queue.next_batch(now=0.0, free=1, busy=1)) == ["b"]


def test_full_queue_refuses() -> None:
    queue = q(BatchPolicy(max_batch_size=8, max_queue_size=2))
    put(queue, "a", at=0.0)
    put(queue, "b", at=0.0)
    assert not queue.offer(Pending("c", "k", 1, 0.0))
    assert len(queue) == 2


def test_expired_requests_are_returned_and_cancelled_ones_dropped() -> None:
    queue = q(BatchPolicy(max_batch_size=8))
    put(queue, "late", at=0.0, deadline=1 * MS)
    put(queue, "cancelled-by-client", at=0.0)
    put(queue, "fine", at=0.0, deadline=10 * MS)
    assert [p.payload for p in queue.expire(now=2 * MS)] == ["late"]
    assert names(queue.next_batch(now=2 * MS, free=1, busy=0)) == ["fine"]
    assert queue.next_batch(now=2 * MS, free=1, busy=0) is None


def test_cancelled_requests_never_join_a_batch_and_leave_with_it() -> None:
    queue = q(BatchPolicy(max_batch_size=8))
    for name in ("cancelled-0", "a", "cancelled-1", "b"):
        put(queue, name, at=0.0)
    put(queue, "other-shape", at=0.0, key="k2")
    put(queue, "cancelled-2", at=0.0)
    assert names(queue.next_batch(now=0.0, free=1, busy=0)) == ["a", "b"]
    assert [p.payload for p in queue.items] == ["other-shape", "cancelled-2"]  # the skipped ones are gone
    assert names(queue.next_batch(now=0.0, free=1, busy=0)) == ["other-shape"]
    assert queue.next_batch(now=0.0, free=1, busy=0) is None
    assert len(queue) == 0


def test_a_full_queue_makes_room_by_dropping_cancelled_requests() -> None:
    queue = q(BatchPolicy(max_batch_size=8, max_queue_size=2))
    put(queue, "a", at=0.0)
    put(queue, "cancelled", at=0.0)
    put(queue, "b", at=0.0)
    assert [p.payload for p in queue.items] == ["a", "b"]
    assert not queue.offer(Pending("c", "k", 1, 0.0))


def test_a_deadline_expires_on_the_first_look_after_it_and_the_next_one_is_kept() -> None:
    queue = q(BatchPolicy(max_batch_size=8))
    put(queue, "soon", at=0.0, deadline=1 * MS)
    put(queue, "later", at=0.0, deadline=3 * MS)
    assert queue.expire(now=0.5 * MS) == []
    assert [p.payload for p in queue.expire(now=1 * MS)] == ["soon"]
    assert queue.expire(now=2 * MS) == []
    assert [p.payload for p in queue.expire(now=3 * MS)] == ["later"]


def test_taking_a_batch_looks_at_the_batch_not_the_whole_queue() -> None:
    """An unbatched model under load takes one request per pump from a queue as long as its concurrency: the
    queue must not be scanned for each (it was, in expire, and cost the event loop a tenth of its time)."""
    looked: list[str] = []

    def abandoned(payload: str) -> bool:
        looked.append(payload)
        return False

    queue: BatchQueue[str] = BatchQueue(BatchPolicy(max_batch_size=0), is_abandoned=abandoned)
    for i in range(1000):
        put(queue, f"r{i}", at=0.0)
    for i in range(10):
        assert queue.expire(now=1.0) == []
        assert names(queue.next_batch(now=1.0, free=1, busy=0)) == [f"r{i}"]
    assert len(looked) <= 20


def test_a_holding_policy_gathers_while_idle_until_a_full_batch_or_the_delay() -> None:
    """A shadow's calls: nobody waits for them, so an idle instance does not take a lone request at once."""
    queue = q(BatchPolicy(max_batch_size=4, max_queue_delay_s=50 * MS, hold=True))
    put(queue, "a", at=0.0)
    assert queue.next_batch(now=0.0, free=1, busy=0) == 50 * MS  # idle, yet it waits
    put(queue, "b", at=10 * MS)
    assert queue.next_batch(now=49 * MS, free=1, busy=0) == 50 * MS
    assert names(queue.next_batch(now=50 * MS, free=1, busy=0)) == ["a", "b"]  # the oldest waited the delay
    for i, name in enumerate("cdef"):
        put(queue, name, at=60 * MS + i * MS)
    assert names(queue.next_batch(now=63 * MS, free=1, busy=0)) == ["c", "d", "e", "f"]  # full: at once
