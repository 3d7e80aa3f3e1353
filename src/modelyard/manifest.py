"""`modelyard.yaml`: what a model package is, validated on every read and write."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelyard.errors import InvalidPackage
from modelyard.signature import Signature

MANIFEST_FILE = "modelyard.yaml"
EXAMPLE_FILE = "example.npz"

Format = Literal["onnx", "sklearn", "torchscript", "python"]
# Formats whose loading runs arbitrary code from the artifact (pickle, user classes).
CODE_EXECUTING_FORMATS: frozenset[str] = frozenset({"sklearn", "python"})


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Batching(_Strict):
    max_queue_delay_us: int = Field(default=1000, ge=0)
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int = Field(default=1024, ge=1)


class Instances(_Strict):
    count: int = Field(default=1, ge=1, le=256)
    kind: Literal["thread", "process"] = "thread"
    device: str = "cpu"


class RuntimeOptions(_Strict):
    intra_op_threads: int = Field(default=0, ge=0, description="0: the runtime's default")
    inter_op_threads: int = Field(default=0, ge=0)
    intra_op_spinning: bool = Field(
        default=False,
        description="ONNX Runtime's pool threads spin between runs instead of sleeping. Off: a spinning thread "
        "burns a core even while the server is idle, which the HTTP loop and the clients on the machine need.",
    )
    memory_pattern: bool = Field(
        default=False,
        description="ONNX Runtime plans one block for all intermediate tensors of each input shape it sees and "
        "keeps it beside the arena's own chunks. Off: a batching server sees many shapes, and the plan held 10 MiB "
        "more than the largest batch needs (W2, 32 images) for no measurable speed.",
    )
    providers: tuple[str, ...] = ()


class Manifest(_Strict):
    name: str
    format: Format
    artifact: str = Field(description="Path of the artifact inside the package (a file, or code/ for python).")
    signature: Signature
    max_batch_size: int = Field(default=0, ge=0, description="0: the model takes no batch dimension")
    batching: Batching = Field(default_factory=Batching)
    instances: Instances = Field(default_factory=Instances)
    runtime: RuntimeOptions = Field(default_factory=RuntimeOptions)
    trusted_only: bool = False
    python_class: str | None = Field(default=None, description="module:Class of a python-format model")
    example: str | None = Field(default=None, description="An .npz input example inside the package")

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.format in CODE_EXECUTING_FORMATS and not self.trusted_only:
            raise ValueError(f"trusted_only: a {self.format} package runs code when loaded and must say trusted_only")
        if self.format == "python" and not self.python_class:
            raise ValueError("python_class: a python package names its class as module:Class")
        if self.max_batch_size > 0:
            for side, specs in (("inputs", self.signature.inputs), ("outputs", self.signature.outputs)):
                for i, spec in enumerate(specs):
                    if not spec.shape or spec.shape[0] != -1:
                        raise ValueError(
                            f"signature.{side}[{i}].shape: with max_batch_size > 0 the first dimension of "
                            f"{spec.name!r} is the batch axis and must be -1, got {list(spec.shape)}"
                        )
        for size in self.batching.preferred_batch_sizes:
            if size < 1 or (self.max_batch_size and size > self.max_batch_size):
                raise ValueError(f"batching.preferred_batch_sizes: {size} is outside 1..max_batch_size")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def _field_errors(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_manifest(data: Any, origin: str = MANIFEST_FILE) -> Manifest:
    if not isinstance(data, dict):
        raise InvalidPackage(f"{origin}: expected a mapping at the top level")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise InvalidPackage(f"{origin}: {_field_errors(exc)}") from None


def read_manifest(package_dir: Path) -> Manifest:
    path = package_dir / MANIFEST_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InvalidPackage(f"{package_dir}: not a model package (no {MANIFEST_FILE})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidPackage(f"{path}: not valid YAML: {exc}") from None
    return parse_manifest(data, str(path))


def write_manifest(package_dir: Path, manifest: Manifest) -> Path:
    path = package_dir / MANIFEST_FILE
    path.write_text(yaml.safe_dump(manifest.to_dict(), sort_keys=False))
    return path
