"""Turn what the user asked to serve into package folders (runs in `modelyard serve`, before any worker).

A target is a registry reference (`fraud@production`, `churn/3`, `fraud`), a model file (packaged into a cache
keyed by its content), a package folder, a folder of packages, or a Triton repository served as it is.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidArgument
from modelyard.manifest import read_manifest
from modelyard.packaging.builder import build_package, is_package
from modelyard.packaging.importers import from_triton_version, triton_versions
from modelyard.registry import Registry, VersionFilter
from modelyard.registry.artifacts import file_sha256
from modelyard.server.spec import SourceSpec


class SourceResolver:
    def __init__(self, cache_dir: Path, registry: Registry | None = None) -> None:
        self.cache_dir = cache_dir
        self._registry = registry

    def resolve(self, targets: list[str], name: str | None = None, alias: str | None = None) -> list[SourceSpec]:
        specs: list[SourceSpec] = []
        for target in targets:
            path = Path(target)
            specs += self._local(path, name) if path.exists() else self._from_registry(target)
        if alias:
            specs += self._with_alias(alias)
        seen: set[tuple[str, str]] = set()
        for spec in specs:
            if (spec.name, spec.version) in seen:
                raise InvalidArgument(f"{spec.name} version {spec.version} is asked for twice")
            seen.add((spec.name, spec.version))
        return specs

    def registry(self) -> Registry:
        if self._registry is None:
            raise InvalidArgument("no registry configured")
        return self._registry

    def _from_registry(self, ref: str) -> list[SourceSpec]:
        version, path = self.registry().package_path(ref, self.cache_dir / "registry")
        return [
            SourceSpec(name=version.name, version=str(version.version), package_dir=str(path), aliases=version.aliases)
        ]

    def _with_alias(self, alias: str) -> list[SourceSpec]:
        page = self.registry().search(VersionFilter(alias=alias), page_size=1000)
        if not page.items:
            raise InvalidArgument(f"--alias: no model has the alias {alias!r}")
        return [s for v in page.items for s in self._from_registry(v.uri)]

    def _local(self, path: Path, name: str | None) -> list[SourceSpec]:
        if path.is_file():
            return [self._package_file(path, name)]
        if is_package(path):
            manifest = read_manifest(path)
            return [SourceSpec(name=name or manifest.name, version="1", package_dir=str(path))]
        packages = sorted(p for p in path.iterdir() if is_package(p))
        if packages:
            return [s for p in packages for s in self._local(p, None)]
        found = list(triton_versions(path))
        if not found:
            raise InvalidArgument(f"{path}: not a model file, a package, a folder of packages or a Triton repository")
        return [self._package_triton(path, *item) for item in found]

    def _cached(self, key: str, build: Any) -> Path:
        target = self.cache_dir / "packages" / key
        if is_package(target):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            build(Path(tmp) / "p")
            try:
                (Path(tmp) / "p").rename(target)
            except OSError:  # another process built the same package first
                if not is_package(target):
                    raise
        return target

    def _package_file(self, path: Path, name: str | None) -> SourceSpec:
        model_name = name or path.stem
        key = hashlib.sha256(f"{file_sha256(path)}:{model_name}".encode()).hexdigest()[:32]
        package = self._cached(key, lambda out: build_package(path, out, name=model_name))
        return SourceSpec(name=model_name, version="1", package_dir=str(package))

    def _package_triton(self, repo: Path, name: str, version: int, model_file: Path, config: Any) -> SourceSpec:
        key = hashlib.sha256(f"{file_sha256(model_file)}:{name}:{config!r}".encode()).hexdigest()[:32]
        package = self._cached(key, lambda out: from_triton_version(name, version, model_file, config, out, repo))
        return SourceSpec(name=name, version=str(version), package_dir=str(package))
