"""Validations: recorded once, read by model or by the pair of versions they compared."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import or_, select

from modelyard.errors import NotFound
from modelyard.registry.entities import Validation
from modelyard.registry.sql.convert import aware
from modelyard.registry.sql.models import ValidationRow
from modelyard.registry.sql.session import SessionStore


def _entity(row: ValidationRow) -> Validation:
    return Validation(
        id=row.id, name=row.name, baseline_version=row.baseline_version, candidate_version=row.candidate_version,
        baseline_sha256=row.baseline_sha256, candidate_sha256=row.candidate_sha256, data_sha256=row.data_sha256,
        requests=row.requests, source=row.source, policy=dict(row.policy), checks=tuple(row.checks),
        verdict=row.verdict, actor=row.actor, at=aware(row.at),
    )  # fmt: skip


class ValidationOps(SessionStore):
    def record_validation(self, validation: Validation) -> Validation:
        """Store it; the id and time given are replaced by the store's."""
        fields = {k: v for k, v in asdict(validation).items() if k not in ("id", "at")}
        with self._session(write=True) as s:
            self._model_row(s, validation.name)  # NotFound for a model nobody registered
            row = ValidationRow(**{**fields, "policy": dict(validation.policy), "checks": list(validation.checks)})
            s.add(row)
            s.flush()
            return _entity(row)

    def list_validations(
        self, name: str, limit: int = 50, version: int | None = None, before: int | None = None
    ) -> list[Validation]:
        with self._session() as s:
            self._model_row(s, name)
            query = select(ValidationRow).where(ValidationRow.name == name).order_by(ValidationRow.id.desc())
            if version is not None:
                query = query.where(
                    or_(ValidationRow.candidate_version == version, ValidationRow.baseline_version == version)
                )
            if before is not None:
                query = query.where(ValidationRow.id < before)
            return [_entity(r) for r in s.scalars(query.limit(limit))]

    def get_validation(self, validation_id: int) -> Validation:
        with self._session() as s:
            row = s.get(ValidationRow, validation_id)
            if row is None:
                raise NotFound(f"no validation #{validation_id}")
            return _entity(row)

    def latest_validation(self, name: str, candidate: int, baseline: int) -> Validation | None:
        with self._session() as s:
            query = (
                select(ValidationRow)
                .where(
                    ValidationRow.name == name,
                    ValidationRow.candidate_version == candidate,
                    ValidationRow.baseline_version == baseline,
                )
                .order_by(ValidationRow.id.desc())
                .limit(1)
            )
            row = s.scalar(query)
            return _entity(row) if row is not None else None
