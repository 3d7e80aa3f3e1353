"""A corpus of malformed requests against the real server: each gets a clear 4xx, and the server keeps serving
everything else correctly, with bounded memory."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.testing import Server

pytestmark = pytest.mark.e2e  # real processes: `modelyard serve`, the CLI, or a fresh interpreter

DATATYPES = ["FP32", "FP64", "INT64", "INT8", "BYTES", "BOOL", "UINT8", "FLOAT", "", "fp32"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
tensor = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["a", "ids", "names", "x", ""]) | JSON_VALUES,
        "datatype": st.sampled_from(DATATYPES) | JSON_VALUES,
        "shape": st.lists(st.integers(-2, 6), max_size=4) | JSON_VALUES,
        "data": st.lists(st.integers(-5, 5) | st.floats(-1e3, 1e3) | st.text(max_size=3), max_size=30) | JSON_VALUES,
        "parameters": st.fixed_dictionaries({}, optional={"binary_data_size": st.integers(-4, 64) | JSON_VALUES}),
    },
)
request = st.fixed_dictionaries(
    {"inputs": st.lists(tensor, max_size=4) | JSON_VALUES},
    optional={"outputs": st.lists(st.fixed_dictionaries({"name": st.text(max_size=5)}), max_size=2) | JSON_VALUES,
              "parameters": JSON_VALUES, "id": JSON_VALUES},
)  # fmt: skip

CLIENT_ERRORS = {400, 404, 413}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=request,
    tail=st.binary(max_size=64),
    header_length=st.none() | st.integers(-5, 400) | st.text(alphabet="x0123456789-+.", min_size=1, max_size=4),
    model=st.sampled_from(["mixed", "tabular", "churn", "absent", "mixed@nope"]),
)
def test_malformed_requests_get_client_errors(
    server: Server, body: dict[str, object], tail: bytes, header_length: object, model: str
) -> None:
    head = json.dumps(body).encode()
    headers = {}
    if header_length is not None:
        headers["Inference-Header-Content-Length"] = str(header_length if header_length != -1 else len(head))
    r = httpx.post(f"{server.url}/v2/models/{model}/infer", content=head + tail, headers=headers, timeout=10)
    if r.status_code == 200:
        return  # the generator sometimes builds a valid request
    assert r.status_code in CLIENT_ERRORS, (r.status_code, r.text, body)
    assert r.json()["error"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_random_bytes_get_client_errors(server: Server, raw: bytes) -> None:
    r = httpx.post(f"{server.url}/v2/models/tabular/infer", content=raw, timeout=10)
    assert r.status_code == 400
    assert r.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"inputs": [], "id": [' + b"0," * 20_000_000 + b"0]}",  # aborted the worker in simdjson (38 MiB)
        b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 32], "data": [' + b"0," * 16_800_000 + b"0]}]}",
    ],
    ids=["20M-element id", "16.8M-element data, once cut short silently"],
)
def test_json_arrays_past_the_readers_limit_are_refused_and_the_worker_lives(server: Server, body: bytes) -> None:
    pid_before = server.pids()
    r = httpx.post(f"{server.url}/v2/models/tabular/infer", content=body, timeout=60)
    assert r.status_code == 413
    assert "binary tensor extension" in r.json()["error"]
    row = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 32], "data": [0.25] * 32}]}
    assert httpx.post(f"{server.url}/v2/models/tabular/infer", json=row, timeout=10).status_code == 200
    assert server.pids() == pid_before  # no worker was lost and replaced


def test_server_still_serves_correctly_after_the_corpus(server: Server) -> None:
    before = server.rss_mib()
    good = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 32], "data": [0.25] * 32}]}
    bad = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 32], "data": [0.25] * 31}]}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        expected = client.post("/v2/models/tabular/infer", json=good).json()["outputs"]
        for _ in range(300):
            assert client.post("/v2/models/tabular/infer", json=bad).status_code == 400
            assert client.post("/v2/models/tabular/infer", content=b"\x00" * 2000).status_code == 400
        assert client.post("/v2/models/tabular/infer", json=good).json()["outputs"] == expected
        assert client.get("/v2/health/ready").status_code == 200
    assert server.rss_mib() < before + 50
