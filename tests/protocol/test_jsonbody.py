"""Lazy JSON decoding (simdjson) against the eager path (orjson + np.asarray): the same arrays, or the same errors."""

from __future__ import annotations

import orjson
import pytest

from modelyard.protocol import jsonbody
from modelyard.protocol.http import decode_request

pytestmark = pytest.mark.skipif(jsonbody.simdjson is None, reason="simdjson is not installed for this Python")


CASES = [
    ("FP32", [[0.1, -2.5e-8], [3.4e38, 7]]),
    ("FP16", [0.1, 65504.0, 1e-8]),
    ("FP64", [1e-300, -0.0, 12345678.123456789]),
    ("INT8", [-128, 127]),
    ("INT16", [[-32768], [32767]]),
    ("INT32", [-(2**31), 2**31 - 1]),
    ("INT64", [-(2**63), 2**63 - 1]),
    ("UINT8", [0, 255]),
    ("UINT32", [0, 2**32 - 1]),
    ("UINT64", [0, 2**64 - 1]),
    ("FP32", [1, 2.5, True]),
    ("INT64", [1.0, 2.0]),
    ("BOOL", [True, False]),
    ("BYTES", ["a", "é"]),
    ("FP32", [[1], [2, 3]]),
]


@pytest.mark.parametrize(("datatype", "data"), CASES)
def test_lazy_and_eager_decoding_agree(datatype: str, data: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """The simdjson path reads numbers straight into numpy, and must give what orjson + np.asarray give, value
    for value and dtype for dtype, including the extremes of every integer type and mixed-type data."""
    count = len(data) if not isinstance(data[0], list) else sum(len(row) for row in data)
    body = orjson.dumps({"inputs": [{"name": "x", "datatype": datatype, "shape": [count], "data": data}]})
    monkeypatch.setattr(jsonbody, "LAZY_FROM_BYTES", 0)
    assert jsonbody.is_lazy(jsonbody.load(body)["inputs"][0]["data"])
    got = decode_request(body).inputs[0].data
    monkeypatch.setattr(jsonbody, "LAZY_FROM_BYTES", 1 << 62)
    expected = decode_request(body).inputs[0].data
    assert got.dtype == expected.dtype
    assert got.tolist() == expected.tolist()


def test_small_bodies_stay_with_orjson_and_large_ones_are_lazy() -> None:
    small = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1, 2]}]})
    large = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2048], "data": [0.5] * 2048}]})
    assert len(small) < jsonbody.LAZY_FROM_BYTES <= len(large)
    assert type(jsonbody.load(small)["inputs"][0]["data"]) is list
    assert jsonbody.is_lazy(jsonbody.load(large)["inputs"][0]["data"])
    assert decode_request(large).inputs[0].data.tolist() == [0.5] * 2048
