"""The registry store on SQLAlchemy: one managed session per operation that commits or rolls back as a whole."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from modelyard.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    StorageError,
    Unavailable,
)
from modelyard.registry.aliases import rollback_target
from modelyard.registry.entities import (
    AliasEvent,
    AliasEventKind,
    ModelVersion,
    NewVersion,
    Page,
    RegisteredModel,
    VersionFilter,
)
from modelyard.registry.sql.convert import event_entity, model_entity, version_entity
from modelyard.registry.sql.engine import make_engine, upgrade, writer
from modelyard.registry.sql.models import (
    AliasEventRow,
    AliasRow,
    ModelVersionRow,
    RegisteredModelRow,
    VersionTagRow,
    utcnow,
)
from modelyard.registry.store import RegistryStore

MAX_PAGE_SIZE = 1000


def _encode_token(value: str | int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode()


def _decode_token(token: str | None) -> str | None:
    if token is None:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(f"page_token: {token!r} is not a token this registry handed out") from None


def _page_size(size: int) -> int:
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size: must be between 1 and {MAX_PAGE_SIZE}, got {size}")
    return size


class SqlAlchemyStore(RegistryStore):
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

    # -- models and versions -------------------------------------------------------------------------------------

    def _insert_model_if_missing(self, session: Session, name: str) -> None:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        now = utcnow()
        stmt = insert(RegisteredModelRow).values(
            name=name, description="", tags={}, latest_version=0, created_at=now, updated_at=now
        )
        session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))

    def create_model_version(self, new: NewVersion) -> ModelVersion:
        with self._session(write=True) as s:
            self._insert_model_if_missing(s, new.name)
            number = s.execute(
                update(RegisteredModelRow)
                .where(RegisteredModelRow.name == new.name)
                .values(latest_version=RegisteredModelRow.latest_version + 1, updated_at=utcnow())
                .returning(RegisteredModelRow.latest_version)
            ).scalar_one()
            row = ModelVersionRow(
                name=new.name,
                version=number,
                format=new.format,
                artifact_uri=new.artifact_uri,
                sha256=new.sha256,
                size=new.size,
                signature=dict(new.signature),
                manifest=dict(new.manifest),
                description=new.description,
                author=new.author,
                metrics=dict(new.metrics),
                params=dict(new.params),
                source=dict(new.source),
                status="READY",
                created_at=utcnow(),
                tags=[VersionTagRow(key=k, value=v) for k, v in new.tags.items()],
            )
            s.add(row)
            s.flush()
            return version_entity(row)

    def _model_row(self, s: Session, name: str) -> RegisteredModelRow:
        row = s.get(RegisteredModelRow, name)
        if row is None:
            raise NotFound(f"model {name!r} is not registered")
        return row

    def _aliases_of(self, s: Session, name: str) -> dict[str, int]:
        rows = s.execute(select(AliasRow.alias, AliasRow.version).where(AliasRow.name == name)).all()
        return {alias: version for alias, version in rows}  # noqa: C416 (rows are Row objects)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._session() as s:
            return model_entity(self._model_row(s, name), self._aliases_of(s, name))

    def list_registered_models(
        self, name_contains: str | None = None, page_size: int = 100, page_token: str | None = None
    ) -> Page[RegisteredModel]:
        limit = _page_size(page_size)
        query = select(RegisteredModelRow).order_by(RegisteredModelRow.name).limit(limit + 1)
        if name_contains:
            query = query.where(RegisteredModelRow.name.contains(name_contains, autoescape=True))
        after = _decode_token(page_token)
        if after is not None:
            query = query.where(RegisteredModelRow.name > after)
        with self._session() as s:
            rows = list(s.scalars(query))
            aliases: dict[str, dict[str, int]] = {r.name: {} for r in rows[:limit]}
            alias_rows = s.execute(select(AliasRow).where(AliasRow.name.in_(aliases))).scalars()
            for a in alias_rows:
                aliases[a.name][a.alias] = a.version
            items = [model_entity(r, aliases[r.name]) for r in rows[:limit]]
        token = _encode_token(items[-1].name) if len(rows) > limit else None
        return Page(items, token)

    def update_registered_model(
        self, name: str, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        with self._session(write=True) as s:
            row = self._model_row(s, name)
            if description is not None:
                row.description = description
            if tags is not None:
                row.tags = {**row.tags, **tags}
            row.updated_at = utcnow()
            s.flush()
            return model_entity(row, self._aliases_of(s, name))

    def _version_row(self, s: Session, name: str, version: int) -> ModelVersionRow:
        row = s.scalar(select(ModelVersionRow).where(ModelVersionRow.name == name, ModelVersionRow.version == version))
        if row is None:
            self._model_row(s, name)
            raise NotFound(f"model {name!r} has no version {version}")
        return row

    def _version_aliases(self, s: Session, name: str, version: int) -> tuple[str, ...]:
        query = select(AliasRow.alias).where(AliasRow.name == name, AliasRow.version == version)
        return tuple(sorted(s.scalars(query)))

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with self._session() as s:
            row = self._version_row(s, name, version)
            return version_entity(row, self._version_aliases(s, name, version))

    def get_latest_version(self, name: str) -> ModelVersion:
        with self._session() as s:
            row = s.scalar(
                select(ModelVersionRow)
                .where(ModelVersionRow.name == name)
                .order_by(ModelVersionRow.version.desc())
                .limit(1)
            )
            if row is None:
                self._model_row(s, name)
                raise NotFound(f"model {name!r} has no versions")
            return version_entity(row, self._version_aliases(s, name, row.version))

    def _filtered(self, f: VersionFilter) -> Select[Any]:
        query = select(ModelVersionRow)
        if f.name is not None:
            query = query.where(ModelVersionRow.name == f.name)
        if f.name_contains:
            query = query.where(ModelVersionRow.name.contains(f.name_contains, autoescape=True))
        if f.author is not None:
            query = query.where(ModelVersionRow.author == f.author)
        if f.format is not None:
            query = query.where(ModelVersionRow.format == f.format)
        if f.alias is not None:
            query = query.where(
                exists().where(
                    AliasRow.name == ModelVersionRow.name,
                    AliasRow.version == ModelVersionRow.version,
                    AliasRow.alias == f.alias,
                )
            )
        for key, value in f.tags.items():
            query = query.where(
                exists().where(
                    VersionTagRow.version_id == ModelVersionRow.id,
                    VersionTagRow.key == key,
                    VersionTagRow.value == value,
                )
            )
        return query

    def search_model_versions(
        self, filter: VersionFilter | None = None, page_size: int = 100, page_token: str | None = None
    ) -> Page[ModelVersion]:
        limit = _page_size(page_size)
        query = self._filtered(filter or VersionFilter()).order_by(ModelVersionRow.id.desc()).limit(limit + 1)
        after = _decode_token(page_token)
        if after is not None:
            if not after.isdigit():
                raise InvalidArgument(f"page_token: {page_token!r} is not a token this registry handed out")
            query = query.where(ModelVersionRow.id < int(after))
        with self._session() as s:
            rows = list(s.scalars(query))
            alias_rows = s.execute(
                select(AliasRow.name, AliasRow.version, AliasRow.alias).where(
                    AliasRow.name.in_({r.name for r in rows[:limit]})
                )
            ).all()
            by_version: dict[tuple[str, int], list[str]] = {}
            for name, version, alias in alias_rows:
                by_version.setdefault((name, version), []).append(alias)
            items = [version_entity(r, tuple(sorted(by_version.get((r.name, r.version), [])))) for r in rows[:limit]]
        token = _encode_token(rows[limit - 1].id) if len(rows) > limit else None
        return Page(items, token)

    def set_perf_card(self, name: str, version: int, card: Mapping[str, Any]) -> ModelVersion:
        with self._session(write=True) as s:
            row = self._version_row(s, name, version)
            row.perf_card = dict(card)
            s.flush()
            return version_entity(row, self._version_aliases(s, name, version))

    def delete_model_version(self, name: str, version: int, force: bool, actor: str) -> ModelVersion:
        with self._session(write=True) as s:
            row = self._version_row(s, name, version)
            aliases = self._version_aliases(s, name, version)
            if aliases and not force:
                listed = ", ".join(f"{name}@{a}" for a in aliases)
                raise FailedPrecondition(
                    f"version {version} of {name!r} is in use by {listed}; move the alias first or force the delete"
                )
            entity = version_entity(row, aliases)
            for alias in aliases:
                self._record(s, name, alias, "delete", version, None, actor, f"version {version} deleted")
            s.execute(delete(AliasRow).where(AliasRow.name == name, AliasRow.version == version))
            s.delete(row)
            return entity

    def artifact_in_use(self, sha256: str) -> bool:
        with self._session() as s:
            return bool(s.scalar(select(func.count()).where(ModelVersionRow.sha256 == sha256)))

    # -- aliases -------------------------------------------------------------------------------------------------

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

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        actor: str,
        reason: str,
        evidence: Mapping[str, Any] | None = None,
    ) -> AliasEvent:
        with self._session(write=True) as s:
            self._lock_model(s, name)
            return self._move(s, name, alias, "set", version, actor, reason, evidence)

    def delete_alias(self, name: str, alias: str, actor: str, reason: str) -> AliasEvent:
        with self._session(write=True) as s:
            self._lock_model(s, name)
            return self._move(s, name, alias, "delete", None, actor, reason)

    def rollback_alias(self, name: str, alias: str, actor: str, reason: str) -> AliasEvent:
        with self._session(write=True) as s:
            self._lock_model(s, name)
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

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        with self._session() as s:
            events = [event_entity(r) for r in s.scalars(self._history_query(name, alias))]
            if not events:
                self._model_row(s, name)
            return events
