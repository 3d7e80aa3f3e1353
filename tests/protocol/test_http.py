"""The V2 codec: JSON and binary tensors both ways, and a clear error for each malformed part."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

from modelyard.errors import InvalidArgument, PayloadTooLarge
from modelyard.protocol import jsonbody
from modelyard.protocol.http import binary_outputs, decode_request, encode_response
from modelyard.protocol.types import InferInput, InferOutput, InferRequest, InferResponse, RequestedOutput


@pytest.fixture(autouse=True, params=["eager", "lazy"])
def json_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs twice: bodies decoded by orjson, then by simdjson with tensor data read lazily."""
    if request.param == "lazy" and jsonbody.simdjson is None:
        pytest.skip("simdjson is not installed for this Python")
    monkeypatch.setattr(jsonbody, "LAZY_FROM_BYTES", 0 if request.param == "lazy" else 1 << 62)
    return str(request.param)


def binary_body(header: dict, *chunks: bytes) -> tuple[bytes, int]:
    head = orjson.dumps(header)
    return head + b"".join(chunks), len(head)


def bytes_chunk(*values: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


def test_json_flat_and_nested_data() -> None:
    body = orjson.dumps(
        {
            "id": "r1",
            "inputs": [
                {"name": "a", "datatype": "FP32", "shape": [2, 2], "data": [1, 2, 3, 4]},
                {"name": "b", "datatype": "INT64", "shape": [2, 1], "data": [[5], [6]]},
                {"name": "s", "datatype": "BYTES", "shape": [2], "data": ["héllo", "x"]},
                {"name": "f", "datatype": "BOOL", "shape": [1], "data": [True]},
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
            "parameters": {"timeout": 5000},
        }
    )
    req = decode_request(body)
    a, b, s, f = req.inputs
    assert a.data.dtype == np.float32
    np.testing.assert_array_equal(a.data, [[1, 2], [3, 4]])
    assert b.data.dtype == np.int64
    assert b.data.shape == (2, 1)
    assert list(s.data) == ["héllo".encode(), b"x"]
    assert f.data.dtype == np.bool_
    assert req.id == "r1"
    assert req.timeout_us == 5000
    assert req.outputs is not None
    assert (req.outputs[0].name, req.outputs[0].parameters) == ("y", {"binary_data": True})
    assert binary_outputs(req) == (False, {"y": True})


def test_binary_inputs_including_bytes() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    strings = bytes_chunk(b"ab", b"", b"\x00\xff")
    header = {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [2, 3], "parameters": {"binary_data_size": x.nbytes}},
            {"name": "j", "datatype": "INT32", "shape": [1], "data": [7]},
            {"name": "s", "datatype": "BYTES", "shape": [3], "parameters": {"binary_data_size": len(strings)}},
        ]
    }
    body, length = binary_body(header, x.tobytes(), strings)
    req = decode_request(body, length)
    np.testing.assert_array_equal(req.inputs[0].data, x)
    assert req.inputs[1].data.tolist() == [7]
    assert list(req.inputs[2].data) == [b"ab", b"", b"\x00\xff"]


@pytest.mark.parametrize(
    ("body", "length", "message"),
    [
        (b"{not json", None, "malformed JSON"),
        (b"[1, 2]", None, "JSON object"),
        (b'{"inputs": []}', None, "inputs: a non-empty list"),
        (b'{"inputs": [{"datatype": "FP32", "shape": [1], "data": [1]}]}', None, r"inputs\[0\]\.name"),
        (b'{"inputs": [{"name": "x", "datatype": "FLOAT", "shape": [1], "data": [1]}]}', None, "'x'.datatype"),
        (b'{"inputs": [{"name": "x", "datatype": [], "shape": [1], "data": [1]}]}', None, "'x'.datatype"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1], "data": [1]}]}', None, "'x'.shape"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [3], "data": [1, 2]}]}', None, "has 2 elements"),
        (
            b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": ["a", "b"]}]}',
            None,
            "not a valid list",
        ),
        (b'{"inputs": [{"name": "x", "datatype": "INT8", "shape": [1], "data": [999]}]}', None, "not a valid list"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [[1], [2, 3]]}]}', None, "has 3"),
        (b'{"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1], "data": [-1]}]}', None, "not a valid list"),
        (b'{"inputs": [{"name": "x", "datatype": "INT64", "shape": [1], "data": [true, 1]}]}', None, "has 2"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1e999]}]}', None, "malformed JSON"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1,]}]}', None, "malformed JSON"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]} x', None, "malformed JSON"),
        (b'{"inputs": [{"name": "\xff", "datatype": "FP32", "shape": [1], "data": [1]}]}', None, "malformed JSON"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}', None, "needs data"),
        (b'{"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1], "data": [1]}]}', None, "must be strings"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1, null]}]}', None, "null is not a"),
        (
            b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": ' + str([1] * 65).encode() + b', "data": [1]}]}',
            None,
            "has 65 dimensions; at most 64",
        ),
        (
            b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 4}}]}',
            None,
            "Inference-Header-Content-Length header is missing",
        ),
    ],
)
def test_malformed_json_requests(body: bytes, length: int | None, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        decode_request(body, length)


def test_malformed_binary_requests() -> None:
    header = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}]}
    body, length = binary_body(header, b"\x00" * 8)
    with pytest.raises(InvalidArgument, match="past the end of the"):
        decode_request(body, len(body) + 1)
    with pytest.raises(InvalidArgument, match="runs past the end of the body"):
        decode_request(body[:-3], length)
    with pytest.raises(InvalidArgument, match="not claimed"):
        decode_request(body + b"extra", length)
    wrong = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [3], "parameters": {"binary_data_size": 8}}]}
    body, length = binary_body(wrong, b"\x00" * 8)
    with pytest.raises(InvalidArgument, match="needs 12"):
        decode_request(body, length)
    truncated = {"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 6}}]}
    body, length = binary_body(truncated, struct.pack("<I", 10) + b"ab")
    with pytest.raises(InvalidArgument, match="runs past its binary data"):
        decode_request(body, length)


def asking(*outputs: RequestedOutput, **parameters: object) -> InferRequest:
    """A request that names `outputs` with their parameters (HTTP's binary_data), and request-wide `parameters`."""
    x = InferInput("x", "FP32", (1,), np.zeros(1, np.float32))
    return InferRequest([x], outputs=list(outputs) or None, parameters=dict(parameters))


def test_an_outputs_own_binary_data_wins_over_the_requests_default() -> None:
    y = np.array([1.0], dtype=np.float32)
    response = InferResponse("m", "1", [InferOutput("y", "FP32", y), InferOutput("z", "FP32", y)])
    request = asking(RequestedOutput("y", {"binary_data": False}), RequestedOutput("z"), binary_data_output=True)
    body, length = encode_response(response, request)
    assert length is not None
    head = orjson.loads(body[:length])
    assert "data" in head["outputs"][0]
    assert head["outputs"][1]["parameters"]["binary_data_size"] == 4


def test_encode_json_and_binary_outputs() -> None:
    y = np.array([[1.5], [2.5]], dtype=np.float32)
    names = np.array([b"a", "b"], dtype=object)
    response = InferResponse("m", "3", [InferOutput("y", "FP32", y), InferOutput("s", "BYTES", names)], id="r9")
    body, length = encode_response(response, asking(RequestedOutput("s", {"binary_data": True}), RequestedOutput("y")))
    assert length is not None
    head = orjson.loads(body[:length])
    assert head["id"] == "r9"
    assert head["outputs"][0] == {"name": "y", "datatype": "FP32", "shape": [2, 1], "data": [1.5, 2.5]}
    assert head["outputs"][1]["parameters"]["binary_data_size"] == len(body) - length
    assert body[length:] == bytes_chunk(b"a", b"b")

    body, length = encode_response(InferResponse("m", "1", [InferOutput("s", "BYTES", names)]))
    assert length is None
    assert encode_response(InferResponse("m", "1", [InferOutput("s", "BYTES", names)]), asking())[1] is None
    assert orjson.loads(body)["outputs"][0]["data"] == ["a", "b"]


def test_binary_output_round_trips_every_numeric_type() -> None:
    for datatype, dtype in [("FP16", np.float16), ("FP64", np.float64), ("UINT8", np.uint8), ("BOOL", np.bool_)]:
        data = np.array([[1, 0], [0, 1]], dtype=dtype)
        response = InferResponse("m", "1", [InferOutput("y", datatype, data)])
        body, length = encode_response(response, asking(binary_data_output=True))
        assert length is not None
        np.testing.assert_array_equal(np.frombuffer(body[length:], dtype=dtype).reshape(2, 2), data)


def test_binary_data_size_must_be_an_integer_not_a_bool() -> None:
    header = {"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1], "parameters": {"binary_data_size": True}}]}
    body, length = binary_body(header, b"\x07")
    with pytest.raises(InvalidArgument, match="binary_data_size: must be a non-negative integer"):
        decode_request(body, length)


def test_data_far_beyond_its_shape_is_refused_before_it_is_read() -> None:
    """16 MiB of one-byte BYTES elements raised the peak by 209 MiB when every element was decoded first. Now the
    count stops at twice the shape (lazy JSON) or at the shape (binary), and says so."""
    strings = b"[" + b",".join([b'""'] * 100_000) + b"]"
    body = b'{"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1], "data": ' + strings + b"}]}"
    expected = "more than 1,026 elements" if jsonbody.LAZY_FROM_BYTES == 0 else "has 100000 elements"
    with pytest.raises(InvalidArgument, match=expected):
        decode_request(body)
    header = {"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 500_000}}]}
    body, length = binary_body(header, b"".join(bytes_chunk(b"x") for _ in range(100_000)))
    with pytest.raises(InvalidArgument, match="more BYTES elements than the 1 the shape needs"):
        decode_request(body, length)


def test_a_json_body_with_more_values_than_the_reader_takes_is_refused_whole() -> None:
    """simdjson keeps an array's length in 24 bits: a longer array read back cut to 16,777,215 values, and
    converting one aborted the worker (`free(): invalid size`). Such a body is refused before it is parsed."""
    huge = b'{"inputs": [], "id": [' + b"0," * (jsonbody.MAX_VALUES - 1) + b"0]}"
    if jsonbody.LAZY_FROM_BYTES == 0:
        with pytest.raises(PayloadTooLarge, match="binary tensor extension"):
            decode_request(huge)
