"""What crosses the pipes between a worker and its shadow process: length-prefixed pickles.

Both ends are this package, started by the same operator from the same installation, so pickle carries the
requests as they are (numpy arrays, BYTES tensors, parameters) with nothing to convert on either side.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

HEADER = struct.Struct("!I")
MAX_FRAME = 1 << 30


def frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message; `asyncio.IncompleteReadError` at the end of the stream."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    if size > MAX_FRAME:
        raise ValueError(f"a frame of {size} bytes: the other side is not a shadow process")
    return pickle.loads(await reader.readexactly(size))
