"""The gRPC transport, driven by tritonclient.grpc: same data plane, same answers, error codes mapped."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tgrpc
from tritonclient.utils import InferenceServerException

from modelyard.protocol.grpc import grpc_predict_v2_pb2 as pb
from modelyard.protocol.grpc.methods import method_stub
from modelyard.runtimes.onnx import OnnxRuntime
from modelyard.testing import Server

pytestmark = pytest.mark.e2e  # real processes: `modelyard serve`, the CLI, or a fresh interpreter


@pytest.fixture
def client(server: Server) -> tgrpc.InferenceServerClient:
    return tgrpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")


def mixed() -> tuple[list[tgrpc.InferInput], dict[str, np.ndarray]]:
    arrays = {
        "a": np.arange(8, dtype=np.float32).reshape(2, 4),
        "ids": np.array([[1, -2], [3, 4]], dtype=np.int64),
        "names": np.array([[b"x"], ["é".encode()]], dtype=object),
    }
    inputs = []
    for name, datatype in (("a", "FP32"), ("ids", "INT64"), ("names", "BYTES")):
        item = tgrpc.InferInput(name, list(arrays[name].shape), datatype)
        item.set_data_from_numpy(arrays[name])
        inputs.append(item)
    return inputs, arrays


def test_tritonclient_grpc_matches_onnxruntime(client: tgrpc.InferenceServerClient, model_folder: Path) -> None:
    inputs, arrays = mixed()
    result = client.infer("mixed", inputs, request_id="g1")
    expected = OnnxRuntime(model_folder / "mixed" / "model.onnx").predict(arrays)
    np.testing.assert_allclose(result.as_numpy("total"), expected["total"])
    np.testing.assert_array_equal(result.as_numpy("doubled"), expected["doubled"])
    assert [v.decode() for v in result.as_numpy("echo").ravel()] == ["x", "é"]
    assert result.get_response().id == "g1"
    only = client.infer("mixed", inputs, outputs=[tgrpc.InferRequestedOutput("doubled")])
    assert [o.name for o in only.get_response().outputs] == ["doubled"]


def test_health_metadata_and_repository(client: tgrpc.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("tabular")
    assert not client.is_model_ready("absent")
    meta = client.get_model_metadata("mixed", as_json=True)
    assert [(i["name"], i["datatype"], i["shape"]) for i in meta["inputs"]] == [
        ("a", "FP32", ["-1", "4"]), ("ids", "INT64", ["-1", "2"]), ("names", "BYTES", ["-1", "1"]),
    ]  # fmt: skip
    assert "binary_tensor_data" in client.get_server_metadata(as_json=True)["extensions"]
    names = {m["name"] for m in client.get_model_repository_index(as_json=True)["models"]}
    assert {"mixed", "tabular", "churn", "flaky"} <= names


def test_typed_contents_are_accepted(server: Server) -> None:
    """Clients that send `contents` instead of raw bytes (KServe's own examples do) get the same answer."""
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        infer = method_stub(channel, "ModelInfer")
        tensor = pb.ModelInferRequest.InferInputTensor(
            name="x", datatype="FP32", shape=[1, 32], contents=pb.InferTensorContents(fp32_contents=[0.5] * 32)
        )
        typed = infer(pb.ModelInferRequest(model_name="tabular", inputs=[tensor]))
        raw_tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=[1, 32])
        raw = infer(
            pb.ModelInferRequest(
                model_name="tabular",
                inputs=[raw_tensor],
                raw_input_contents=[np.full(32, 0.5, np.float32).tobytes()],
            )
        )
    assert typed.raw_output_contents == raw.raw_output_contents
    assert typed.outputs[0].name == "y"


@pytest.mark.parametrize(
    ("model", "make", "code", "text"),
    [
        ("tabular", lambda: [("x", [1, 31], "FP32", np.zeros((1, 31), np.float32))], "INVALID_ARGUMENT", "shape"),
        ("tabular", lambda: [("x", [1, 32], "FP64", np.zeros((1, 32), np.float64))], "INVALID_ARGUMENT", "FP64"),
        ("absent", lambda: [("x", [1, 32], "FP32", np.zeros((1, 32), np.float32))], "NOT_FOUND", "not loaded"),
        ("flaky", lambda: [("x", [1, 3], "FP32", -np.ones((1, 3), np.float32))], "INTERNAL", "negative input"),
    ],
)
def test_errors_map_to_grpc_status_codes(
    client: tgrpc.InferenceServerClient, model: str, make: object, code: str, text: str
) -> None:
    inputs = []
    for name, shape, datatype, array in make():  # type: ignore[operator]
        item = tgrpc.InferInput(name, shape, datatype)
        item.set_data_from_numpy(array)
        inputs.append(item)
    with pytest.raises(InferenceServerException) as info:
        client.infer(model, inputs)
    assert info.value.status() == f"StatusCode.{code}"
    assert text in info.value.message()


def test_unload_and_load_over_grpc(client: tgrpc.InferenceServerClient) -> None:
    client.unload_model("flaky")
    assert not client.is_model_ready("flaky")
    client.load_model("flaky")
    assert client.is_model_ready("flaky")
    with pytest.raises(InferenceServerException, match="no model"):
        client.load_model("never-heard-of")


def test_model_config_and_statistics_rpcs(client: tgrpc.InferenceServerClient) -> None:
    """What perf_analyzer asks before it measures: Triton's ModelConfig and ModelStatistics messages."""
    config = client.get_model_config("tabular", as_json=True)["config"]
    assert config["name"] == "tabular"
    assert config["platform"] == "onnxruntime_onnx"
    assert int(config["max_batch_size"]) > 0
    assert [(t["name"], t["data_type"], [int(d) for d in t["dims"]]) for t in config["input"]] == [
        ("x", "TYPE_FP32", [32])
    ]
    assert "dynamic_batching" in config
    x = tgrpc.InferInput("x", [1, 32], "FP32")
    x.set_data_from_numpy(np.ones((1, 32), np.float32))
    before = client.get_inference_statistics("tabular", as_json=True)["model_stats"][0]
    client.infer("tabular", [x])
    after = client.get_inference_statistics("tabular", as_json=True)["model_stats"][0]
    assert int(after["inference_count"]) == int(before.get("inference_count", 0)) + 1
    assert int(after["inference_stats"]["success"]["count"]) >= 1
    with pytest.raises(InferenceServerException, match="nothing"):
        client.get_model_config("nothing")


def test_load_names_a_version_in_its_parameters(server: Server) -> None:
    """As over HTTP: the version goes in the `version` parameter; one that does not exist is NOT_FOUND."""
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        load = method_stub(channel, "RepositoryModelLoad")

        def request(version: str) -> pb.RepositoryModelLoadRequest:
            parameter = pb.ModelRepositoryParameter(string_param=version)
            return pb.RepositoryModelLoadRequest(model_name="tabular", parameters={"version": parameter})

        load(request("1"), timeout=30)
        with pytest.raises(grpc.RpcError) as raised:
            load(request("7"), timeout=30)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "tabular/7" in (raised.value.details() or "")


def test_a_second_server_cannot_take_the_first_ones_grpc_port(
    server: Server, model_folder: Path, tmp_path: Path
) -> None:
    """Both bound it (SO_REUSEPORT, one user) and gRPC calls reached either server at random."""
    from modelyard.testing import start_server

    with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{server.grpc_port}"):
        start_server([str(model_folder / "tabular"), "--grpc-port", str(server.grpc_port)], tmp_path / "home")
