"""A data plane in this process, for one-off calls without a socket: `modelyard infer` (and what else runs a
model offline). The same ModelManager, batching and runtimes as a server's worker, so an answer here is the
answer the server gives."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType

import numpy as np

from modelyard.datatypes import from_numpy
from modelyard.protocol.types import InferInput, InferRequest, InferResponse
from modelyard.server.dataplane import DataPlane
from modelyard.server.models.manager import ModelManager
from modelyard.server.repository.spec import SourceSpec


class LocalPlane:
    """`async with LocalPlane(sources) as plane: await plane.infer("fraud", {"x": array})`."""

    def __init__(self, sources: list[SourceSpec], one_at_a_time: bool = False) -> None:
        """`one_at_a_time`: load the sources in turn, so that each one's memory is its own (the validation)."""
        self.sources = sources
        self.one_at_a_time = one_at_a_time
        self.manager = ModelManager()
        self.dataplane = DataPlane(self.manager)

    async def __aenter__(self) -> LocalPlane:
        if self.one_at_a_time:
            for source in self.sources:
                await self.manager.load(source.source())
        else:
            await asyncio.gather(*(self.manager.load(s.source()) for s in self.sources))
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.manager.close()

    async def infer(self, name: str, inputs: Mapping[str, np.ndarray], version: str | None = None) -> InferResponse:
        request = InferRequest(
            inputs=[InferInput(n, from_numpy(a.dtype), tuple(a.shape), a) for n, a in inputs.items()]
        )
        return await self.dataplane.infer(name, version, request)
