"""Discovery entries: a serving process announces itself and refreshes its heartbeat; readers skip stale ones."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from modelyard.registry.entities import ServedVersion, ServerRecord
from modelyard.registry.sql.convert import aware
from modelyard.registry.sql.models import ServerRow
from modelyard.registry.sql.session import SessionStore


def _models_json(record: ServerRecord) -> list[dict[str, object]]:
    return [{"name": m.name, "version": m.version, "aliases": list(m.aliases)} for m in record.models]


def _record(row: ServerRow) -> ServerRecord:
    return ServerRecord(
        id=row.id,
        http_url=row.http_url,
        grpc_url=row.grpc_url,
        host=row.host,
        pid=row.pid,
        models=tuple(ServedVersion(m["name"], m["version"], tuple(m.get("aliases", ()))) for m in row.models),
        ready=row.ready,
        started_at=aware(row.started_at),
        heartbeat_at=aware(row.heartbeat_at),
    )


class ServerOps(SessionStore):
    def announce_server(self, record: ServerRecord) -> None:
        with self._session(write=True) as s:
            row = s.get(ServerRow, record.id) or ServerRow(id=record.id, started_at=record.started_at)
            row.http_url, row.grpc_url, row.host, row.pid = record.http_url, record.grpc_url, record.host, record.pid
            row.models, row.ready, row.heartbeat_at = _models_json(record), record.ready, record.heartbeat_at
            s.add(row)

    def withdraw_server(self, server_id: str) -> None:
        with self._session(write=True) as s:
            s.execute(delete(ServerRow).where(ServerRow.id == server_id))

    def list_servers(self, alive_since: datetime) -> list[ServerRecord]:
        with self._session() as s:
            rows = s.scalars(select(ServerRow).where(ServerRow.heartbeat_at >= alive_since).order_by(ServerRow.id))
            return [_record(r) for r in rows]
