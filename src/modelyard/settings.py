"""Settings: the only place that reads the environment.

Every value comes from `MODELYARD_*` variables (nested concerns use a double underscore, for example
`MODELYARD_REGISTRY__DATABASE_URL`), is read when `Settings()` is built, and is then passed down. Nothing reads the
environment at import time, so tests build their own `Settings(home=tmp_path)` and never leak into each other.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RegistrySettings(BaseModel):
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the registry database; default: SQLite file under MODELYARD_HOME.",
    )
    busy_timeout_s: float = Field(default=30.0, gt=0, description="How long a writer waits for SQLite's lock.")


class ArtifactSettings(BaseModel):
    url: str | None = Field(
        default=None,
        description="fsspec URL of the artifact store (file path, s3://bucket/prefix, hdfs://...); "
        "default: the artifacts/ folder under MODELYARD_HOME.",
    )


class ServerSettings(BaseModel):
    host: str = Field(default="127.0.0.1", description="Bind address; 127.0.0.1 unless told otherwise.")
    http_port: int = Field(default=8000, ge=0, le=65535)
    grpc_port: int = Field(default=8001, ge=0, le=65535, description="0 turns gRPC off.")
    workers: int = Field(default=1, ge=1, le=64, description="HTTP worker processes, each with its own instances.")
    max_body_mb: float = Field(default=64, gt=0)
    drain_timeout_s: float = Field(default=30, ge=0)
    worker_timeout_s: float = Field(
        default=30, gt=0, description="With several workers: one whose event loop is stuck this long is replaced."
    )
    follow_interval_s: float = Field(default=2.0, gt=0, description="How often `serve --follow` reads the registry.")
    max_header_kb: float = Field(default=64, gt=0, description="A request's line and headers; 431 past it.")
    header_timeout_s: float = Field(
        default=10, gt=0, description="For a request's head to arrive (from the connection or the last response)."
    )
    keep_alive_s: float = Field(default=5, gt=0, description="An idle kept-alive connection closes after this.")
    max_connections: int = Field(default=1000, ge=1, description="Per worker; past it a request is answered 503.")
    control_token: SecretStr | None = Field(
        default=None, description="When set, the repository API's load and unload need `Authorization: Bearer` it."
    )
    allow_open_control: bool = Field(
        default=False, description="Serve beyond loopback with the repository API open to anyone (no control token)."
    )
    allow_trusted_loads: bool = Field(
        default=False,
        description="Let the repository API load models whose loading runs code (pickles, Python classes).",
    )
    access_log: bool = Field(default=False, description="A line per HTTP request in the server's log.")
    tls_cert: Path | None = Field(default=None, description="HTTPS and gRPC over TLS with this certificate (PEM).")
    tls_key: Path | None = Field(default=None, description="The private key of `tls_cert` (PEM).")
    tls_ca: Path | None = Field(
        default=None, description="Ask every client for a certificate signed by these CAs (mutual TLS)."
    )


class TrafficSettings(BaseModel):
    url: str | None = Field(
        default=None, description="Where the traffic log goes (any fsspec URL); default HOME/traffic."
    )
    buffer_mb: float = Field(default=64, gt=0, description="Records waiting to be written; past it they are dropped.")
    file_mb: float = Field(default=32, gt=0, description="A log file is closed (and readable) at this size...")
    file_s: float = Field(default=60, gt=0, description="...or this long after it was opened.")


class DiscoverySettings(BaseModel):
    heartbeat_s: float = Field(default=5.0, gt=0, description="How often a server refreshes its registry entry.")
    stale_after_s: float = Field(default=30.0, gt=0, description="Entries older than this are ignored.")


class UiSettings(BaseModel):
    host: str = Field(default="127.0.0.1", description="Where `modelyard ui` listens; 127.0.0.1 unless told otherwise.")
    port: int = Field(default=8080, ge=0, le=65535)
    token: SecretStr | None = Field(
        default=None, description="Lets a signed-in person promote and roll back from the page; unset: read-only."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MODELYARD_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    home: Path = Field(default=Path("~/.modelyard"), description="Where the embedded database and artifacts live.")
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    traffic: TrafficSettings = Field(default_factory=TrafficSettings)
    ui: UiSettings = Field(default_factory=UiSettings)

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser()

    @property
    def database_url(self) -> str:
        if self.registry.database_url:
            return self.registry.database_url
        return f"sqlite:///{self.home_dir / 'registry.db'}"

    @property
    def artifact_url(self) -> str:
        return self.artifacts.url or str(self.home_dir / "artifacts")

    @property
    def traffic_url(self) -> str:
        return self.traffic.url or str(self.home_dir / "traffic")
