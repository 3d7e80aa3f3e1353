"""uvicorn's server, woken once a second rather than ten times.

uvicorn's main loop sleeps 0.1 s at a time to look for a stop and to refresh its `date` header once a second:
ten wakes a second for one piece of work, a fifth of an idle worker's CPU. Here the loop wakes once a second for
the header, and a stop (`handle_exit`, from the signal handlers) wakes it at once, so it ends no later than before.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import FrameType

import uvicorn


class LeanServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        while not await self.on_tick(0):  # tick 0 refreshes the date header (uvicorn does it every tenth tick)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1.0)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing is waiting any more
                self._loop.call_soon_threadsafe(self._stop.set)
