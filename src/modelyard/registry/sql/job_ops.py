"""Batch jobs: one row per job digest, written when it starts and again when it stops."""

from __future__ import annotations

from sqlalchemy import select

from modelyard.errors import NotFound
from modelyard.registry.entities import BatchJob
from modelyard.registry.sql.convert import aware
from modelyard.registry.sql.models import JobRow
from modelyard.registry.sql.session import SessionStore

_FIELDS = ("name", "version", "ref", "output", "status", "rows", "scored", "errors", "engine", "actor", "started",
           "finished")  # fmt: skip


class JobOps(SessionStore):
    def save_job(self, job: BatchJob) -> BatchJob:
        with self._session(write=True) as s:
            row = s.get(JobRow, job.id)
            if row is None:
                row = JobRow(id=job.id)
                s.add(row)
            for name in _FIELDS:
                setattr(row, name, getattr(job, name))
            row.inputs = [dict(i) for i in job.inputs]
            row.detail = dict(job.detail)
            s.flush()
            return _job(row)

    def get_job(self, job_id: str) -> BatchJob:
        with self._session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise NotFound(f"no batch job {job_id!r}")
            return _job(row)

    def list_jobs(self, name: str | None = None, limit: int = 50, version: str | None = None) -> list[BatchJob]:
        with self._session() as s:
            query = select(JobRow).order_by(JobRow.started.desc()).limit(limit)
            if name is not None:
                query = query.where(JobRow.name == name)
            if version is not None:
                query = query.where(JobRow.version == version)
            return [_job(r) for r in s.scalars(query)]


def _job(row: JobRow) -> BatchJob:
    return BatchJob(id=row.id, name=row.name, version=row.version, ref=row.ref,
                    inputs=tuple(dict(i) for i in row.inputs), output=row.output, status=row.status, rows=row.rows,
                    scored=row.scored, errors=row.errors, engine=row.engine, detail=dict(row.detail),
                    actor=row.actor, started=aware(row.started),
                    finished=aware(row.finished) if row.finished is not None else None)  # fmt: skip
