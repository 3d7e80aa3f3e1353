"""A shadow's process driven from this one: what it is sent it logs; stopped, it costs production only drops."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from modelyard import examples
from modelyard.errors import ModelyardError
from modelyard.packaging import build_package
from modelyard.protocol.types import InferInput, InferOutput, InferRequest, InferResponse
from modelyard.server.models.source import ModelSource
from modelyard.server.repository.spec import TrafficLink
from modelyard.server.shadow import ShadowProcess
from modelyard.server.shadow.process import unwire, wire
from modelyard.traffic.reader import read_window

WIDTH = 4096  # 16 KiB a request: a few fill the pipe of a process that stopped reading


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("shadow")
    build_package(examples.mlp_onnx(work / "m.onnx", sizes=(WIDTH, 8, 2)), work / "m", name="m")
    return work / "m"


def request(i: int) -> InferRequest:
    x = np.full((1, WIDTH), i, np.float32)
    return InferRequest([InferInput("x", "FP32", (1, WIDTH), x)], f"r{i}")


def test_a_request_and_production_answer_cross_as_they_were() -> None:
    sent = request(3)
    sent.parameters["user"] = "u1"
    answer = InferResponse("m", "1", [InferOutput("y", "FP32", np.ones((1, 2), np.float32))], "r3")
    back, production = unwire(wire(sent, ("m@production", answer, 1500), 42))
    assert (back.id, back.parameters, back.inputs[0].shape) == ("r3", {"user": "u1"}, (1, WIDTH))
    assert np.array_equal(back.inputs[0].data, sent.inputs[0].data)
    assert production is not None
    called, response, at_ns, latency_ns = production
    assert (called, response.model_name, response.model_version, at_ns, latency_ns) == ("m@production", "m", "1", 42,
                                                                                          1500)  # fmt: skip
    assert np.array_equal(response.outputs[0].data, answer.outputs[0].data)
    assert unwire(wire(sent, None, 42))[1] is None


def test_a_stopped_candidate_costs_production_drops_and_logs_exactly_what_it_was_sent(
    package: Path, tmp_path: Path
) -> None:
    url = str(tmp_path / "traffic")
    shadow = ShadowProcess(ModelSource("m", "2", str(package), background=True), TrafficLink(url=url, sample=0.0),
                           "m@shadow", max_buffer_bytes=0)  # fmt: skip

    async def main() -> None:
        await shadow.start(drain_timeout_s=30)
        assert shadow.pid is not None
        os.kill(shadow.pid, signal.SIGSTOP)  # reads nothing more: its pipe fills
        try:
            for i in range(40):
                shadow.offer(request(i), None)
                await asyncio.sleep(0.01)  # each flushed on its own
        finally:
            os.kill(shadow.pid, signal.SIGCONT)
        assert shadow.dropped > 20  # past the pipe's 64 KiB, nothing waits: dropped and counted
        assert shadow.sent + shadow.dropped == 40
        await shadow.close(timeout_s=30)  # it finishes what it took and writes its log

    asyncio.run(main())
    table = read_window(url, "m").table
    assert table.num_rows == shadow.sent
    assert set(pc.unique(table["alias"]).to_pylist()) == {"shadow"}
    assert shadow.snapshot()["inference_count"] == shadow.sent  # its statistics came back before it stopped


def test_a_candidate_that_cannot_load_is_one_error(tmp_path: Path) -> None:
    shadow = ShadowProcess(ModelSource("m", "2", str(tmp_path / "missing"), background=True),
                           TrafficLink(url=str(tmp_path / "t"), sample=0.0), "m@shadow")  # fmt: skip
    with pytest.raises(ModelyardError, match=r"^shadow m/2: m version 2: ") as caught:
        asyncio.run(shadow.start(drain_timeout_s=5))
    assert "Traceback" not in str(caught.value)
