"""What the gate and the monitor found: a model's validations (every check with its value, threshold, interval and
verdict), its drift per window (features sorted by effect, the reference and current distributions overlaid, as
the HTML report draws them), and its batch jobs."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import InvalidArgument, ModelyardError, NotFound
from modelyard.ui.models import model_or_404, registry
from modelyard.ui.models import number as parse
from modelyard.ui.render import page

SHOWN = 50  # validations on a page; older ones a link away
SINCE = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}


def validations(request: Request) -> Response:
    name = request.path_params["name"]
    reg = registry(request)
    model_or_404(reg, name)
    before = request.query_params.get("before", "")
    found = reg.validations(
        name, limit=SHOWN + 1, before=parse("before", before, "a validation number") if before else None
    )
    older = found[SHOWN - 1].id if len(found) > SHOWN else None
    return page(request, "validations.html", name=name, validations=found[:SHOWN], older=older)


def validation(request: Request) -> Response:
    name, number = request.path_params["name"], request.path_params["id"]
    found = registry(request).validation(parse("validation", number, "a validation number"))
    if found.name != name:
        raise NotFound(f"validation #{number} is of {found.name}, not {name}")
    return page(request, "validation.html", v=found)


async def drift(request: Request) -> Response:
    """The drift of `?ref=` (an alias or a version; production by default) over `?since=`: a window per version
    the alias pointed at. Reading the traffic log takes a moment, so it runs off the event loop."""
    from modelyard.monitoring.report import windows_view
    from modelyard.monitoring.run import drift_report

    name = request.path_params["name"]
    ref = request.query_params.get("ref", "production")
    since = request.query_params.get("since", "24h")
    if since not in SINCE:
        raise InvalidArgument(f"since: one of {', '.join(SINCE)}, not {since!r}")
    reg = registry(request)
    aliases = sorted((await run_in_threadpool(model_or_404, reg, name)).aliases)
    target = f"{name}/{ref}" if ref.isascii() and ref.isdigit() else f"{name}@{ref}"
    windows, problem = [], ""
    try:
        report = await run_in_threadpool(drift_report, reg, target, time.time() - SINCE[since])
        windows = windows_view(report)
    except ModelyardError as error:  # no traffic, no reference, an alias that never pointed anywhere: say so
        problem = str(error)
    return page(request, "drift.html", name=name, ref=ref, since=since, choices=list(SINCE), aliases=aliases,
                windows=windows, problem=problem)  # fmt: skip


def jobs(request: Request) -> Response:
    name = request.query_params.get("model") or None
    reg = registry(request)
    if name is not None:
        model_or_404(reg, name)
    return page(request, "jobs.html", model=name, jobs=reg.jobs(name, limit=200))
