"""Reading a V2 JSON request so that numeric tensor data goes straight into numpy.

A JSON tensor of 12,288 floats (one W2 image) decoded by orjson becomes 12,288 Python floats in a list: 0.4 MB of
small objects per request, about 25 MiB of heap per worker under a burst of 64 such requests, which the allocator
keeps after the burst, and 0.9 ms of decoding. simdjson parses the document lazily: the request's structure is
converted to Python as usual, but each input's `data` stays a simdjson array until the codec knows the datatype,
then `as_buffer` writes the numbers into one C buffer without a Python object per element (0.47 ms, no heap left
behind). Small bodies (W1's 0.7 kB) stay with orjson, faster there by 2x. Where simdjson has no wheel (it ships
them for CPython 3.11-3.13), every body goes through orjson.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from modelyard.errors import InvalidArgument, PayloadTooLarge

try:
    import simdjson
except ImportError:  # pragma: no cover - exercised only on Pythons without a simdjson wheel
    simdjson = None  # type: ignore[assignment]

# simdjson's tape holds an array's length in 24 bits: longer arrays read back cut short, and converting one
# corrupted the heap (a worker aborted on one request). A body with this many commas could hold such an array.
MAX_VALUES = (1 << 24) - 1
LAZY_FROM_BYTES = 4096  # below this orjson's eager decode is faster (docs/measurements.md, "JSON decoding")
# numpy kind -> the C type simdjson writes: double, int64, uint64
_BUFFER_TYPE: dict[str, tuple[str, type[np.generic]]] = {
    "f": ("d", np.float64),
    "i": ("i", np.int64),
    "u": ("u", np.uint64),
}


def load(head: bytes | memoryview) -> Any:
    """The decoded document; inputs' `data` may be left lazy (see `numeric` and `plain`)."""
    if simdjson is None or len(head) < LAZY_FROM_BYTES:
        try:
            return orjson.loads(head)
        except orjson.JSONDecodeError as exc:
            raise InvalidArgument(f"malformed JSON: {exc}") from None
    raw = bytes(head)
    # Counting commas costs 1 ms a MB (250 µs of a W2 body's 870), so only a body that could hold such an array
    # is counted: one of MAX_VALUES elements takes at least 2 * MAX_VALUES - 1 bytes ("0,0,...,0").
    if len(raw) >= 2 * MAX_VALUES - 1 and raw.count(b",") >= MAX_VALUES - 1:
        raise PayloadTooLarge(
            f"the JSON body holds {MAX_VALUES - 1:,} or more values, more than the JSON reader takes; "
            "send tensors this large with the binary tensor extension"
        )
    try:
        doc = simdjson.Parser().parse(raw)
    except (ValueError, RuntimeError) as exc:  # UnicodeDecodeError is a ValueError; RuntimeError: BIGINT_ERROR
        raise InvalidArgument(f"malformed JSON: {exc}") from None
    if not isinstance(doc, simdjson.Object):
        return plain(doc)
    return {key: _inputs(doc[key]) if key == "inputs" else plain(doc[key]) for key in doc}


def _inputs(value: Any) -> Any:
    if not isinstance(value, simdjson.Array):
        return plain(value)
    items = []
    for index in range(len(value)):
        item = value[index]
        if isinstance(item, simdjson.Object):
            items.append({key: item[key] if key == "data" else plain(item[key]) for key in item})
        else:
            items.append(plain(item))
    return items


def is_lazy(value: Any) -> bool:
    return simdjson is not None and isinstance(value, simdjson.Array)


def plain(value: Any) -> Any:
    """A lazy simdjson value as Python objects; anything else as it is."""
    if simdjson is not None:
        if isinstance(value, simdjson.Object):
            return value.as_dict()
        if isinstance(value, simdjson.Array):
            return value.as_list()
    return value


def count_values(value: Any, most: int) -> int:
    """The values in a lazy array, nested arrays flattened, or `most + 1` when there are more: the count stops
    there, so counting costs no more than the caller allows."""
    if len(value) > most:
        return most + 1
    total, stack = 0, [value]
    while stack:
        for item in stack.pop():
            if isinstance(item, simdjson.Array):
                stack.append(item)
                continue
            total += 1
            if total > most:
                return total
    return total


def numeric(value: Any, dtype: np.dtype[Any]) -> np.ndarray | None:
    """The flattened numbers of a lazy array as `dtype`, or None when the fast path cannot decide exactly as
    `np.asarray(list, dtype)` would (booleans, mixed types, floats for an integer type, values out of range):
    the caller then converts the array to Python and takes the ordinary path, with its error messages."""
    if dtype.kind not in _BUFFER_TYPE:
        return None
    of_type, wide_type = _BUFFER_TYPE[dtype.kind]
    try:
        wide = np.frombuffer(value.as_buffer(of_type=of_type), dtype=wide_type)
    except (TypeError, ValueError, RuntimeError):
        return None
    if dtype.kind in "iu" and dtype.itemsize < 8 and wide.size:
        limits = np.iinfo(dtype)
        if wide.min() < limits.min or wide.max() > limits.max:
            return None
    return wide.astype(dtype, copy=False)
