"""The store's foundation: the engine, one managed session per operation, and row lookups both halves share.

Each operation runs in one session that commits or rolls back as a whole; SQLAlchemy's errors leave it mapped
to the error tree (IntegrityError → AlreadyExists, OperationalError → Unavailable, others → StorageError).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from modelyard.errors import AlreadyExists, NotFound, StorageError, Unavailable
from modelyard.registry.entities import AliasEventKind
from modelyard.registry.sql.engine import make_engine, upgrade, writer
from modelyard.registry.sql.models import AliasEventRow, AliasRow, ModelVersionRow, RegisteredModelRow, utcnow


class SessionStore:
    def __init__(self, url: str, busy_timeout_s: float = 30.0) -> None:
        self.engine = make_engine(url, busy_timeout_s)
        self._writer = writer(self.engine)
        try:
            upgrade(self.engine)
        except OperationalError as exc:
            raise Unavailable(f"registry database {self.engine.url!r} is unavailable: {exc.orig}") from None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self, write: bool = False) -> Iterator[Session]:
        session = Session(self._writer if write else self.engine, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise AlreadyExists(f"conflicting registry entry: {exc.orig}") from None
        except OperationalError as exc:
            session.rollback()
            raise Unavailable(f"registry database is unavailable: {exc.orig}") from None
        except SQLAlchemyError as exc:
            session.rollback()
            raise StorageError(f"registry database error: {exc}") from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _model_row(self, s: Session, name: str) -> RegisteredModelRow:
        row = s.get(RegisteredModelRow, name)
        if row is None:
            raise NotFound(f"model {name!r} is not registered")
        return row

    def _aliases_of(self, s: Session, name: str) -> dict[str, int]:
        rows = s.execute(select(AliasRow.alias, AliasRow.version).where(AliasRow.name == name)).all()
        return {alias: version for alias, version in rows}  # noqa: C416 (rows are Row objects)

    def _version_row(self, s: Session, name: str, version: int) -> ModelVersionRow:
        row = s.scalar(select(ModelVersionRow).where(ModelVersionRow.name == name, ModelVersionRow.version == version))
        if row is None:
            self._model_row(s, name)
            raise NotFound(f"model {name!r} has no version {version}")
        return row

    def _version_aliases(self, s: Session, name: str, version: int) -> tuple[str, ...]:
        query = select(AliasRow.alias).where(AliasRow.name == name, AliasRow.version == version)
        return tuple(sorted(s.scalars(query)))

    def _record(
        self,
        s: Session,
        name: str,
        alias: str,
        kind: AliasEventKind,
        from_version: int | None,
        to_version: int | None,
        actor: str,
        reason: str,
        evidence: Mapping[str, Any] | None = None,
    ) -> AliasEventRow:
        row = AliasEventRow(
            name=name,
            alias=alias,
            kind=kind,
            from_version=from_version,
            to_version=to_version,
            actor=actor,
            reason=reason,
            at=utcnow(),
            evidence=dict(evidence or {}),
        )
        s.add(row)
        s.flush()
        return row
