"""What a server process serves, written by `modelyard serve` and read by each worker process.

The parent resolves registry references and packages model files before any worker starts, so workers need
neither the registry's database libraries nor write access: they read this spec and load package folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from modelyard.server.model import ModelSource


class SourceSpec(BaseModel):
    name: str
    version: str
    package_dir: str
    aliases: tuple[str, ...] = ()
    overrides: dict[str, Any] = Field(default_factory=dict)

    def source(self) -> ModelSource:
        return ModelSource(self.name, self.version, self.package_dir, self.aliases, self.overrides)


class ServeSpec(BaseModel):
    models: list[SourceSpec]
    workers: int = 1
    host: str = "127.0.0.1"
    grpc_port: int = 0  # 0: no gRPC
    max_body_bytes: int = 64 << 20
    drain_timeout_s: float = 30.0
    overrides: dict[str, Any] = Field(default_factory=dict)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2))
        return path

    @classmethod
    def read(cls, path: Path) -> ServeSpec:
        return cls.model_validate_json(path.read_text())
