"""The registry's pages: models (searched by name, tag, author or alias), a model's versions, one version (with its
performance card, validations, reference profile and batch jobs), and two versions side by side. Each page asks
the store for one page of rows, never for everything: the page stays fast at 10,000 versions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import InvalidArgument, NotFound
from modelyard.registry import ModelVersion, RegisteredModel, Registry, VersionFilter
from modelyard.ui.render import page

PAGE_SIZE = 50


def registry(request: Request) -> Registry:
    found: Registry = request.app.state.registry
    return found


def _tags(text: str) -> dict[str, str]:
    """`team=fraud stage=beta` -> {team: fraud, stage: beta}: the store matches a tag's key and value both."""
    tags = {}
    for word in text.split():
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"tag: {word!r} is not KEY=VALUE")
        tags[key] = value
    return tags


def models(request: Request) -> Response:
    q = request.query_params
    name, author, alias, tag = (q.get(k, "").strip() for k in ("q", "author", "alias", "tag"))
    token = q.get("page") or None
    reg = registry(request)
    if author or alias or tag:  # conditions on versions: list the versions that meet them
        found = reg.search(VersionFilter(name_contains=name or None, author=author or None, alias=alias or None,
                                         tags=_tags(tag)), PAGE_SIZE, token)  # fmt: skip
        return page(request, "models.html", query=q, models=None, versions=found.items, next=found.next_page_token)
    listed = reg.list_models(name or None, PAGE_SIZE, token)
    return page(request, "models.html", query=q, models=listed.items, versions=None, next=listed.next_page_token)


def model(request: Request) -> Response:
    name = request.path_params["name"]
    reg = registry(request)
    found = reg.model(name)
    versions = reg.search(VersionFilter(name=name), PAGE_SIZE, request.query_params.get("page") or None)
    metric_names = sorted({k for v in versions.items for k in v.metrics})[:6]
    return page(request, "model.html", model=found, versions=versions.items, next=versions.next_page_token,
                metric_names=metric_names)  # fmt: skip


def number(key: str, value: str, what: str = "a version number") -> int:
    """A count from a URL or a form: ASCII digits, within a database integer (`'²'.isdigit()` is true, and a
    24-digit number overflows SQLite), else InvalidArgument naming the field."""
    if not re.fullmatch(r"[0-9]{1,18}", value):
        raise InvalidArgument(f"{key}: {value!r} is not {what}")
    return int(value)


def _int(request: Request, key: str, text: str | None = None) -> int:
    value = text if text is not None else request.path_params.get(key) or request.query_params.get(key, "")
    return number(key, str(value))


def version(request: Request) -> Response:
    name = request.path_params["name"]
    reg = registry(request)
    found = reg.get(f"{name}/{_int(request, 'version')}")
    validations = reg.validations(name, limit=20, version=found.version)
    reference = reg.reference(found.uri)
    jobs = reg.jobs(name, limit=20, version=found.version)
    return page(request, "version.html", v=found, card=found.perf_card, validations=validations,
                reference=reference, features=_features(reference.profile if reference else {}), jobs=jobs)  # fmt: skip


def _features(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, f in sorted((profile.get("features") or {}).items())[:200]:
        top = sorted((f.get("categories") or {}).items(), key=lambda kv: -kv[1])[:5]
        rows.append({"name": name, "kind": f.get("kind", ""), "rows": f.get("rows", 0), "missing": f.get("missing", 0),
                     "min": f.get("min"), "max": f.get("max"), "mean": f.get("mean"), "std": f.get("std"),
                     "top": ", ".join(k for k, _ in top)})  # fmt: skip
    return rows


def compare(request: Request) -> Response:
    """Two versions side by side: every metric, parameter and tag either has, marked where they differ."""
    name = request.path_params["name"]
    reg = registry(request)
    a, b = (reg.get(f"{name}/{_int(request, key)}") for key in ("a", "b"))
    sections = {
        "metrics": _diff(a.metrics, b.metrics),
        "params": _diff(a.params, b.params),
        "tags": _diff(a.tags, b.tags),
        "lineage": _diff(a.source, b.source),
        "package": _diff(_facts(a), _facts(b)),
    }
    return page(request, "compare.html", name=name, a=a, b=b, sections=sections)


def _facts(v: ModelVersion) -> dict[str, object]:
    return {"format": v.format, "size": v.size, "sha256": v.sha256, "author": v.author,
            "inputs": len(v.signature.get("inputs", [])), "outputs": len(v.signature.get("outputs", []))}  # fmt: skip


def _diff(a: Mapping[str, object], b: Mapping[str, object]) -> list[dict[str, object]]:
    rows = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        delta = right - left if isinstance(left, int | float) and isinstance(right, int | float) else None
        rows.append({"key": key, "a": left, "b": right, "same": left == right, "delta": delta})
    return rows


def model_or_404(reg: Registry, name: str) -> RegisteredModel:
    """The model, or NotFound with its name, before a page that lists its parts shows an empty list."""
    try:
        return reg.model(name)
    except NotFound:
        raise NotFound(f"no model named {name!r} in this registry") from None
