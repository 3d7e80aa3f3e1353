"""Turn what the user asked to serve into package folders (in `modelyard serve` and in the server's follower).

A target is a registry reference (`fraud@production`, `churn/3`, `fraud`), a model file (packaged into a cache
keyed by its content), a package folder, a folder of packages, or a Triton repository served as it is. Registry
targets become follow rules, evaluated here at start and again by the follower when the server follows aliases.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument, NotFound
from modelyard.manifest import read_manifest
from modelyard.packaging.builder import MODEL_FILES, build_package, is_package
from modelyard.packaging.digest import file_sha256
from modelyard.packaging.importers import from_triton_version, triton_versions
from modelyard.server.repository.spec import FollowRule, SourceSpec
from modelyard.server.repository.versions import VersionPolicy
from modelyard.uri import parse_ref

if TYPE_CHECKING:  # serving model files never needs the registry's libraries
    from modelyard.registry import ModelVersion, Registry, VersionFilter


MODEL_SUFFIXES = frozenset({".onnx", ".pt", ".pth", ".joblib", ".pkl", ".pickle", ".py", ".pbtxt", ".json", ".yaml"})


def looks_like_path(target: str) -> bool:
    """A target that is meant as a file (`frod.onnx`, `./models`, `/srv/m`), not a registry reference: when it is
    missing, say so, rather than that no model of that name is registered."""
    return target.startswith((".", "/", "~")) or Path(target).suffix.lower() in MODEL_SUFFIXES


def rule_for(target: str, versions: str | None = None) -> FollowRule:
    """`fraud@production` follows the alias; `fraud/3` is that version; `fraud` follows the version policy."""
    ref = parse_ref(target)
    if ref.alias is not None:
        return FollowRule(name=ref.name, alias=ref.alias)
    if ref.version is not None:
        return FollowRule(name=ref.name, versions=str(ref.version))
    return FollowRule(name=ref.name, versions=versions or "latest:1")


def every_version(registry: Registry, where: VersionFilter) -> list[ModelVersion]:
    items: list[ModelVersion] = []
    token = None
    while True:
        page = registry.search(where, page_size=1000, page_token=token)
        items += page.items
        if not (token := page.next_page_token):
            return items


def check_unique(specs: Iterable[SourceSpec]) -> None:
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        if spec.key in seen:
            raise InvalidArgument(f"{spec.name} version {spec.version} is asked for twice")
        seen.add(spec.key)


class SourceResolver:
    def __init__(self, cache_dir: Path, registry: Registry | None = None) -> None:
        self.cache_dir = cache_dir
        self._registry = registry

    def resolve(
        self, targets: list[str], name: str | None = None, alias: str | None = None, versions: str | None = None
    ) -> tuple[list[SourceSpec], list[FollowRule]]:
        """The package folders to serve now, and the registry rules they came from (for `--follow`)."""
        policy = VersionPolicy.parse(versions) if versions else None
        specs: list[SourceSpec] = []
        rules: list[FollowRule] = []
        for target in targets:
            path = Path(target)
            if path.exists():
                specs += self._local(path, name, policy)
            elif name is not None or looks_like_path(target):
                raise NotFound(f"no such file or folder: {target}")
            else:
                rules.append(rule_for(target, versions))
        if alias:
            rules.append(FollowRule(alias=alias))
        specs += self.evaluate(rules)
        check_unique(specs)
        return specs, rules

    def evaluate(self, rules: list[FollowRule]) -> list[SourceSpec]:
        """The registry versions the rules choose now, each once, with its package folder."""
        return [self.spec_for(v) for v in self.choose(rules)]

    def choose(self, rules: list[FollowRule]) -> list[ModelVersion]:
        """The registry versions the rules choose now, each once: registry reads only, no package fetched."""
        chosen: dict[tuple[str, int], ModelVersion] = {}
        for rule in rules:
            for version in self._versions(rule):
                chosen.setdefault((version.name, version.version), version)
        return [v for _, v in sorted(chosen.items())]

    def registry(self) -> Registry:
        if self._registry is None:
            raise InvalidArgument("no registry configured")
        return self._registry

    def _versions(self, rule: FollowRule) -> list[ModelVersion]:
        from modelyard.registry import VersionFilter

        registry = self.registry()
        if rule.alias is not None and rule.name is not None:
            return [registry.get(f"{rule.name}@{rule.alias}")]
        if rule.alias is not None:
            items = every_version(registry, VersionFilter(alias=rule.alias))
            if not items:
                raise InvalidArgument(f"--alias: no model has the alias {rule.alias!r}")
            return items
        assert rule.name is not None
        policy = VersionPolicy.parse(rule.versions)
        if policy.kind == "specific":
            return [registry.get(f"{rule.name}/{v}") for v in policy.versions]
        registry.model(rule.name)  # NotFound names the model
        found = {v.version: v for v in every_version(registry, VersionFilter(name=rule.name))}
        return [found[v] for v in policy.select(found)]

    def spec_for(self, version: ModelVersion) -> SourceSpec:
        """What to serve for a registry version: its package, fetched and checked against its digest."""
        registry = self.registry()
        _, path = registry.package_path(version, self.cache_dir / "registry")
        reference = registry.reference(f"{version.name}/{version.version}")
        return SourceSpec(
            name=version.name,
            version=str(version.version),
            package_dir=str(path),
            aliases=version.aliases,
            followed=True,
            reference=dict(reference.profile) if reference is not None else None,
        )

    def _local(self, path: Path, name: str | None, policy: VersionPolicy | None) -> list[SourceSpec]:
        if path.is_file():
            return [self._package_file(path, name)]
        if is_package(path):
            manifest = read_manifest(path)
            return [SourceSpec(name=name or manifest.name, version="1", package_dir=str(path))]
        packages = sorted(p for p in path.iterdir() if is_package(p))
        if packages:
            return [s for p in packages for s in self._local(p, None, None)]
        found = list(triton_versions(path))
        if not found:
            files = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in MODEL_FILES]
            if len(files) == 1:  # KServe's storage initializer leaves the model file alone in /mnt/models
                return [self._package_file(files[0], name)]
            raise InvalidArgument(f"{path}: not a model file, a package, a folder of packages or a Triton repository")
        return [self._package_triton(path, *item) for item in _by_policy(found, policy)]

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


def _by_policy(
    found: list[tuple[str, int, Path, Any]], policy: VersionPolicy | None
) -> list[tuple[str, int, Path, Any]]:
    """Each Triton model's versions chosen by `--versions`, else by its config's `version_policy` (as Triton does:
    the newest version when the config names no policy)."""
    kept = []
    for model in dict.fromkeys(item[0] for item in found):
        items = {item[1]: item for item in found if item[0] == model}
        chosen = (policy or VersionPolicy.from_triton(next(iter(items.values()))[3])).select(items)
        kept += [items[v] for v in chosen]
    return kept
