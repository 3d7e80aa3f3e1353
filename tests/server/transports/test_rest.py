"""The server over HTTP, driven by tritonclient (JSON and binary tensors) and by raw HTTP, compared with ONNX
Runtime called directly."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from modelyard.runtimes.onnx import OnnxRuntime
from modelyard.testing import Server
from tests.server.transports.corpus import BAD_REQUESTS

pytestmark = pytest.mark.e2e  # real processes: `modelyard serve`, the CLI, or a fresh interpreter


@pytest.fixture
def client(server: Server) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(f"127.0.0.1:{server.port}")


def mixed_inputs(binary: bool) -> tuple[list[triton.InferInput], dict[str, np.ndarray]]:
    arrays = {
        "a": np.arange(12, dtype=np.float32).reshape(3, 4),
        "ids": np.array([[1, 2], [3, 4], [5, -6]], dtype=np.int64),
        "names": np.array([[b"alpha"], ["βeta".encode()], [b""]], dtype=object),
    }
    inputs = []
    for name, array in arrays.items():
        datatype = {"a": "FP32", "ids": "INT64", "names": "BYTES"}[name]
        item = triton.InferInput(name, list(array.shape), datatype)
        item.set_data_from_numpy(array, binary_data=binary)
        inputs.append(item)
    return inputs, arrays


@pytest.mark.parametrize("binary", [False, True])
def test_tritonclient_multi_input_multi_output_matches_onnxruntime(
    client: triton.InferenceServerClient, model_folder: Path, binary: bool
) -> None:
    inputs, arrays = mixed_inputs(binary)
    outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("total", "doubled", "echo")]
    result = client.infer("mixed", inputs, outputs=outputs, request_id="req-7")
    expected = OnnxRuntime(model_folder / "mixed" / "model.onnx").predict(arrays)
    np.testing.assert_allclose(result.as_numpy("total"), expected["total"])
    np.testing.assert_array_equal(result.as_numpy("doubled"), expected["doubled"])
    assert [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("echo").ravel()] == ["alpha", "βeta", ""]
    response = result.get_response()
    assert response["id"] == "req-7"
    assert response["model_name"] == "mixed"


def test_requested_output_filtering(client: triton.InferenceServerClient) -> None:
    inputs, _ = mixed_inputs(binary=True)
    result = client.infer("mixed", inputs, outputs=[triton.InferRequestedOutput("doubled")])
    assert [o["name"] for o in result.get_response()["outputs"]] == ["doubled"]


def test_metadata_health_and_config(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("tabular")
    assert not client.is_model_ready("absent")
    meta = client.get_model_metadata("mixed")
    assert meta["parameters"]["load_seconds"] > 0
    assert meta["parameters"]["load_memory_bytes"] >= 0
    assert [(i["name"], i["datatype"], i["shape"]) for i in meta["inputs"]] == [
        ("a", "FP32", [-1, 4]), ("ids", "INT64", [-1, 2]), ("names", "BYTES", [-1, 1]),
    ]  # fmt: skip
    config = client.get_model_config("tabular")
    assert config["max_batch_size"] == 64
    assert config["input"][0]["dims"] == [32]
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    index = {(m["name"], m["state"]) for m in client.get_model_repository_index()}
    assert ("churn", "READY") in index


def test_version_path_and_stats(server: Server) -> None:
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 32], "data": [0.5] * 32}]}
    r = httpx.post(f"{server.url}/v2/models/tabular/versions/1/infer", json=body)
    assert r.status_code == 200
    assert r.json()["model_version"] == "1"
    assert httpx.post(f"{server.url}/v2/models/tabular/versions/9/infer", json=body).status_code == 404
    stats = httpx.get(f"{server.url}/v2/models/tabular/stats").json()["model_stats"][0]
    assert stats["inference_stats"]["success"]["count"] >= 1
    assert stats["execution_count"] >= 1


def test_sklearn_model_over_http(server: Server) -> None:
    x = np.random.default_rng(1).standard_normal((2, 8))
    body = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [2, 8], "data": x.ravel().tolist()}]}
    out = {o["name"]: o for o in httpx.post(f"{server.url}/v2/models/churn/infer", json=body).json()["outputs"]}
    assert out["predict"]["datatype"] == "INT64"
    assert out["predict_proba"]["shape"] == [2, 2]
    assert abs(sum(out["predict_proba"]["data"][:2]) - 1) < 1e-9


@pytest.mark.parametrize(("path", "payload", "status", "text"), BAD_REQUESTS)
def test_bad_requests_get_clear_errors(server: Server, path: str, payload: dict, status: int, text: str) -> None:
    r = httpx.post(f"{server.url}/v2/models/{path}", content=orjson.dumps(payload))
    assert r.status_code == status
    assert text in r.json()["error"]


def test_model_error_then_next_request_works(server: Server) -> None:
    bad = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [-1, 0, 1]}]}
    good = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}
    assert httpx.post(f"{server.url}/v2/models/flaky/infer", json=bad).status_code == 500
    r = httpx.post(f"{server.url}/v2/models/flaky/infer", json=good)
    assert r.json()["outputs"][0]["data"] == [2, 4, 6]


def test_raw_http_errors(server: Server) -> None:
    infer = f"{server.url}/v2/models/tabular/infer"
    assert httpx.post(infer, content=b"{oops").json()["error"].startswith("malformed JSON")
    r = httpx.post(infer, content=b'{"inputs": []}', headers={"Inference-Header-Content-Length": "999"})
    assert r.status_code == 400
    assert "past the end" in r.json()["error"]
    r = httpx.post(infer, content=b"x", headers={"Inference-Header-Content-Length": "abc"})
    assert "not a number" in r.json()["error"]
    assert httpx.get(f"{server.url}/nope").status_code == 404
    assert httpx.get(f"{server.url}/v2/models/tabular/nope").status_code == 404


def test_body_over_the_limit_is_refused(server: Server) -> None:
    r = httpx.post(f"{server.url}/v2/models/tabular/infer", content=b"0" * (65 << 20))
    assert r.status_code == 413
    assert "limit" in r.json()["error"]
    assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200


def test_triton_client_raises_with_the_server_message(client: triton.InferenceServerClient) -> None:
    item = triton.InferInput("x", [1, 3], "FP32")
    item.set_data_from_numpy(np.array([[-1, 0, 1]], np.float32))
    with pytest.raises(InferenceServerException, match="negative input"):
        client.infer("flaky", [item])
