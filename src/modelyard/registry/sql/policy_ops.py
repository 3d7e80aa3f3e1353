"""Model policies, reference profiles and the monitor's alerts: append-only rows, the newest in force."""

from __future__ import annotations

from sqlalchemy import select

from modelyard.registry.entities import AlertRecord, ModelPolicy, ReferenceProfile
from modelyard.registry.sql.convert import aware
from modelyard.registry.sql.models import AlertRow, PolicyRow, ReferenceRow
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

    def record_alert(self, alert: AlertRecord) -> AlertRecord:
        with self._session(write=True) as s:
            self._model_row(s, alert.name)
            row = AlertRow(name=alert.name, version=alert.version, kind=alert.kind, payload=dict(alert.payload),
                           delivered=alert.delivered, status=alert.status, actor=alert.actor)  # fmt: skip
            s.add(row)
            s.flush()
            return _alert(row)

    def list_alerts(self, name: str, limit: int = 50) -> list[AlertRecord]:
        with self._session() as s:
            self._model_row(s, name)
            query = select(AlertRow).where(AlertRow.name == name).order_by(AlertRow.id.desc()).limit(limit)
            return [_alert(r) for r in s.scalars(query)]

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


def _alert(row: AlertRow) -> AlertRecord:
    return AlertRecord(id=row.id, name=row.name, version=row.version, kind=row.kind, payload=dict(row.payload),
                       delivered=row.delivered, status=row.status, actor=row.actor, at=aware(row.at))  # fmt: skip
