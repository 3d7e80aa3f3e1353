"""The dynamic batching policy: pure, with the clock passed in, so it is tested tick by tick.

Triton's knobs (`max_batch_size`, `preferred_batch_sizes`, `max_queue_delay`, `max_queue_size`), one rule of ours:
when every instance is idle the oldest requests go at once, so batching adds no latency to an idle server. While
any instance is busy, requests gather; a free instance then takes a batch at once if it reaches a preferred size
(or max_batch_size), else after the oldest request has waited `max_queue_delay`. With one instance that means: run
whatever has gathered as soon as the instance is free. A policy that `hold`s gathers even while idle: its requests
wait for a full batch or the delay, since nobody waits for their answers (a shadow candidate's calls).
"""

from __future__ import annotations

import itertools
import math
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
    hold: bool = False  # gather even while every instance is idle: for work nobody waits for (a shadow)

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
    """Pending requests in arrival order. Every operation on the hot path costs the size of the batch it takes,
    not the length of the queue: an unbatched model under load takes one request per pump from a queue as long as
    its concurrency, and scans of the whole queue there cost more than the requests' own bookkeeping."""

    def __init__(self, policy: BatchPolicy, is_abandoned: Callable[[T], bool] = lambda _: False) -> None:
        self.policy = policy
        self.items: deque[Pending[T]] = deque()
        self.is_abandoned = is_abandoned
        self._next_deadline = math.inf  # no queued deadline passes before this (it may be earlier than the truth)

    def __len__(self) -> int:
        return len(self.items)

    def offer(self, item: Pending[T]) -> bool:
        """False when the queue is full: the caller answers 503 rather than letting memory grow. Abandoned
        requests wait in the queue until a batch reaches them; they are dropped before the queue counts as full."""
        if len(self.items) >= self.policy.max_queue_size:
            self._drop_abandoned()
            if len(self.items) >= self.policy.max_queue_size:
                return False
        self.items.append(item)
        if item.deadline is not None:
            self._next_deadline = min(self._next_deadline, item.deadline)
        return True

    def _drop_abandoned(self) -> None:
        self.items = deque(p for p in self.items if not self.is_abandoned(p.payload))

    def expire(self, now: float) -> list[Pending[T]]:
        """Remove and return requests past their deadline (abandoned ones among them are dropped silently).
        Scans the queue only once the earliest deadline has passed."""
        if now < self._next_deadline:
            return []
        expired: list[Pending[T]] = []
        kept: deque[Pending[T]] = deque()
        self._next_deadline = math.inf
        for p in self.items:
            if p.deadline is not None and p.deadline <= now:
                if not self.is_abandoned(p.payload):
                    expired.append(p)
                continue
            kept.append(p)
            if p.deadline is not None:
                self._next_deadline = min(self._next_deadline, p.deadline)
        self.items = kept
        return expired

    def _skip_abandoned(self) -> bool:
        """Drop abandoned requests from the head; False when nothing live is left."""
        while self.items and self.is_abandoned(self.items[0].payload):
            self.items.popleft()
        return bool(self.items)

    def _gather(self) -> list[Pending[T]]:
        """The oldest live request and, in arrival order, the live ones that fit its batch (same key, within max
        rows)."""
        first = self.items[0]
        if self.policy.max_batch_size <= 0:
            return [first]
        batch, rows = [first], first.rows
        for p in itertools.islice(self.items, 1, None):
            if rows >= self.policy.max_batch_size:
                break
            if p.key == first.key and rows + p.rows <= self.policy.max_batch_size and not self.is_abandoned(p.payload):
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
        if free <= 0 or not self._skip_abandoned():
            return None
        batch = self._gather()
        rows = sum(p.rows for p in batch)
        waited_enough = now - batch[0].enqueued_at >= self.policy.max_queue_delay_s
        if (busy == 0 and not self.policy.hold) or rows >= self.policy.target or waited_enough:
            if busy and not waited_enough:
                batch = self._trim_to_preferred(batch)
            self._remove(batch)
            return batch
        return batch[0].enqueued_at + self.policy.max_queue_delay_s

    def _remove(self, batch: list[Pending[T]]) -> None:
        """Abandoned requests the batch skipped over leave with it."""
        head = itertools.islice(self.items, len(batch))
        if all(p is q for p, q in zip(batch, head, strict=True)):  # the usual case: the batch is the queue's head
            for _ in batch:
                self.items.popleft()
            return
        taken, last = {id(p) for p in batch}, batch[-1]
        kept: deque[Pending[T]] = deque()
        while self.items:
            p = self.items.popleft()
            if id(p) not in taken and not self.is_abandoned(p.payload):
                kept.append(p)
            if p is last:
                break
        kept.extend(self.items)
        self.items = kept
