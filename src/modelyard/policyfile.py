"""A policy file: YAML of the fields to change, read into a frozen pydantic model, an unknown field refused by name
in one line (the gate's policy and the monitor's both)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from modelyard.errors import InvalidArgument

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path, flag: str = "--policy") -> object:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"{flag} {path}: cannot read it: {exc}") from None


def parse_model(cls: type[M], fields: object, where: str) -> M:
    if not isinstance(fields, dict):
        raise InvalidArgument(f"{where}: expected a mapping of fields to values")
    try:
        return cls(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidArgument(f"{where}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
