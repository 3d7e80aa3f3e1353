"""What leaves the registry: frozen values, never ORM rows, so no caller can lazy-load or mutate store state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")

AliasEventKind = Literal["set", "delete", "rollback"]


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    description: str
    tags: Mapping[str, str]
    latest_version: int
    created_at: datetime
    updated_at: datetime
    aliases: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewVersion:
    """Everything the caller supplies for a version; the store adds the number, status and time."""

    name: str
    format: str
    artifact_uri: str
    sha256: str
    size: int
    signature: Mapping[str, Any]
    manifest: Mapping[str, Any]
    description: str = ""
    author: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    source: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    format: str
    artifact_uri: str
    sha256: str
    size: int
    signature: Mapping[str, Any]
    manifest: Mapping[str, Any]
    description: str
    author: str
    metrics: Mapping[str, float]
    params: Mapping[str, str]
    tags: Mapping[str, str]
    source: Mapping[str, str]
    status: str
    created_at: datetime
    perf_card: Mapping[str, Any] | None = None
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True, slots=True)
class AliasEvent:
    id: int
    name: str
    alias: str
    kind: AliasEventKind
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    at: datetime
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Validation:
    """A candidate compared with a baseline on the same requests: what was compared (versions and digests, the
    data's digest and size), under which policy, every check, and the verdict."""

    id: int
    name: str
    baseline_version: int
    candidate_version: int
    baseline_sha256: str
    candidate_sha256: str
    data_sha256: str
    requests: int
    source: str
    policy: Mapping[str, Any]
    checks: tuple[Mapping[str, Any], ...]
    verdict: str  # pass | fail | inconclusive
    actor: str
    at: datetime

    @property
    def failing(self) -> list[str]:
        return [str(c.get("line", c.get("name"))) for c in self.checks if c.get("passed") is not True]


@dataclass(frozen=True, slots=True)
class ModelPolicy:
    """The bounds a model is judged by, kept with the model: `kind` says who reads them (`gate`: validate,
    promote and the gate). Each change is a new row; the newest is in force."""

    id: int
    name: str
    kind: str
    fields: Mapping[str, Any]
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReferenceProfile:
    """What a version's features looked like on its reference data (`modelyard.drift.profile`), which drift is
    measured against. Each `reference set` is a new row; the newest is in force."""

    id: int
    name: str
    version: int
    profile: Mapping[str, Any]
    source: str  # where the data came from, in words
    actor: str
    at: datetime

    @property
    def rows(self) -> int:
        return int(self.profile.get("rows", 0))


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A batch job: the version that scored which inputs (path, digest, bytes, rows) into which output folder.
    `id` is the job's digest (the version's package, the inputs' digests, the options): the same job run again
    is the same row."""

    id: str
    name: str
    version: str  # a registry version number, or the version a model file or package was served as
    ref: str
    inputs: tuple[Mapping[str, Any], ...]
    output: str
    status: str  # running | done | failed | interrupted (Ctrl-C); running after a kill (`jobs` says so)
    rows: int  # rows read
    scored: int  # rows with predictions in the output
    errors: int  # rows in the output's errors/
    engine: str  # local | ray
    detail: Mapping[str, Any]  # options, host and pid, why it failed
    actor: str
    started: datetime
    finished: datetime | None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert the monitor raised: what it said (`payload`, as POSTed), and whether its webhook took it."""

    id: int
    name: str
    version: int | None
    kind: str  # drift
    payload: Mapping[str, Any]
    delivered: bool
    status: str  # the webhook's answer, or why there was none
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class VersionFilter:
    """Conditions a version must meet to be listed; all given conditions must hold."""

    name: str | None = None
    name_contains: str | None = None
    author: str | None = None
    format: str | None = None
    alias: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str | None = None


@dataclass(frozen=True, slots=True)
class ServedVersion:
    name: str
    version: int | str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """A serving process as it announced itself: where to reach it, what it serves, when it last said so."""

    id: str
    http_url: str
    grpc_url: str
    host: str
    pid: int
    models: tuple[ServedVersion, ...]
    ready: bool
    started_at: datetime
    heartbeat_at: datetime

    def serves(self, name: str) -> bool:
        return any(m.name == name for m in self.models)
