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


def fetch_metrics(url: str) -> str:
    try:
        response = httpx.get(f"{url.rstrip('/')}/metrics", timeout=2.0, trust_env=False)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise Unavailable(f"{url}/metrics did not answer: {error}") from None
    return response.text


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
