"""The traffic log in process: sampling, the bounded buffer, files renamed into place, rotation, reading back."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from modelyard.errors import InvalidArgument, NotFound
from modelyard.protocol.types import InferInput, InferOutput, InferRequest, InferResponse
from modelyard.testing import wait_until
from modelyard.traffic import Sampler, TrafficLog, list_files, read_window
from modelyard.traffic.log import Rotation
from modelyard.traffic.reader import count_rows, parse_since
from modelyard.traffic.records import row_tensors
from modelyard.traffic.sampling import bucket


def request(i: int, rows: int = 1, user: str | None = None) -> InferRequest:
    x = np.full((rows, 4), i, np.float32)
    parameters = {"user": user} if user else {}
    return InferRequest([InferInput("x", "FP32", x.shape, x)], id=f"r{i}", parameters=parameters)


def response(i: int, rows: int = 1) -> InferResponse:
    return InferResponse("fraud", "1", [InferOutput("y", "FP32", np.full((rows, 1), i * 2, np.float32))])


def test_sampling_by_rate_and_by_a_parameters_hash() -> None:
    assert Sampler(1.0).keep({})
    assert not Sampler(0.0).keep({})
    draws = iter([0.05, 0.5])
    sampler = Sampler(0.1, draw=lambda: next(draws))
    assert [sampler.keep({}), sampler.keep({})] == [True, False]
    keyed = Sampler(0.5, key="user")
    users = [f"user-{i}" for i in range(2000)]
    kept = {u for u in users if keyed.keep({"user": u})}
    assert all(keyed.keep({"user": u}) == (u in kept) for u in users)  # one user's requests: always the same fate
    assert 0.45 < len(kept) / len(users) < 0.55
    assert bucket("user-7") == bucket("user-7")
    with pytest.raises(InvalidArgument, match="--log-sample"):
        Sampler(1.5)


def test_what_is_recorded_comes_back_as_it_was_sent_and_a_file_is_seen_only_once_closed(tmp_path: Path) -> None:
    url = str(tmp_path / "traffic")
    log = TrafficLog(url, Sampler(1.0), worker="w1")
    for i in range(10):
        log.record("fraud@production" if i % 2 else "fraud", "1", request(i, rows=2), response(i, rows=2), 1500)
    log.record("fraud", "1", request(99), None, 800, InvalidArgument("inputs[0] 'x': bad"))
    log.flush(time.time())
    assert list_files(url, "fraud") == []  # written, but under a hidden temporary name: no half files for readers
    log.close()
    (written,) = list_files(url, "fraud")
    assert (written.version, written.path.endswith(".parquet")) == ("1", True)
    window = read_window(url, "fraud")
    assert window.rows == 11
    x = window.inputs()["x"]
    assert x.shape == (21, 4)  # every request's rows (ten of two, one of one), in order
    np.testing.assert_array_equal(x[:20:2, 0], range(10))
    assert x[20, 0] == 99
    assert window.outputs()["y"].shape == (20, 1)  # the failed request has no outputs
    table = window.table
    assert table.column("outcome").to_pylist()[-1] == "InvalidArgument"
    assert table.column("latency_us").to_pylist()[0] == 1.5
    assert read_window(url, "fraud", alias="production").rows == 5  # what callers of the alias were answered
    assert log.logged == 11


def test_the_writer_flushes_a_flushs_worth_at_once_and_less_after_flush_s(tmp_path: Path) -> None:
    """Written when `flush_bytes` came, long before `flush_s`; a trickle waits for `flush_s`, not for more."""
    log = TrafficLog(str(tmp_path), Sampler(1.0), flush_bytes=4000, flush_s=3600)
    log.start()
    try:
        for i in range(5):
            log.record("fraud", "1", request(i), response(i), 1000)
        time.sleep(0.3)
        assert log.logged == 0  # under a flush's worth: waiting
        for i in range(5, 40):
            log.record("fraud", "1", request(i), response(i), 1000)
        wait_until(lambda: log.logged > 0, 10, what="a flush's worth written")
        assert log.logged >= 4000 // 300
    finally:
        log.close()
    trickle = TrafficLog(str(tmp_path / "trickle"), Sampler(1.0), flush_bytes=1 << 30, flush_s=0.2)
    trickle.start()
    try:
        trickle.record("fraud", "1", request(0), response(0), 1000)
        wait_until(lambda: trickle.logged == 1, 10, what="one entry written after flush_s")
    finally:
        trickle.close()
    assert log.logged == 40
    assert read_window(str(tmp_path), "fraud").rows == 40


def test_a_full_buffer_drops_and_counts_and_inference_never_waits(tmp_path: Path) -> None:
    log = TrafficLog(str(tmp_path), Sampler(1.0), buffer_bytes=2000)
    for i in range(20):
        log.record("fraud", "1", request(i), response(i), 1000)
    assert log.dropped > 0
    log.close()
    assert log.logged + log.dropped == 20
    assert read_window(str(tmp_path), "fraud").rows == log.logged


def test_files_rotate_by_size_and_age_tick_by_tick(tmp_path: Path) -> None:
    rotation = Rotation(file_bytes=1 << 30, file_s=60.0)
    assert not rotation.due(opened_at=0.0, size=10, now=59.0)
    assert rotation.due(opened_at=0.0, size=10, now=60.0)
    assert Rotation(file_bytes=100, file_s=1e9).due(0.0, 100, 0.0)
    log = TrafficLog(str(tmp_path), Sampler(1.0), rotation=Rotation(file_s=60.0))
    log.record("fraud", "1", request(1), response(1), 1000)
    log.flush(now=1000.0)  # opened at 1000
    log.record("fraud", "1", request(2), response(2), 1000)
    log.flush(now=1030.0)
    assert list_files(str(tmp_path), "fraud") == []
    log.flush(now=1061.0)  # 61 s after it was opened: closed and renamed, readable
    assert len(list_files(str(tmp_path), "fraud")) == 1
    log.record("fraud", "1", request(3), response(3), 1000)
    log.close()
    assert len(list_files(str(tmp_path), "fraud")) == 2
    assert read_window(str(tmp_path), "fraud").rows == 3
    assert count_rows(str(tmp_path), "fraud") == count_rows(str(tmp_path), "fraud", "1") == 3  # from the footers
    assert count_rows(str(tmp_path), "fraud", "2") == 0


def test_another_set_of_tensors_starts_a_file_of_its_own(tmp_path: Path) -> None:
    log = TrafficLog(str(tmp_path), Sampler(1.0))
    log.record("fraud", "1", request(1), response(1), 1000)
    log.flush(time.time())
    extra = request(2)
    extra.inputs.append(InferInput("mask", "BOOL", (1, 4), np.ones((1, 4), bool)))
    log.record("fraud", "1", extra, response(2), 1000)
    log.close()
    assert len(list_files(str(tmp_path), "fraud")) == 2
    window = read_window(str(tmp_path), "fraud")
    assert window.rows == 2
    assert window.inputs()["mask"].shape == (1, 4)


def test_any_fsspec_url_and_windows_in_time(tmp_path: Path) -> None:
    url = "memory://modelyard-test-traffic"
    log = TrafficLog(url, Sampler(1.0))
    log.record("fraud", "2", request(1), response(1), 1000)
    log.close()
    assert read_window(url, "fraud", version="2").rows == 1
    assert read_window(url, "fraud", since=time.time() + 60).rows == 0
    with pytest.raises(NotFound, match="no recorded traffic for fraud/3"):
        read_window(url, "fraud", version="3")
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    with pytest.raises(InvalidArgument, match="--since"):
        parse_since("yesterday")


WARMED = """
import sys, time
import numpy as np
from modelyard.protocol.types import InferInput, InferOutput, InferRequest, InferResponse
from modelyard.traffic import Sampler, TrafficLog
log = TrafficLog(sys.argv[1], Sampler(1.0))
log.start()  # what the server does before it freezes its heap
before = set(sys.modules)
x = np.ones((2, 3), np.float32)
request = InferRequest([InferInput("x", "FP32", (2, 3), x)], id="r1")
log.record("m@production", "1", request, InferResponse("m", "1", [InferOutput("y", "FP32", x)]), 1000)
log.close()
print(sorted(set(sys.modules) - before))
"""


def test_the_log_imports_what_its_writer_needs_when_it_starts_not_at_its_first_flush(tmp_path: Path) -> None:
    """pyarrow pulls pandas in on its first conversion: imported by the first flush, with the server running, it
    cost 7 % of W1's throughput for the server's life (`traffic.log.warm_up`). A fresh interpreter, since this
    one has imported everything already."""
    import subprocess
    import sys

    found = subprocess.run([sys.executable, "-c", WARMED, str(tmp_path / "traffic")], capture_output=True,
                           text=True, timeout=60, check=True)  # fmt: skip
    assert found.stdout.strip() == "[]", found.stdout
    assert list((tmp_path / "traffic").rglob("*.parquet"))  # and the entry was written


def test_an_entry_keeps_a_copy_of_its_rows_not_the_batch_they_were_cut_from(tmp_path: Path) -> None:
    """A response's outputs are views of the whole batch's: kept as they are, one sampled request of a batch of
    64 would hold all 64 rows in a buffer that counts one, so the byte bound would not bound memory."""
    import weakref

    batch = np.arange(64 * 1024, dtype=np.float32)
    batch.shape = (64, 1024)  # in place: the array that owns the memory, which a view would keep alive
    kept = weakref.ref(batch)
    log = TrafficLog(str(tmp_path), Sampler(1.0))
    answer = InferResponse("fraud", "1", [InferOutput("y", "FP32", batch[3:4])])
    log.record("fraud", "1", request(3), answer, 1000)
    del batch, answer
    assert kept() is None  # the batch is gone; the log holds the one row
    log.close()
    np.testing.assert_array_equal(read_window(str(tmp_path), "fraud").outputs()["y"][0], np.arange(3072, 4096))


def test_text_tensors_and_tensors_some_entries_lack_come_back_as_sent(tmp_path: Path) -> None:
    log = TrafficLog(str(tmp_path), Sampler(1.0))
    words = np.array([[b"fraud", b"ok"], [b"", "caf\u00e9".encode()]], dtype=object)
    for i in range(3):
        sent = InferRequest([InferInput("text", "BYTES", words.shape, words[: i + 1])], id=f"t{i}")
        log.record("fraud", "1", sent, response(i, rows=min(i + 1, 2)) if i != 1 else None, 1000)
    log.close()
    window = read_window(str(tmp_path), "fraud")
    first, second = [b"fraud", b"ok"], [b"", "caf\u00e9".encode()]
    assert window.inputs()["text"].tolist() == [first, first, second, first, second]
    assert window.outputs()["y"].ravel().tolist() == [0, 4, 4]  # the second request failed: no outputs


def test_a_batch_logs_the_rows_of_its_sampled_requests_and_holds_no_batch_it_logged_in_part(tmp_path: Path) -> None:
    """The batcher's path (`record_batch`): four requests of 1, 2, 1 and 3 rows in one batch of 7."""
    import weakref

    log = TrafficLog(str(tmp_path), Sampler(1.0))
    x = np.arange(7 * 4, dtype=np.float32).reshape(7, 4)
    every = [(0, 1, "fraud", "a", 1000), (1, 2, "fraud@production", "b", 2000), (3, 1, "fraud", "c", 3000),
             (4, 3, "fraud", "d", 4000)]  # fmt: skip
    log.record_batch("1", every, 7, {"x": x}, {"y": x[:, :1] * 2})
    other = x + 100
    kept = weakref.ref(other)
    log.record_batch("1", [every[1], every[3]], 7, {"x": other}, {"y": other[:, :1] * 2})  # two of four sampled
    log.record_batch("1", [every[3]], 7, {"x": other}, {"y": other[:, :1] * 2})  # one of four
    del other
    assert kept() is None  # the rows of the sampled were copied out: the buffer's bound counts what it holds
    odd = np.array([1.0, 2.0, 3.0], np.float32)  # a one-request batch's output without the batch's rows
    log.record_batch("1", [(0, 1, "fraud", "e", 500)], 1, {"x": x[:1]}, {"y": odd})
    log.close()
    window = read_window(str(tmp_path), "fraud")
    table = window.table
    assert table.column("request_id").to_pylist() == ["a", "b", "c", "d", "b", "d", "d", "e"]
    assert table.column("alias").to_pylist() == ["", "production", "", "", "production", "", "", ""]
    assert table.column("latency_us").to_pylist() == [1, 2, 3, 4, 2, 4, 4, 0.5]
    sent = np.concatenate([x, x[1:3] + 100, x[4:7] + 100, x[4:7] + 100, x[:1]])
    np.testing.assert_array_equal(window.inputs()["x"], sent)
    assert [list(s) for s in table.column("input.x.shape").to_pylist()] == [[1, 4], [2, 4], [1, 4], [3, 4], [2, 4],
                                                                          [3, 4], [3, 4], [1, 4]]  # fmt: skip
    answers = [a for a in row_tensors(table, "output.y") if a is not None]
    np.testing.assert_array_equal(np.concatenate(answers[:7]).ravel(), sent[:-1, 0] * 2)
    np.testing.assert_array_equal(answers[7], [1.0, 2.0, 3.0])
