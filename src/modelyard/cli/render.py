"""How registry objects look in a terminal (Rich) and as JSON (`--json`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import orjson
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the CLI starts without importing the registry's libraries
    from modelyard.registry.entities import (
        AliasEvent,
        ModelVersion,
        ReferenceProfile,
        RegisteredModel,
        ServerRecord,
        Validation,
    )

_PIPE_WIDTH = 160  # bench and profile tables have 14 columns of figures


def console(file: IO[str] | None = None) -> Console:
    """Rich gives a pipe or a log file 80 columns and cuts each figure of a wide table to "2…"; a file has no
    width to respect, so it gets enough for the figures (a terminal, or COLUMNS, still decides for itself)."""
    made = Console(file=file)
    if not made.is_terminal and made.width == 80:
        made.width = _PIPE_WIDTH
    return made


out = console()
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    # orjson serializes dataclasses (frozen, slotted) and datetimes natively.
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=_plain).decode())


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def _pairs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "-"


def _shape(spec: Mapping[str, Any]) -> str:
    return f"{spec['name']}: {spec['datatype']}{list(spec['shape'])}"


def version_detail(
    v: ModelVersion, validated: Validation | None = None, reference: ReferenceProfile | None = None
) -> Table:
    table = Table(title=v.uri, show_header=False, title_justify="left")
    table.add_column(style="bold cyan")
    table.add_column()
    rows = [
        ("format", v.format),
        ("aliases", ", ".join(v.aliases) or "-"),
        ("description", v.description or "-"),
        ("author", v.author or "-"),
        ("created", _when(v.created_at)),
        ("inputs", "; ".join(_shape(s) for s in v.signature.get("inputs", []))),
        ("outputs", "; ".join(_shape(s) for s in v.signature.get("outputs", []))),
        ("metrics", _pairs(v.metrics)),
        ("params", _pairs(v.params)),
        ("tags", _pairs(v.tags)),
        ("lineage", _pairs(v.source)),
        ("sha256", v.sha256),
        ("size", f"{v.size:,} bytes"),
        ("artifact", v.artifact_uri),
        ("status", v.status),
        ("performance", _card(v.perf_card)),
        ("validation", _validated(validated)),
        ("reference", _reference(reference)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _reference(r: ReferenceProfile | None) -> str:
    if r is None:
        return "- (modelyard reference set, for drift)"
    return f"#{r.id}: {r.rows:,} rows, {len(r.profile.get('features', {}))} features ({r.source}), {_when(r.at)}"


def _validated(v: Validation | None) -> str:
    if v is None:
        return "-"
    first = f": {v.failing[0]}" if v.verdict != "pass" and v.failing else ""
    return f"#{v.id} {v.verdict} against version {v.baseline_version} on {v.requests} requests ({v.source}){first}"


def versions_table(versions: Iterable[ModelVersion]) -> Table:
    table = Table("model", "version", "format", "aliases", "author", "created", "metrics", "tags")
    for v in versions:
        table.add_row(
            v.name,
            str(v.version),
            v.format,
            ", ".join(v.aliases),
            v.author,
            _when(v.created_at),
            _pairs(v.metrics),
            _pairs(v.tags),
        )
    return table


def models_table(models: Iterable[RegisteredModel]) -> Table:
    table = Table("model", "latest", "aliases", "description", "tags", "updated")
    for m in models:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items()))
        tags = ", ".join(f"{k}={v}" for k, v in sorted(m.tags.items()))
        table.add_row(m.name, str(m.latest_version), aliases, m.description, tags, _when(m.updated_at))
    return table


def history_table(events: Iterable[AliasEvent]) -> Table:
    """Numbered from 1 in this listing (the events' ids count every model's moves; `--json` has them)."""
    table = Table("#", "when", "alias", "kind", "from", "to", "actor", "reason", "evidence")
    for number, e in enumerate(events, 1):
        table.add_row(
            str(number),
            _when(e.at),
            e.alias,
            e.kind,
            str(e.from_version or "-"),
            str(e.to_version or "-"),
            e.actor,
            e.reason,
            evidence_line(e.evidence),
        )
    return table


def evidence_line(evidence: Mapping[str, Any]) -> str:
    """`validation #3 pass`, `validation #4 fail, overridden`: what a move was decided on."""
    if "validation" not in evidence:
        return ""
    line = f"validation #{evidence['validation']} {evidence.get('verdict', '')}".rstrip()
    return line + (", overridden" if evidence.get("override") else "")


def aliases_table(rows: Iterable[tuple[str, str, int, AliasEvent | None]]) -> Table:
    """(model, alias, version, its last move)."""
    table = Table("model", "alias", "version", "since", "by", "reason")
    for name, alias, version, moved in rows:
        when, actor, reason = (_when(moved.at), moved.actor, moved.reason) if moved else ("-", "-", "")
        table.add_row(name, alias, str(version), when, actor, reason)
    return table


def alias_move(e: AliasEvent) -> str:
    before = e.from_version if e.from_version is not None else "none"
    after = e.to_version if e.to_version is not None else "none"
    return f"{e.name}@{e.alias}: {before} → {after} ({e.kind})"


def servers_table(servers: Iterable[ServerRecord], now: datetime) -> Table:
    table = Table("server", "http", "grpc", "models", "ready", "heartbeat")
    for r in servers:
        served = ", ".join(_served(m.name, m.version, m.aliases) for m in r.models)
        age = f"{(now - r.heartbeat_at).total_seconds():.0f} s ago"
        table.add_row(r.id, r.http_url, r.grpc_url or "-", served or "-", "yes" if r.ready else "no", age)
    return table


def _served(name: str, version: object, aliases: tuple[str, ...]) -> str:
    return f"{name}/{version}" + (f" ({', '.join(aliases)})" if aliases else "")


def _card(card: Mapping[str, Any] | None) -> str:
    if not card:
        return "- (modelyard profile records it)"
    return (
        f"{card.get('throughput_rps', '?')} req/s at p99 {card.get('p99_ms', '?')} ms "
        f"(budget {card.get('p99_budget_ms', '?')} ms), capacity {card.get('capacity_rps', '?')} req/s; "
        f"serve {' '.join(card.get('serve_args', []))}"
    )
