"""The dynamic batching policy: pure, with the clock passed in, so it is tested tick by tick.

Triton's knobs (`max_batch_size`, `preferred_batch_sizes`, `max_queue_delay`, `max_queue_size`), one rule of ours:
when every instance is idle the oldest requests go at once, so batching adds no latency to an idle server. While
any instance is busy, requests gather; a free instance then takes a batch at once if it reaches a preferred size
(or max_batch_size), else after the oldest request has waited `max_queue_delay`. With one instance that means: run
whatever has gathered as soon as the instance is free.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    max_batch_size: int  # rows per batch; 0: never combine requests
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_s: float = 0.001
    max_queue_size: int = 1024

    @property
    def target(self) -> int:
        """A batch this large goes at once."""
        if self.max_batch_size <= 0:
            return 1
        return max(self.preferred_batch_sizes, default=self.max_batch_size)


@dataclass(slots=True)
class Pending(Generic[T]):
    payload: T
    key: object
    rows: int
    enqueued_at: float
    deadline: float | None = None


class BatchQueue(Generic[T]):
    def __init__(self, policy: BatchPolicy, is_abandoned: Callable[[T], bool] = lambda _: False) -> None:
        self.policy = policy
        self.items: deque[Pending[T]] = deque()
        self.is_abandoned = is_abandoned

    def __len__(self) -> int:
        return len(self.items)

    def offer(self, item: Pending[T]) -> bool:
        """False when the queue is full: the caller answers 503 rather than letting memory grow."""
        if len(self.items) >= self.policy.max_queue_size:
            return False
        self.items.append(item)
        return True

    def expire(self, now: float) -> list[Pending[T]]:
        """Remove and return requests past their deadline; silently drop abandoned (cancelled) ones."""
        expired: list[Pending[T]] = []
        if not any(p.deadline is not None or self.is_abandoned(p.payload) for p in self.items):
            return expired
        kept: deque[Pending[T]] = deque()
        for p in self.items:
            if self.is_abandoned(p.payload):
                continue
            if p.deadline is not None and p.deadline <= now:
                expired.append(p)
            else:
                kept.append(p)
        self.items = kept
        return expired

    def _gather(self) -> list[Pending[T]]:
        """The oldest request and, in arrival order, those that fit its batch (same key, within max rows)."""
        first = self.items[0]
        if self.policy.max_batch_size <= 0:
            return [first]
        batch, rows = [first], first.rows
        for p in list(self.items)[1:]:
            if rows >= self.policy.max_batch_size:
                break
            if p.key == first.key and rows + p.rows <= self.policy.max_batch_size:
                batch.append(p)
                rows += p.rows
        return batch

    def _trim_to_preferred(self, batch: list[Pending[T]]) -> list[Pending[T]]:
        rows = sum(p.rows for p in batch)
        fitting = [s for s in self.policy.preferred_batch_sizes if s <= rows]
        if not fitting:
            return batch
        target, total = max(fitting), 0
        kept: list[Pending[T]] = []
        for p in batch:
            if total + p.rows > target and kept:
                break
            kept.append(p)
            total += p.rows
        return kept

    def next_batch(self, now: float, free: int, busy: int) -> list[Pending[T]] | float | None:
        """What a free instance should do now: a batch to run, the time to look again, or None (nothing to do).

        `free` and `busy` count the model's instances. The batch is removed from the queue.
        """
        if free <= 0 or not self.items:
            return None
        batch = self._gather()
        rows = sum(p.rows for p in batch)
        waited_enough = now - batch[0].enqueued_at >= self.policy.max_queue_delay_s
        if busy == 0 or rows >= self.policy.target or waited_enough:
            if busy and not waited_enough:
                batch = self._trim_to_preferred(batch)
            self._remove(batch)
            return batch
        return batch[0].enqueued_at + self.policy.max_queue_delay_s

    def _remove(self, batch: list[Pending[T]]) -> None:
        if len(batch) == len(self.items):
            self.items.clear()
            return
        taken = {id(p) for p in batch}
        self.items = deque(p for p in self.items if id(p) not in taken)
