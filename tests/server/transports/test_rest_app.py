"""The REST app in process (httpx's ASGI transport): routes, the binary extension both ways and every error shape,
without a socket; tests/server/transports/test_rest.py drives the same app in a real server with tritonclient."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from modelyard.protocol.calls import decode, encode, model_path
from modelyard.protocol.tensors import HEADER_LENGTH
from modelyard.server.repository.spec import ServeSpec, SourceSpec
from modelyard.testing import InProcess
from tests.server.transports.corpus import BAD_REQUESTS

ROW = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 32], "data": [0.5] * 32}]}
MIXED = {
    "a": np.arange(8, dtype=np.float32).reshape(2, 4),
    "ids": np.array([[1, 2], [3, -4]], dtype=np.int64),
    "names": np.array([[b"alpha"], ["βeta".encode()]], dtype=object),
}


def test_health_metadata_and_repository(in_process: InProcess) -> None:
    assert in_process.get("/v2/health/live").status_code == 200
    assert in_process.get("/v2/health/ready").status_code == 200
    assert "binary_tensor_data" in in_process.get("/v2").json()["extensions"]
    meta = in_process.get("/v2/models/mixed").json()
    assert [i["name"] for i in meta["inputs"]] == ["a", "ids", "names"]
    assert in_process.get("/v2/models/tabular/ready").json() == {"name": "tabular", "ready": True}
    assert in_process.get("/v2/models/absent/ready").status_code == 400
    assert in_process.get("/v2/models/tabular/config").json()["max_batch_size"] == 64
    index = {(m["name"], m["state"]) for m in in_process.post("/v2/repository/index").json()}
    assert ("churn", "READY") in index


@pytest.mark.parametrize("binary", [False, True])
def test_every_datatype_both_ways_as_the_client_encodes_it(in_process: InProcess, binary: bool) -> None:
    request = encode(MIXED, ["total", "doubled", "echo"], binary=binary)
    r = in_process.post(model_path("mixed"), content=request.body, headers=request.headers)
    assert r.status_code == 200
    length = r.headers.get(HEADER_LENGTH)
    assert (length is not None) is binary  # outputs come back the way they were asked for
    result = decode(r.content, int(length) if length else None)
    np.testing.assert_allclose(result.outputs["total"], MIXED["a"].sum(axis=1))
    np.testing.assert_array_equal(result.outputs["doubled"], MIXED["ids"] * 2)
    assert result.outputs["echo"].ravel().tolist() == [b"alpha", "βeta".encode()]


def test_one_output_binary_the_other_json(in_process: InProcess) -> None:
    doc = {
        "inputs": [{"name": k, "datatype": d, "shape": list(MIXED[k].shape), "data": v}
                   for k, d, v in [("a", "FP32", MIXED["a"].ravel().tolist()), ("ids", "INT64", [1, 2, 3, 4]),
                                   ("names", "BYTES", ["a", "b"])]],
        "outputs": [{"name": "total", "parameters": {"binary_data": True}}, {"name": "doubled"}],
    }  # fmt: skip
    r = in_process.post("/v2/models/mixed/infer", content=orjson.dumps(doc))
    length = int(r.headers[HEADER_LENGTH])
    head = orjson.loads(r.content[:length])
    assert [o["name"] for o in head["outputs"]] == ["total", "doubled"]
    assert head["outputs"][0]["parameters"]["binary_data_size"] == 8
    assert head["outputs"][1]["data"] == [2, 4, 6, 8]
    np.testing.assert_allclose(np.frombuffer(r.content[length:], np.float32), MIXED["a"].sum(axis=1))


def test_alias_and_version_paths(in_process: InProcess) -> None:
    assert in_process.post("/v2/models/tabular@production/infer", json=ROW).json()["model_version"] == "1"
    assert in_process.post("/v2/models/tabular/versions/1/infer", json=ROW).status_code == 200
    assert in_process.post("/v2/models/tabular/versions/9/infer", json=ROW).status_code == 404
    assert in_process.post("/v2/models/tabular@staging/infer", json=ROW).status_code == 404


@pytest.mark.parametrize(("path", "payload", "status", "text"), BAD_REQUESTS)
def test_bad_requests_get_clear_errors(in_process: InProcess, path: str, payload: dict, status: int, text: str) -> None:
    r = in_process.post(f"/v2/models/{path}", content=orjson.dumps(payload))
    assert r.status_code == status
    assert text in r.json()["error"]


def test_raw_body_errors_and_unknown_routes(in_process: InProcess) -> None:
    infer = "/v2/models/tabular/infer"
    assert in_process.post(infer, content=b"{oops").json()["error"].startswith("malformed JSON")
    r = in_process.post(infer, content=b'{"inputs": []}', headers={HEADER_LENGTH: "999"})
    assert (r.status_code, "past the end" in r.json()["error"]) == (400, True)
    assert "not a number" in in_process.post(infer, content=b"x", headers={HEADER_LENGTH: "abc"}).json()["error"]
    assert in_process.get("/nope").status_code == 404
    assert in_process.get("/v2/models/tabular/nope").status_code == 404
    r = in_process.post(infer, content=b"0" * ((64 << 20) + 1))
    assert r.status_code == 413
    assert "limit" in r.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v2/models/tabular/infer", "POST"),
        ("GET", "/v2/models/tabular/versions/1/infer", "POST"),
        ("POST", "/v2/models/tabular", "GET"),
        ("POST", "/v2/health/ready", "GET"),
        ("GET", "/v2/repository/index", "POST"),
        ("GET", "/v2/repository/models/tabular/load", "POST"),
        ("POST", "/metrics", "GET"),
    ],
)
def test_a_known_route_with_another_method_is_405_with_allow(
    in_process: InProcess, method: str, path: str, allow: str
) -> None:
    """It was a 404 that said the route did not exist."""
    r = in_process.request(method, path)
    assert (r.status_code, r.headers["allow"]) == (405, allow)
    assert f"takes {allow}" in r.json()["error"]


def test_a_model_name_nobody_loaded_is_answered_with_the_one_meant(in_process: InProcess) -> None:
    assert "did you mean 'tabular'?" in in_process.post("/v2/models/tabullar/infer", json=ROW).json()["error"]
    unknown = in_process.get("/v2/models/zzz").json()["error"]
    assert unknown.startswith("model 'zzz' is not loaded (loaded: ")
    assert "tabular" in unknown


def test_a_repository_version_past_the_registrys_range_is_bad_input(in_process: InProcess) -> None:
    r = in_process.post("/v2/repository/models/tabular/load", json={"parameters": {"version": "9" * 23}})
    assert r.status_code == 400
    assert "version: 99999999999999999999999 is over" in r.json()["error"]


def test_a_model_error_then_the_next_request_works(in_process: InProcess) -> None:
    bad = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [-1, 0, 1]}]}
    good = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}
    assert in_process.post("/v2/models/flaky/infer", json=bad).status_code == 500
    assert in_process.post("/v2/models/flaky/infer", json=good).json()["outputs"][0]["data"] == [2, 4, 6]


def test_stats_and_metrics_count_what_was_served(in_process: InProcess) -> None:
    def successes() -> int:
        stats = in_process.get("/v2/models/tabular/stats").json()["model_stats"][0]
        return int(stats["inference_stats"]["success"]["count"])

    before = successes()
    for _ in range(3):
        assert in_process.post("/v2/models/tabular/infer", json=ROW).status_code == 200
    assert successes() == before + 3
    assert (
        b'modelyard_requests_total{model="tabular",outcome="success",version="1"}' in in_process.get("/metrics").content
    )


def test_a_failed_load_names_the_model_not_the_servers_paths(tmp_path: Path, model_folder: Path) -> None:
    broken = tmp_path / "private" / "broken"
    broken.mkdir(parents=True)
    (broken / "modelyard.yaml").write_text("name: broken\nformat: onnx\nartifact: model.onnx\n")
    spec = ServeSpec(
        models=[
            SourceSpec(name="tabular", version="1", package_dir=str(model_folder / "tabular")),
            SourceSpec(name="broken", version="1", package_dir=str(broken), loaded=False),
        ]
    )
    app = InProcess(spec)
    try:
        r = app.post("/v2/repository/models/broken/load")
        assert r.status_code == 400
        assert r.json()["error"].startswith("broken version 1: modelyard.yaml: signature")
        index = app.post("/v2/repository/index").text
        for answer in (r.text, index, app.get("/v2/models/tabular").text, app.get("/v2/models/tabular/config").text):
            assert str(tmp_path) not in answer
            assert str(model_folder) not in answer
    finally:
        app.close()
