"""Rows to frozen entities, done inside the session that loaded them."""

from __future__ import annotations

from datetime import UTC, datetime

from modelyard.registry.entities import AliasEvent, ModelVersion, RegisteredModel
from modelyard.registry.sql.models import AliasEventRow, ModelVersionRow, RegisteredModelRow


def aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes for values that were stored in UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def model_entity(row: RegisteredModelRow, aliases: dict[str, int]) -> RegisteredModel:
    return RegisteredModel(
        name=row.name,
        description=row.description,
        tags=dict(row.tags),
        latest_version=row.latest_version,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        aliases=aliases,
    )


def version_entity(row: ModelVersionRow, aliases: tuple[str, ...] = ()) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        format=row.format,
        artifact_uri=row.artifact_uri,
        sha256=row.sha256,
        size=row.size,
        signature=row.signature,
        manifest=row.manifest,
        description=row.description,
        author=row.author,
        metrics=dict(row.metrics),
        params=dict(row.params),
        tags={t.key: t.value for t in row.tags},
        source=dict(row.source),
        status=row.status,
        created_at=aware(row.created_at),
        perf_card=row.perf_card,
        aliases=aliases,
    )


def event_entity(row: AliasEventRow) -> AliasEvent:
    return AliasEvent(
        id=row.id,
        name=row.name,
        alias=row.alias,
        kind=row.kind,  # type: ignore[arg-type]
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        reason=row.reason,
        at=aware(row.at),
        evidence=dict(row.evidence),
    )
