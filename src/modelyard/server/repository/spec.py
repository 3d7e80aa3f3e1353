"""What a server process serves, written by `modelyard serve` and read by each worker process.

The parent resolves registry references and packages model files before any worker starts, so workers need
neither the registry's database libraries nor write access: they read this spec and load package folders.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from modelyard.server.models.source import ModelSource

if TYPE_CHECKING:
    from modelyard.traffic import TrafficLog


class SourceSpec(BaseModel):
    name: str
    version: str
    package_dir: str
    aliases: tuple[str, ...] = ()
    overrides: dict[str, Any] = Field(default_factory=dict)
    loaded: bool = True  # False: unloaded through the repository API, kept so that a load brings it back
    followed: bool = False  # chosen by a registry rule: with --follow the follower replaces it as the registry moves
    background: bool = False  # a shadow's candidate: its batches gather, its threads yield (server/shadow/child.py)
    reference: dict[str, Any] | None = None  # the registry's reference profile of this version (drift)

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)

    def source(self, drift: bool = True, input_checks: str = "warn") -> ModelSource:
        """`drift` False: the reference is not tallied against (`serve --no-drift`); `input_checks`: what its
        ranges and domains do to a request that breaks them (`serve --input-checks`)."""
        return ModelSource(self.name, self.version, self.package_dir, self.aliases, self.overrides, self.background,
                           self.reference, input_checks, drift)  # fmt: skip


class FollowRule(BaseModel):
    """Registry versions to serve: those with `alias` (of `name`, or of every model when `name` is None), or else
    the versions of `name` chosen by the version policy `versions` (`latest:N`, `all`, `1,3`)."""

    name: str | None = None
    alias: str | None = None
    versions: str = "latest:1"


class RegistryLink(BaseModel):
    """How the follower (and a worker asked to load a registry reference) reaches the registry."""

    database_url: str
    artifact_url: str
    cache_dir: str
    busy_timeout_s: float = 30.0


class TrafficLink(BaseModel):
    """What the workers record of their traffic, and where (modelyard.traffic)."""

    url: str
    sample: float  # the share of requests kept, 0 to 1
    key: str = ""  # a request parameter: its value's hash decides, so one user's requests stay together
    buffer_bytes: int = 64 << 20
    file_bytes: int = 32 << 20
    file_s: float = 60.0

    def open(self, worker: str, sampled: bool = True) -> TrafficLog:
        """A log of this process's own files (`worker` names them). `sampled` False: it keeps only what it is
        given (a shadow's process), not a share of every request."""
        from modelyard.traffic import Sampler, TrafficLog
        from modelyard.traffic.log import Rotation

        sampler = Sampler(self.sample, self.key or None) if sampled else Sampler(0.0)
        return TrafficLog(self.url, sampler, self.buffer_bytes, Rotation(self.file_bytes, self.file_s), worker)


class ScalingSpec(BaseModel):
    """`serve --workers MIN..MAX`: the workers the supervisor runs, on in-flight requests over what one carries."""

    min_workers: int = Field(ge=1)
    max_workers: int = Field(ge=1)
    capacity: float = Field(gt=0)  # in-flight requests a worker carries at the latency budget (the card's)
    target_ratio: float = Field(default=0.7, gt=0, le=1)
    stable_window_s: float = Field(default=60.0, gt=0)
    downscale_delay_s: float = Field(default=30.0, ge=0)


class ExperimentSpec(BaseModel):
    """A candidate served beside the baseline's alias: shadowed, or answering a share (server/experiments.py)."""

    name: str
    alias: str  # the baseline's
    candidate: str  # the candidate's version
    mode: str  # shadow | canary
    rate: float
    key: str = ""
    source: SourceSpec | None = None  # a shadow's candidate, loaded by its own process (server/shadow/)


class ServeSpec(BaseModel):
    models: list[SourceSpec]
    registry: RegistryLink | None = None
    follow: list[FollowRule] = Field(default_factory=list)  # re-evaluated every follow_interval_s when non-empty
    follow_interval_s: float = 2.0
    announce: bool = False  # record this server in the registry for discovery (needs `registry`)
    heartbeat_s: float = 5.0
    server_id: str = ""
    http_port: int = 0
    workers: int = 1
    host: str = "127.0.0.1"
    grpc_port: int = 0  # 0: no gRPC
    max_body_bytes: int = 64 << 20
    drain_timeout_s: float = 30.0
    idle_unload_s: float | None = None  # unload a version idle this long; the next request loads it (scale to zero)
    scaling: ScalingSpec | None = None  # serve --workers MIN..MAX
    worker_timeout_s: float = 30.0
    overrides: dict[str, Any] = Field(default_factory=dict)
    max_head_bytes: int = 64 << 10  # a request's line and headers (431 past it)
    head_timeout_s: float = 10.0  # for a request's head to arrive, from the connection or the last response (408)
    keep_alive_s: float = 5.0  # an idle kept-alive connection closes after this
    max_connections: int = 1000  # per worker: past it a request is answered 503
    control_token: str = ""  # the repository API's load and unload need it when set (repository/access.py)
    allow_trusted_loads: bool = False  # may the repository API load models whose loading runs code?
    tls_cert: str = ""  # HTTPS and gRPC over TLS when set, with tls_key (absolute paths, PEM)
    tls_key: str = ""
    tls_ca: str = ""  # clients must show a certificate these CAs signed
    access_log: bool = False  # a line per request in the server's log
    traffic: TrafficLink | None = None  # the traffic log, when --log-sample is above 0 (or a shadow logs pairs)
    experiments: list[ExperimentSpec] = Field(default_factory=list)
    drift: bool = True  # tally each version's traffic against its reference profile, where it has one
    input_checks: str = "warn"  # off | warn | reject, against each version's reference (server/models/limits.py)

    @property
    def http_scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, self.model_dump_json(indent=2))
        return path

    @classmethod
    def read(cls, path: Path) -> ServeSpec:
        return cls.model_validate_json(path.read_text())


def _write_private(path: Path, text: str) -> None:
    """Readable by the server's user alone: the spec holds the control token and the registry's database URL."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class SpecFile:
    """The spec on disk: the one source of truth for what a server's processes serve. Changes (the follower
    following the registry, a repository load on any worker) rewrite it under a lock and by rename; every worker
    watches it and reconciles, so all workers converge on the same models."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> ServeSpec:
        return ServeSpec.read(self.path)

    def stamp(self) -> tuple[int, int, int]:
        """Changes with every update: each one is a new file (rename), so its inode changes even within one tick
        of a coarse modification clock."""
        st = self.path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def update(self, change: Callable[[ServeSpec], ServeSpec]) -> tuple[ServeSpec, tuple[int, int, int]]:
        """The changed spec, and the file's stamp as this update left it (taken under the lock, so a writer that
        comes next is not mistaken for this one)."""
        with self.path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.read()
            spec = change(current)
            if spec != current:  # else nothing to tell the workers: a rewrite would make each of them reconcile
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                _write_private(tmp, spec.model_dump_json(indent=2))
                os.replace(tmp, self.path)
            return spec, self.stamp()
