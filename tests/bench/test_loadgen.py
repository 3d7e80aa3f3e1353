"""The load generator against a real server: closed and open loop, and the response framing it must parse."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelyard import examples
from modelyard.bench.loadgen import _Connection
from modelyard.bench.runner import example_inputs, measure, target_for
from modelyard.bench.stats import Windows
from modelyard.packaging import build_package
from modelyard.testing import Server, start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("bench")
    build_package(examples.mlp_onnx(root / "tabular.onnx"), root / "packages" / "tabular")
    running = start_server([str(root / "packages"), "--grpc-port", "0"], root / "home")
    yield running
    stop_server(running)


def complete(*chunks: bytes) -> list[int | None]:
    conn = _Connection()
    statuses = []
    for chunk in chunks:
        conn.buffer += chunk
        statuses.append(conn._complete())
    return statuses


def test_responses_are_framed_by_their_own_content_length() -> None:
    head = b"HTTP/1.1 200 OK\r\ninference-header-content-length: 3\r\ncontent-length: 5\r\n\r\n"
    assert complete(head + b"ab", b"cde") == [None, 200]  # not fooled by the inference header's name
    chunked = b"HTTP/1.1 503 X\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n"
    assert complete(chunked, b"0\r\n\r\n") == [None, 503]


@pytest.mark.parametrize(("mode", "load"), [("closed", 4), ("open", 300)])
def test_measured_levels_agree_with_the_server(server: Server, mode: str, load: float) -> None:
    target = target_for(server.url, "tabular", example_inputs(server.url, "tabular"))
    level = measure(target, server.url, "tabular", mode, load, Windows(0.3, 0.3, 3, 5))  # type: ignore[arg-type]
    s = level.summary
    assert s.errors == 0
    assert s.requests > 30
    if mode == "open":
        assert s.throughput == pytest.approx(load, rel=0.35)  # Poisson arrivals at the asked rate
    assert 0 < s.p50_ms <= s.p90_ms <= s.p99_ms
    assert level.server is not None
    assert level.server.batch_size >= 1  # the server's own counters moved during the window
    assert level.generator_us > 0
