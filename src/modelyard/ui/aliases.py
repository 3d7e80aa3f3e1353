"""A model's aliases: each one's timeline (who or what moved it, when, the verdict and the reason), and the promote
and rollback buttons. Promote goes through `validation.promote`, the very rule `modelyard promote` applies: the
alias moves only on a passing validation of exactly these two versions, and a refusal shows its failing checks.
A form carries the versions the page showed, so a page left open while someone else moved the alias changes
nothing and says so."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modelyard.errors import FailedPrecondition, InvalidArgument, ModelyardError, PayloadTooLarge
from modelyard.registry import AliasEvent, Registry, Validation
from modelyard.ui.models import model_or_404, number, registry
from modelyard.ui.render import page
from modelyard.validation.promote import Promotion

MAX_FORM = 64 * 1024
Timeline = dict[str, tuple[list[AliasEvent], int | None]]
FRESH = timedelta(hours=24)  # what `modelyard promote` takes as fresh by default (--max-age 24h)


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form, bounded: the standard library parses it, no multipart is accepted."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidArgument(f"content-type: a form is application/x-www-form-urlencoded, not {kind or 'none'}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise PayloadTooLarge(f"form: over {MAX_FORM // 1024} KiB")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


SHOWN = 20  # moves per alias on a page; older ones a link away


def _timeline(reg: Registry, name: str, now: Mapping[str, int], only: str, before: int | None) -> Timeline:
    """Per alias, its newest moves (newest first) and the id to ask for the page before them (None: no more).
    The aliases are those set now and those moved among the model's last 200 moves (a deleted alias too)."""
    names = {only} if only else set(now) | {e.alias for e in reg.history(name, limit=200)}
    timeline: Timeline = {}
    for alias in sorted(names):
        events = list(reversed(reg.history(name, alias, limit=SHOWN + 1, before=before)))
        timeline[alias] = (events[:SHOWN], events[SHOWN - 1].id if len(events) > SHOWN else None)
    return timeline


def aliases(request: Request, status: int = 200, refused: Validation | None = None, error: str = "") -> Response:
    name = request.path_params["name"]
    reg = registry(request)
    found = model_or_404(reg, name)
    only, before = request.query_params.get("alias", ""), request.query_params.get("before", "")
    older = number("before", before, "a move number") if before else None
    timeline = _timeline(reg, name, found.aliases, only, older if only else None)
    moved = request.query_params.get("moved", "")
    done = _said(reg, name, number("moved", moved, "a move number")) if moved else ""
    return page(request, "aliases.html", status, model=found, timeline=timeline, only=only, refused=refused,
                error=error, done=done)  # fmt: skip


def _said(reg: Registry, name: str, event_id: int) -> str:
    """What the move just made was, read back from the registry (never from the address: a link cannot make the
    page announce a move that did not happen)."""
    found = reg.history(name, limit=1, before=event_id + 1)
    if not found or found[0].id != event_id:
        return ""
    e = found[0]
    why: str = e.kind
    if e.kind != "rollback" and "validation" in e.evidence:
        why = f"validation #{e.evidence['validation']} {e.evidence.get('verdict', '')}".strip()
    return f"{name}@{e.alias}: {e.from_version} → {e.to_version} ({why})"


def _writer(request: Request, actor: str) -> Registry:
    """The registry as the signed-in person: the alias event records them as its actor."""
    reg = registry(request)
    return Registry(reg.store, reg.artifacts, actor, reg.traffic_url)


def _version(key: str, value: str) -> int | None:
    return None if value in ("", "none") else number(key, value)


def _seen(fields: Mapping[str, str], source: str, target: str) -> tuple[int | None, int | None]:
    """The versions the page showed for the two aliases chosen: `seen` lists every alias as `alias=version,...`,
    so whichever pair the reader picks, a move made since the page was drawn is caught."""
    seen = {}
    for pair in filter(None, fields.get("seen", "").split(",")):
        alias, _, version = pair.partition("=")
        seen[alias.strip()] = _version("seen", version.strip())
    return seen.get(source), seen.get(target)


async def promote(request: Request) -> Response:
    name = request.path_params["name"]
    try:
        fields = await form(request)
        actor = request.app.state.access.actor(request, fields)
        writer = _writer(request, actor)
        source, target = fields.get("from", "staging"), fields.get("to", "production")
        expect = _seen(fields, source, target)
        done = await run_in_threadpool(_promote, request, writer, name, source, target, fields, expect)
    except ModelyardError as error:
        refused = getattr(error, "validation", None)
        return await run_in_threadpool(aliases, request, error.http_status, refused=refused, error=str(error))
    return RedirectResponse(f"/models/{quote(name)}/aliases?moved={done.moved.id}", status_code=303)


def _promote(request: Request, writer: Registry, name: str, source: str, target: str, fields: Mapping[str, str],
             expect: tuple[int | None, int | None]) -> Promotion:  # fmt: skip
    from modelyard.validation.policy import policy_for
    from modelyard.validation.promote import promote as move
    from modelyard.validation.run import requests_for, run

    rules = policy_for(writer, name, None)

    def judge(candidate: int, baseline: int) -> Validation:
        base = writer.get(f"{name}/{baseline}")
        requests = requests_for(writer, base)
        return run(writer, request.app.state.cache_dir, base, writer.get(f"{name}/{candidate}"), requests, rules)

    force = fields.get("force") == "on"
    reason = fields.get("reason", "").strip()
    return move(writer, name, source, target, rules.model_dump(), judge, datetime.now(UTC) - FRESH,
                force=force, reason=reason, expect=expect)  # fmt: skip


async def rollback(request: Request) -> Response:
    name = request.path_params["name"]
    try:
        fields = await form(request)
        actor = request.app.state.access.actor(request, fields)
        alias = fields.get("alias", "")
        writer = _writer(request, actor)
        expected = _version("expect", fields.get("expect", ""))
        reason = fields.get("reason", "").strip()
        try:  # checked under the model's lock: a move made since the page was drawn is never undone
            moved = await run_in_threadpool(writer.rollback, name, alias, reason, expected)
        except FailedPrecondition as error:
            raise FailedPrecondition(f"the page was stale: {error}; look again") from None
    except ModelyardError as error:
        return await run_in_threadpool(aliases, request, error.http_status, error=str(error))
    return RedirectResponse(f"/models/{quote(name)}/aliases?moved={moved.id}", status_code=303)
