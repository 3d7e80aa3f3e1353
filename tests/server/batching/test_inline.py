"""The inline rule's arithmetic, batch by batch (the batcher's use of it: test_batcher.py)."""

from __future__ import annotations

import pytest

from modelyard.server.batching.inline import compute_estimate, runs_inline, tried_inline, waited

BOUND = 200e-6


def test_the_compute_estimate_rides_out_bursts_of_slow_batches_and_follows_a_lasting_slowdown() -> None:
    estimate = compute_estimate(None, 30e-6)
    for seconds in [30e-6, 5e-3, 30e-6, 4e-3, 5e-3, 30e-6]:  # waits for the interpreter's lock: a few, then fine
        estimate = compute_estimate(estimate, seconds)
        assert runs_inline(estimate, instances=1, inline_below_s=BOUND)
    assert estimate < 60e-6
    estimate = 100e-6  # W1 at c=64, then a burst as measured in a server (µs): it stays inline
    for micros in [114, 405, 907, 405, 127, 108, 630, 322, 2055, 1099, 387, 98, 114]:
        estimate = compute_estimate(estimate, micros * 1e-6)
        assert runs_inline(estimate, instances=1, inline_below_s=BOUND)
    assert compute_estimate(100e-6, 120e-6) == pytest.approx(101e-6)  # slower: a twentieth of the difference
    assert compute_estimate(100e-6, 50e-6) == pytest.approx(90e-6)  # faster: a fifth
    estimate, batches = 30e-6, 0
    while runs_inline(estimate, instances=1, inline_below_s=BOUND) and batches < 60:  # it became slow: 1 ms a batch
        estimate = compute_estimate(estimate, 1e-3)
        batches += 1
    assert 36 <= batches <= 42  # 5 % more a batch (clipped at twice): 30 µs past 200 µs in about forty


def test_inline_rule() -> None:
    assert runs_inline(50e-6, instances=1, inline_below_s=200e-6)
    assert not runs_inline(500e-6, instances=1, inline_below_s=200e-6)
    assert not runs_inline(50e-6, instances=2, inline_below_s=200e-6)
    assert not runs_inline(None, instances=1, inline_below_s=200e-6)


def test_a_batch_waited_when_its_thread_computed_under_the_bound_and_the_wall_went_past_it() -> None:
    assert waited(wall_s=1e-3, thread_cpu_s=30e-6, inline_below_s=BOUND)  # behind the lock, or on a disk
    assert waited(wall_s=460e-6, thread_cpu_s=240e-6, inline_below_s=BOUND)  # W1's bigger batches on the thread
    assert not waited(wall_s=1e-3, thread_cpu_s=900e-6, inline_below_s=BOUND)  # it computed: stays
    assert not waited(wall_s=100e-6, thread_cpu_s=30e-6, inline_below_s=BOUND)  # under the bound anyway


def test_a_batch_tried_inline_brings_the_model_back_only_when_it_was_fast_there() -> None:
    assert tried_inline(1e-3, inline_wall_s=30e-6, inline_below_s=BOUND) == 30e-6
    assert tried_inline(1e-3, inline_wall_s=1e-3, inline_below_s=BOUND) == 1e-3  # it waits inline too
    assert tried_inline(5e-3, inline_wall_s=BOUND, inline_below_s=BOUND) == 5e-3
    estimate = tried_inline(1e-3, 30e-6, BOUND)
    assert runs_inline(estimate, instances=1, inline_below_s=BOUND)
