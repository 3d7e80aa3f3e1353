"""Which versions of a model to serve: the newest N, all, or named ones (Triton's `version_policy`). Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from modelyard.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class VersionPolicy:
    kind: Literal["latest", "all", "specific"] = "latest"
    count: int = 1
    versions: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        """`latest`, `latest:N`, `all`, or a list of versions `1,3`."""
        text = text.strip()
        kind, _, arg = text.partition(":")
        try:
            if kind == "all" and not arg:
                return cls("all")
            if kind == "latest":
                count = int(arg) if arg else 1
                if count < 1:
                    raise ValueError
                return cls("latest", count)
            return cls("specific", versions=tuple(sorted({int(v) for v in text.split(",")})))
        except ValueError:
            raise InvalidArgument(
                f"--versions {text!r}: expected latest, latest:N (N >= 1), all, or versions such as 1,3"
            ) from None

    def select(self, available: Iterable[int]) -> list[int]:
        have = sorted(set(available))
        if self.kind == "all":
            return have
        if self.kind == "latest":
            return have[-self.count :]
        return [v for v in have if v in self.versions]

    def __str__(self) -> str:
        if self.kind == "specific":
            return ",".join(map(str, self.versions))
        return "all" if self.kind == "all" else f"latest:{self.count}"

    @classmethod
    def from_triton(cls, config: dict[str, list[Any]]) -> VersionPolicy:
        """`version_policy: { latest { num_versions: 2 } }`, `{ all {} }` or `{ specific { versions: [1, 3] } }`;
        Triton's default is the newest version only."""
        (policy,) = config.get("version_policy") or [{}]
        if "all" in policy:
            return cls("all")
        if "specific" in policy:
            (specific,) = policy["specific"]
            return cls("specific", versions=tuple(sorted(int(v) for v in specific.get("versions", []))))
        if "latest" in policy:
            (latest,) = policy["latest"]
            return cls("latest", int((latest.get("num_versions") or [1])[0]))
        return cls()
