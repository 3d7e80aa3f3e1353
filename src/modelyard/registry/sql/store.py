"""The registry store on SQLAlchemy: models and versions (aliases: alias_ops.py; sessions: session.py)."""

from __future__ import annotations

import base64
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Select, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from modelyard.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from modelyard.registry.entities import (
    ModelVersion,
    NewVersion,
    Page,
    RegisteredModel,
    VersionFilter,
)
from modelyard.registry.sql.alias_ops import AliasOps
from modelyard.registry.sql.convert import model_entity, version_entity
from modelyard.registry.sql.job_ops import JobOps
from modelyard.registry.sql.models import (
    AliasRow,
    ModelVersionRow,
    RegisteredModelRow,
    VersionTagRow,
    utcnow,
)
from modelyard.registry.sql.policy_ops import PolicyOps
from modelyard.registry.sql.server_ops import ServerOps
from modelyard.registry.sql.validation_ops import ValidationOps
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


class SqlAlchemyStore(AliasOps, ServerOps, ValidationOps, PolicyOps, JobOps, RegistryStore):
    """Registered models and their versions; aliases come from AliasOps, discovery from ServerOps, validations
    from ValidationOps, model policies from PolicyOps, batch jobs from JobOps, sessions from SessionStore."""

    def _insert_model_if_missing(self, session: Session, name: str, description: str = "") -> None:
        """A model's first version lends it its description (`models update` changes it later)."""
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        now = utcnow()
        stmt = insert(RegisteredModelRow).values(
            name=name, description=description, tags={}, latest_version=0, created_at=now, updated_at=now
        )
        session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))

    def create_model_version(self, new: NewVersion) -> ModelVersion:
        with self._session(write=True) as s:
            self._insert_model_if_missing(s, new.name, new.description)
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
        self,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        remove_tags: Collection[str] = (),
    ) -> RegisteredModel:
        with self._session(write=True) as s:
            row = self._model_row(s, name)
            if description is not None:
                row.description = description
            if tags or remove_tags:
                row.tags = {k: v for k, v in {**row.tags, **(tags or {})}.items() if k not in remove_tags}
            row.updated_at = utcnow()
            s.flush()
            return model_entity(row, self._aliases_of(s, name))

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

    def artifacts_in_use(self) -> set[str]:
        with self._session() as s:
            return set(s.scalars(select(ModelVersionRow.sha256).distinct()))
