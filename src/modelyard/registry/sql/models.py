"""ORM rows. They never leave the store: `store.py` turns them into frozen entities inside the session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class RegisteredModelRow(Base):
    __tablename__ = "registered_models"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The version counter: incremented under the row's write lock, so concurrent registrations get
    # distinct, consecutive numbers, and a rolled-back registration gives its number back.
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_versions_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), ForeignKey("registered_models.name", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(32), index=True)
    artifact_uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[dict[str, Any]] = mapped_column(JSON)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(256), default="", index=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(32), default="READY")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    perf_card: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    tags: Mapped[list[VersionTagRow]] = relationship(
        back_populates="version_row", cascade="all, delete-orphan", lazy="selectin"
    )


class VersionTagRow(Base):
    """Version tags live in their own table so `--tag k=v` filters use an index on every database."""

    __tablename__ = "model_version_tags"
    __table_args__ = (Index("ix_model_version_tags_key_value", "key", "value"),)

    version_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[str] = mapped_column(String(1024))

    version_row: Mapped[ModelVersionRow] = relationship(back_populates="tags")


class AliasRow(Base):
    __tablename__ = "aliases"
    # The composite foreign key makes it impossible for an alias to point at a version that does not exist.
    __table_args__ = (
        ForeignKeyConstraint(
            ["name", "version"], ["model_versions.name", "model_versions.version"], name="fk_aliases_version"
        ),
    )

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class AliasEventRow(Base):
    """Append-only: never updated or deleted, and kept after the versions it names are gone."""

    __tablename__ = "alias_events"
    __table_args__ = (Index("ix_alias_events_name_alias", "name", "alias", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    alias: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(256), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ServerRow(Base):
    """A serving process's announcement, refreshed by its heartbeat; readers skip entries older than a timeout."""

    __tablename__ = "servers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    http_url: Mapped[str] = mapped_column(Text, default="")
    grpc_url: Mapped[str] = mapped_column(Text, default="")
    host: Mapped[str] = mapped_column(String(256), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    models: Mapped[list[Any]] = mapped_column(JSON, default=list)
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ValidationRow(Base):
    """Append-only, as the alias events that cite it: a verdict is evidence, never rewritten."""

    __tablename__ = "validations"
    __table_args__ = (Index("ix_validations_name_pair", "name", "candidate_version", "baseline_version", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    baseline_version: Mapped[int] = mapped_column(Integer)
    candidate_version: Mapped[int] = mapped_column(Integer)
    baseline_sha256: Mapped[str] = mapped_column(String(64))
    candidate_sha256: Mapped[str] = mapped_column(String(64))
    data_sha256: Mapped[str] = mapped_column(String(64))
    requests: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    checks: Mapped[list[Any]] = mapped_column(JSON)
    verdict: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PolicyRow(Base):
    """Append-only: the newest row per (name, kind) is in force, the older ones say what it was and who changed it."""

    __tablename__ = "model_policies"
    __table_args__ = (Index("ix_model_policies_name_kind", "name", "kind", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReferenceRow(Base):
    """Append-only: the newest row per version is the reference in force."""

    __tablename__ = "reference_profiles"
    __table_args__ = (Index("ix_reference_profiles_version", "name", "version", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AlertRow(Base):
    """Append-only: what the monitor raised, and whether the webhook took it."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_name", "name", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    delivered: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobRow(Base):
    """One per batch job, keyed by the job's digest: a job run again (resumed) updates its row."""

    __tablename__ = "batch_jobs"
    __table_args__ = (Index("ix_batch_jobs_name", "name", "started"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str] = mapped_column(Text)
    inputs: Mapped[list[Any]] = mapped_column(JSON)
    output: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(BigInteger)
    scored: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(BigInteger)
    engine: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(256))
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
