"""Pages from templates: one Jinja2 environment that escapes everything, and the small filters the templates share
(times, sizes, digests, numbers), so that every page writes a figure the same way the CLI does."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("modelyard.ui", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(value: datetime | None) -> str:
    return "-" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def size(value: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024  # type: ignore[assignment]
    return str(value)


def number(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"  # 3,000 req/s, not 3e+03


def shape(spec: Mapping[str, Any]) -> str:
    dims = ", ".join("-1" if d is None else str(d) for d in spec.get("shape", []))
    return f"{spec.get('name')}: {spec.get('datatype')}[{dims}]"


ENV.filters.update(when=when, size=size, number=number, shape=shape, short=lambda sha: str(sha)[:12])


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A whole page; the access state (signed in? who? the form token) goes to every template."""
    access = request.app.state.access
    viewer = access.viewer(request)
    body = ENV.get_template(template).render(
        request=request, viewer=viewer, writable=access.enabled, csrf=access.csrf(request) if viewer else "",
        **context,
    )  # fmt: skip
    return HTMLResponse(body, status_code=status)
