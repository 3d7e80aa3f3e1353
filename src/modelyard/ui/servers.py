"""The live servers discovery lists, what each serves, and live charts per model: the page polls
`/api/servers/{id}/live` every two seconds, which reads that server's `/metrics` now and answers the change since
the last reading (live.py). The dashboard reads the servers, not the browser: a browser on another machine needs
to reach only the dashboard, and the servers' metrics need no CORS."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from modelyard.errors import NotFound, Unavailable
from modelyard.ui.live import Sampler
from modelyard.ui.models import registry
from modelyard.ui.render import page

MAX_METRICS = 8 << 20  # a server's /metrics is tens of kB; past this it is not one of ours


def fetch_metrics(url: str) -> str:
    """A discovered server's `/metrics`: only over http(s), within 2 s and MAX_METRICS bytes, whatever the
    registry row says (anyone who can write discovery rows can make the dashboard fetch an address)."""
    if not url.startswith(("http://", "https://")):
        raise Unavailable(f"{url!r} is not an http(s) address of a server")
    body = bytearray()
    try:
        with httpx.stream("GET", f"{url.rstrip('/')}/metrics", timeout=2.0, trust_env=False) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_METRICS:
                    raise Unavailable(f"{url}/metrics is over {MAX_METRICS >> 20} MiB: not a modelyard server")
    except httpx.HTTPError as error:
        raise Unavailable(f"{url}/metrics did not answer: {error}") from None
    return body.decode("utf-8", "replace")


def sampler() -> Sampler:
    return Sampler(fetch_metrics, time.time)


def servers(request: Request) -> Response:
    found = registry(request).servers(request.query_params.get("model") or None)
    now = datetime.now(UTC)
    return page(request, "servers.html", servers=found, now=now)


async def live(request: Request) -> Response:
    server_id = request.path_params["id"]
    reg = registry(request)
    found = next((s for s in await run_in_threadpool(reg.servers) if s.id == server_id), None)
    if found is None:
        raise NotFound(f"no live server {server_id!r}: it stopped, or its heartbeat is stale")
    figures = await run_in_threadpool(request.app.state.sampler.read, found.http_url)
    return JSONResponse(figures)
