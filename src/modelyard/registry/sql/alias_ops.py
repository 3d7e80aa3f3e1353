"""Alias moves, resolution and history: every move appends an event, under the model row's lock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from modelyard.errors import FailedPrecondition, NotFound
from modelyard.registry.aliases import rollback_target
from modelyard.registry.entities import AliasEvent, AliasEventKind, ModelVersion
from modelyard.registry.sql.convert import event_entity, version_entity
from modelyard.registry.sql.models import AliasEventRow, AliasRow, ModelVersionRow, RegisteredModelRow
from modelyard.registry.sql.session import SessionStore
from modelyard.registry.store import UNCHECKED, Unchecked


class AliasOps(SessionStore):
    def _lock_model(self, s: Session, name: str) -> RegisteredModelRow:
        """Alias moves of one model are serialized on its row, so history and current state never disagree."""
        row = s.scalar(select(RegisteredModelRow).where(RegisteredModelRow.name == name).with_for_update())
        if row is None:
            raise NotFound(f"model {name!r} is not registered")
        return row

    def _move(
        self,
        s: Session,
        name: str,
        alias: str,
        kind: AliasEventKind,
        version: int | None,
        actor: str,
        reason: str,
        evidence: Mapping[str, Any] | None = None,
    ) -> AliasEvent:
        current = s.get(AliasRow, (name, alias))
        previous = current.version if current else None
        if version is None:
            if current is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            s.delete(current)
        else:
            self._version_row(s, name, version)
            if current is None:
                s.add(AliasRow(name=name, alias=alias, version=version))
            else:
                current.version = version
        return event_entity(self._record(s, name, alias, kind, previous, version, actor, reason, evidence))

    def resolve_alias(self, name: str, alias: str) -> int:
        with self._session() as s:
            row = s.get(AliasRow, (name, alias))
            if row is None:
                self._model_row(s, name)
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            return row.version

    def get_aliased_version(self, name: str, alias: str) -> ModelVersion:
        with self._session() as s:
            row = s.scalar(
                select(ModelVersionRow)
                .join(
                    AliasRow,
                    (AliasRow.name == ModelVersionRow.name) & (AliasRow.version == ModelVersionRow.version),
                )
                .where(AliasRow.name == name, AliasRow.alias == alias)
            )
            if row is None:
                self._model_row(s, name)
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            return version_entity(row, self._version_aliases(s, name, row.version))

    def _check_expected(self, s: Session, name: str, alias: str, expect: int | Unchecked | None) -> None:
        if isinstance(expect, Unchecked):
            return
        current = s.get(AliasRow, (name, alias))
        now = current.version if current is not None else None
        if now != expect:
            raise FailedPrecondition(f"{name}@{alias} moved to {now if now is not None else 'nothing'} meanwhile, "
                                     f"not {expect if expect is not None else 'unset'}: nothing changed")  # fmt: skip

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        actor: str,
        reason: str,
        evidence: Mapping[str, Any] | None = None,
        expect: int | Unchecked | None = UNCHECKED,
    ) -> AliasEvent:
        with self._session(write=True) as s:
            self._lock_model(s, name)
            self._check_expected(s, name, alias, expect)
            return self._move(s, name, alias, "set", version, actor, reason, evidence)

    def delete_alias(self, name: str, alias: str, actor: str, reason: str) -> AliasEvent:
        with self._session(write=True) as s:
            self._lock_model(s, name)
            return self._move(s, name, alias, "delete", None, actor, reason)

    def rollback_alias(
        self, name: str, alias: str, actor: str, reason: str, expect: int | Unchecked | None = UNCHECKED
    ) -> AliasEvent:
        with self._session(write=True) as s:
            self._lock_model(s, name)
            self._check_expected(s, name, alias, expect)
            events = [event_entity(r) for r in s.scalars(self._history_query(name, alias, newest_first=True))]
            target = rollback_target(events, name, alias)
            try:
                self._version_row(s, name, target)
            except NotFound:
                raise FailedPrecondition(
                    f"cannot roll {name}@{alias} back: its previous version {target} has been deleted"
                ) from None
            return self._move(s, name, alias, "rollback", target, actor, reason)

    def _history_query(self, name: str, alias: str | None, newest_first: bool = False) -> Select[Any]:
        order = AliasEventRow.id.desc() if newest_first else AliasEventRow.id
        query = select(AliasEventRow).where(AliasEventRow.name == name).order_by(order)
        return query if alias is None else query.where(AliasEventRow.alias == alias)

    def alias_history(
        self, name: str, alias: str | None = None, limit: int | None = None, before: int | None = None
    ) -> list[AliasEvent]:
        with self._session() as s:
            query = self._history_query(name, alias, newest_first=limit is not None)
            if before is not None:
                query = query.where(AliasEventRow.id < before)
            rows = list(s.scalars(query.limit(limit) if limit is not None else query))
            events = [event_entity(r) for r in (reversed(rows) if limit is not None else rows)]
            if not events:
                self._model_row(s, name)
            return events
