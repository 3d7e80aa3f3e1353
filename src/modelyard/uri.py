"""Model references: `models:/name/3`, `models:/name@production`, `models:/name` (latest), or the same without the
`models:/` scheme (`name/3`, `name@production`, `name`). Pure parsing, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelyard.errors import InvalidArgument

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}"
NAME_RE = re.compile(rf"^{_NAME}$")
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
MAX_VERSION = 2**31 - 1  # the registry stores versions as 32-bit integers (PostgreSQL's INTEGER)
_REF_RE = re.compile(rf"^(?:models:/)?(?P<name>{_NAME})(?:/(?P<version>[0-9]+)|@(?P<alias>[^/@]+))?/?$")


@dataclass(frozen=True, slots=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InvalidArgument(
            f"name: {name!r} is not a valid model name (letters, digits, '_', '-', '.', starting with a letter "
            "or digit, at most 128 characters)"
        )
    return name


def check_alias(alias: str) -> str:
    if not ALIAS_RE.match(alias) or alias == "latest":
        raise InvalidArgument(
            f"alias: {alias!r} is not a valid alias (a letter, then letters, digits, '_' or '-'; 'latest' is reserved)"
        )
    return alias


def parse_ref(text: str) -> ModelRef:
    match = _REF_RE.match(text.strip())
    if not match:
        raise InvalidArgument(
            f"model reference {text!r} is not of the form models:/NAME, models:/NAME/VERSION or models:/NAME@ALIAS"
        )
    version = match["version"]
    alias = match["alias"]
    if alias == "latest":
        alias = None
    elif alias is not None:
        check_alias(alias)
    if version is not None and int(version) > MAX_VERSION:
        raise InvalidArgument(f"version: {version} is over the largest version number, {MAX_VERSION}")
    return ModelRef(name=match["name"], version=int(version) if version else None, alias=alias)
