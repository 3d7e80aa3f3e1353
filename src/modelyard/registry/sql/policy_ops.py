"""Model policies and reference profiles: a new row per change, the newest in force."""

from __future__ import annotations

from sqlalchemy import select

from modelyard.registry.entities import ModelPolicy, ReferenceProfile
from modelyard.registry.sql.convert import aware
from modelyard.registry.sql.models import PolicyRow, ReferenceRow
from modelyard.registry.sql.session import SessionStore


def _entity(row: PolicyRow) -> ModelPolicy:
    return ModelPolicy(id=row.id, name=row.name, kind=row.kind, fields=dict(row.fields), actor=row.actor,
                       at=aware(row.at))  # fmt: skip


class PolicyOps(SessionStore):
    def set_policy(self, policy: ModelPolicy) -> ModelPolicy:
        with self._session(write=True) as s:
            self._model_row(s, policy.name)  # NotFound for a model nobody registered
            row = PolicyRow(name=policy.name, kind=policy.kind, fields=dict(policy.fields), actor=policy.actor)
            s.add(row)
            s.flush()
            return _entity(row)

    def policy_history(self, name: str, kind: str) -> list[ModelPolicy]:
        with self._session() as s:
            self._model_row(s, name)
            query = select(PolicyRow).where(PolicyRow.name == name, PolicyRow.kind == kind).order_by(PolicyRow.id)
            return [_entity(r) for r in s.scalars(query)]

    def set_reference(self, reference: ReferenceProfile) -> ReferenceProfile:
        with self._session(write=True) as s:
            self._version_row(s, reference.name, reference.version)  # NotFound for a version nobody registered
            row = ReferenceRow(name=reference.name, version=reference.version, profile=dict(reference.profile),
                               source=reference.source, actor=reference.actor)  # fmt: skip
            s.add(row)
            s.flush()
            return _reference(row)

    def latest_reference(self, name: str, version: int) -> ReferenceProfile | None:
        with self._session() as s:
            query = (
                select(ReferenceRow)
                .where(ReferenceRow.name == name, ReferenceRow.version == version)
                .order_by(ReferenceRow.id.desc())
                .limit(1)
            )
            row = s.scalar(query)
            return _reference(row) if row is not None else None


def _reference(row: ReferenceRow) -> ReferenceProfile:
    return ReferenceProfile(id=row.id, name=row.name, version=row.version, profile=dict(row.profile),
                            source=row.source, actor=row.actor, at=aware(row.at))  # fmt: skip
