"""Model control in a worker: repository load/unload, and reconciling with the spec file that all workers share.

The spec file says what the server serves. A repository call changes it (so the other workers follow) and applies
the change here at once; the follower process changes it when the registry moves an alias; every worker polls
it twice a second and makes its loaded set equal to it (`ModelManager.sync`). One lock per worker keeps these
from interleaving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from modelyard.errors import NotFound, PermissionDenied
from modelyard.manifest import read_manifest
from modelyard.server.models.manager import ModelManager
from modelyard.server.models.source import ModelSource
from modelyard.server.repository.spec import RegistryLink, ServeSpec, SourceSpec, SpecFile
from modelyard.uri import parse_ref

log = logging.getLogger("modelyard.server")

ChangeFn = Callable[[ServeSpec], ServeSpec]


def matches(spec: SourceSpec, reference: str) -> bool:
    ref = parse_ref(reference)
    return (
        spec.name == ref.name
        and (ref.version is None or spec.version == str(ref.version))
        and (ref.alias is None or ref.alias in spec.aliases)
    )


def with_sources(spec: ServeSpec, added: list[SourceSpec]) -> ServeSpec:
    keys = {s.key for s in added}
    return spec.model_copy(update={"models": [s for s in spec.models if s.key not in keys] + added})


def unloaded(spec: ServeSpec, keys: set[tuple[str, str]]) -> ServeSpec:
    """Unloaded models stay in the spec (the repository), so a later load finds them again."""
    models = [s.model_copy(update={"loaded": False}) if s.key in keys else s for s in spec.models]
    return spec.model_copy(update={"models": models})


def loaded_sources(spec: ServeSpec) -> list[ModelSource]:
    return [s.source(spec.drift, spec.input_checks) for s in spec.models if s.loaded]


def from_registry(link: RegistryLink, reference: str) -> list[SourceSpec]:
    """Resolve a reference the spec does not name (imports the registry in this worker, on first use only)."""
    from modelyard.registry import ArtifactStore, Registry
    from modelyard.registry.sql import SqlAlchemyStore
    from modelyard.server.repository.sources import SourceResolver, rule_for

    with Registry(SqlAlchemyStore(link.database_url, link.busy_timeout_s), ArtifactStore(link.artifact_url)) as reg:
        return SourceResolver(Path(link.cache_dir), reg).evaluate([rule_for(reference)])


class ModelControl:
    def __init__(self, manager: ModelManager, spec: ServeSpec, spec_file: SpecFile | None = None) -> None:
        self.manager = manager
        self.spec = spec
        self.spec_file = spec_file
        self.lock = asyncio.Lock()
        self._stamp = spec_file.stamp() if spec_file else None
        self._task: asyncio.Task[None] | None = None

    async def load(self, reference: str) -> list[str]:
        """Load (or reload) what a reference names: spec entries first, else the registry, if the server has one."""
        async with self.lock:
            found = [s for s in self.spec.models if matches(s, reference)]
            if not found and self.spec.registry is not None:
                found = await asyncio.to_thread(from_registry, self.spec.registry, reference)
                self._refuse_code(found)
            if not found:
                raise NotFound(f"no model {reference!r} in this server's repository")
            found = [s.model_copy(update={"loaded": True}) for s in found]
            self._change(lambda spec: with_sources(spec, found))
            for source in found:
                await self.manager.load(source.source(self.spec.drift, self.spec.input_checks))
            return [s.version for s in found]

    async def unload(self, reference: str) -> list[str]:
        ref = parse_ref(reference)
        async with self.lock:
            versions = await self.manager.unload(ref.name, None if ref.version is None else str(ref.version))
            self._change(lambda spec: unloaded(spec, {(ref.name, v) for v in versions}))
            return versions

    def _refuse_code(self, found: list[SourceSpec]) -> None:
        """A model the operator did not start the server with, whose loading runs code (a pickle, a Python class:
        `trusted_only`), loads only where the operator allowed it: otherwise anyone who may call load runs code."""
        if self.spec.allow_trusted_loads:
            return
        for source in found:
            manifest = read_manifest(Path(source.package_dir))
            if manifest.trusted_only:
                raise PermissionDenied(
                    f"{source.name} version {source.version} runs code when it loads ({manifest.format}, "
                    "trusted_only): the repository API loads it only on a server started with --allow-trusted-loads"
                )

    def unloaded(self) -> list[tuple[str, str]]:
        """Models of the repository that are not loaded now."""
        return sorted(s.key for s in self.spec.models if not s.loaded)

    def _change(self, change: ChangeFn) -> None:
        if self.spec_file is None:
            self.spec = change(self.spec)
            return
        self.spec, self._stamp = self.spec_file.update(change)

    async def reconcile(self) -> bool:
        """Apply the spec file if it changed since this worker last read or wrote it."""
        if self.spec_file is None:
            return False
        stamp = self.spec_file.stamp()
        if stamp == self._stamp:
            return False
        async with self.lock:
            self._stamp = self.spec_file.stamp()
            self.spec = self.spec_file.read()
            await self.manager.sync(loaded_sources(self.spec))
        return True

    def watch(self, interval_s: float = 1.0) -> None:
        self._task = asyncio.create_task(self._watch(interval_s))

    async def _watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reconcile()
            except Exception:  # a bad spec or a failed sync must not stop the watcher
                log.exception("could not apply the changed spec %s", self.spec_file and self.spec_file.path)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
