"""Which models are loaded, under which names, versions and aliases; loading and unloading without a restart."""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import DeadlineExceeded, ModelyardError, NotFound, Unavailable
from modelyard.server.metrics.stats import ModelStats
from modelyard.server.models.served import ServedModel
from modelyard.server.models.source import ModelSource
from modelyard.server.process.memory import release_unloaded

if TYPE_CHECKING:
    from modelyard.traffic import TrafficLog

log = logging.getLogger("modelyard.server")


@dataclass(frozen=True, slots=True)
class IndexEntry:
    name: str
    version: str
    state: str
    reason: str = ""


def public_error(exc: Exception, source: ModelSource) -> ModelyardError:
    """A load error as callers see it (the reply, the repository index): the package's folder, a path on this
    machine, is left out and the model named instead; the log keeps the whole message."""
    message = str(exc)
    for folder in {source.package_dir, str(Path(source.package_dir).resolve())}:
        message = message.replace(folder.rstrip("/") + "/", "").replace(folder, "the package")
    message = f"{source.name} version {source.version}: {message}"
    return type(exc)(message) if isinstance(exc, ModelyardError) else ModelyardError(message)


def _version_order(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)


def _moved(before: ModelSource, now: ModelSource) -> bool:
    return (before.package_dir, before.overrides) != (now.package_dir, now.overrides)


class ModelManager:
    def __init__(self, workers: int = 1, drain_timeout_s: float = 30.0, idle_unload_s: float | None = None,
                 wake_timeout_s: float = 60.0) -> None:  # fmt: skip
        """`idle_unload_s`: unload a version nobody called for that long, and load it again on the next request,
        which waits for it (at most `wake_timeout_s`): scale to zero per model (`serve --idle-unload`)."""
        self.workers = workers
        self.drain_timeout_s = drain_timeout_s
        self.idle_unload_s = idle_unload_s
        self.wake_timeout_s = wake_timeout_s
        self.parked: dict[tuple[str, str], tuple[ModelSource, ModelStats]] = {}  # unloaded for idleness
        self._activity: dict[tuple[str, str], tuple[int, float]] = {}  # requests seen, and since when
        self._waking: dict[tuple[str, str], asyncio.Task[ServedModel]] = {}
        self.models: dict[str, dict[str, ServedModel]] = {}
        self.aliases: dict[tuple[str, str], str] = {}
        self.failed: dict[tuple[str, str], str] = {}
        self.expected: set[tuple[str, str]] = set()
        self.newest: dict[str, str] = {}  # default version per name, kept current on load and unload
        self.traffic: TrafficLog | None = None  # what each loaded version's batches show their sampled requests

    async def load(self, source: ModelSource, stats: ModelStats | None = None) -> ServedModel:
        """Load in a thread (the event loop keeps serving), then swap it in; an older copy is drained after.
        `stats`: the statistics of the version before it was parked, carried on."""
        key = (source.name, source.version)
        try:
            load = partial(ServedModel.load, source, self.workers)
            model = await asyncio.to_thread(load)
            if stats is not None:
                model.stats = stats
        except Exception as exc:
            log.warning(
                "could not load %s version %s from %s: %s", source.name, source.version, source.package_dir, exc
            )
            public = public_error(exc, source)
            self.failed[key] = public.message
            raise public from None
        self.failed.pop(key, None)
        self.parked.pop(key, None)  # only now: requests that arrive while it loads find it parked, and wait
        model.start(self.traffic)
        previous = self.models.setdefault(source.name, {}).get(source.version)
        self.models[source.name][source.version] = model
        for alias in source.aliases:
            self.aliases[(source.name, alias)] = source.version
        self.newest[source.name] = max(self.models[source.name], key=_version_order)
        if previous is not None:
            await self._retire(previous)
            del previous
            release_unloaded()
        return model

    async def sync(self, sources: list[ModelSource]) -> None:
        """Make the loaded set equal `sources`, without a failed request: load and warm up what is new or changed
        first, then point the aliases at the new versions, then drain and unload what is no longer wanted. If a
        new version fails to load, the versions of that model stay loaded, and its aliases stay where they were."""
        wanted = {(s.name, s.version): s for s in sources}
        # a parked version still wanted, from the same package, stays parked (under the aliases it has now)
        self.parked = {k: (wanted[k], stats) for k, (source, stats) in self.parked.items()
                       if k in wanted and not _moved(source, wanted[k])}  # fmt: skip
        changed = [s for key, s in wanted.items() if key not in self.parked and self._differs(key, s)]
        results = await asyncio.gather(*(self.load(s) for s in changed), return_exceptions=True)
        failed = {s.name for s, r in zip(changed, results, strict=True) if isinstance(r, BaseException)}
        for source, result in zip(changed, results, strict=True):
            if isinstance(result, BaseException):
                log.error("could not load %s version %s: %s", source.name, source.version, result)
        self.aliases = {k: v for k, v in self.aliases.items() if k[0] in failed}
        for source in wanted.values():
            if source.name not in failed:
                self.aliases.update({(source.name, alias): source.version for alias in source.aliases})
        self.expected &= set(wanted)
        for name, versions in list(self.models.items()):
            gone = [v for v in versions if (name, v) not in wanted and name not in failed]
            for version in gone:
                await self.unload(name, version)

    def _differs(self, key: tuple[str, str], source: ModelSource) -> bool:
        loaded = self.models.get(key[0], {}).get(key[1])
        return loaded is None or (loaded.source.package_dir, loaded.source.overrides) != (
            source.package_dir,
            source.overrides,
        )

    async def unload(self, name: str, version: str | None = None) -> list[str]:
        versions = self.models.get(name, {})
        if not versions:
            raise self.not_loaded(name)
        chosen = [version] if version is not None else list(versions)
        for v in chosen:
            if v not in versions:
                raise NotFound(f"model {name!r} has no loaded version {v}")
        for v in chosen:
            model = versions.pop(v)
            self.expected.discard((name, v))
            self.aliases = {k: ver for k, ver in self.aliases.items() if not (k[0] == name and ver == v)}
            await self._retire(model)
        if versions:
            self.newest[name] = max(versions, key=_version_order)
        else:
            del self.models[name]
            self.newest.pop(name, None)
        del model  # the last reference: what the collector frees next is the model's sessions and weights
        release_unloaded()
        return chosen

    async def park_idle(self, now: float) -> list[tuple[str, str]]:
        """Unload each version that has seen no request for `idle_unload_s` and has nothing queued or running,
        keeping what it was loaded from (with its aliases) and its statistics; `wake` loads it again."""
        parked: list[tuple[str, str]] = []
        if self.idle_unload_s is None:
            return parked
        for name, versions in list(self.models.items()):
            for version, model in list(versions.items()):
                key, batcher = (name, version), model.batcher
                activity = batcher.activity if batcher is not None else 0
                seen = self._activity.get(key)
                if seen is None or seen[0] != activity:
                    self._activity[key] = (activity, now)
                    continue
                if now - seen[1] < self.idle_unload_s or (batcher is not None and (batcher.depth or batcher.busy)):
                    continue
                aliases = tuple(a for (n, a), v in self.aliases.items() if n == name and v == version)
                source = dataclasses.replace(model.source, aliases=aliases)
                stats, expected = model.stats, key in self.expected
                await self.unload(name, version)
                if expected:
                    self.expected.add(key)  # still this server's to serve: readiness counts it as loadable
                self.parked[key] = (source, stats)
                self._activity.pop(key, None)
                parked.append(key)
                log.info("%s version %s unloaded after %.0f s without a request", name, version, now - seen[1])
        return parked

    def parked_key(self, name: str, version: str | None) -> tuple[str, str] | None:
        """The parked version a request for `name` (`name@alias`) and `version` means, when no loaded one does."""
        if not self.parked:
            return None
        base, _, alias = name.partition("@")
        try:
            self.get(name, version)
            return None
        except (NotFound, Unavailable):
            pass
        found = [k for k in self.parked if k[0] == base and (version is None or k[1] == version)]
        if alias and alias != "latest":
            found = [k for k in found if alias in self.parked[k][0].aliases]
        return max(found, key=lambda k: _version_order(k[1])) if found else None

    async def wake(self, key: tuple[str, str]) -> bool:
        """Load a parked version again; every request for it waits on the one load. True for the request that
        started it (it records the cold start once it has its answer)."""
        task = self._waking.get(key)
        started = task is None
        if task is None:
            source, stats = self.parked[key]
            task = asyncio.ensure_future(self.load(source, stats))
            self._waking[key] = task
            task.add_done_callback(lambda _: self._waking.pop(key, None))
        try:
            await asyncio.wait_for(asyncio.shield(task), self.wake_timeout_s)
        except TimeoutError:
            raise DeadlineExceeded(f"{key[0]} version {key[1]} is loading again (idle-unloaded) and was not ready "
                                   f"in {self.wake_timeout_s:g} s") from None  # fmt: skip
        return started

    async def _retire(self, model: ServedModel) -> None:
        await model.drain(self.drain_timeout_s)
        model.close()

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """By name (the newest loaded version), `name@alias`, or name and version."""
        base, _, alias = name.partition("@")
        versions = self.models.get(base)
        if not versions:
            if any(k[0] == base for k in self.failed):
                raise Unavailable(f"model {base!r} failed to load: {self.failed_reason(base)}")
            raise self.not_loaded(base)
        if alias and alias != "latest":
            aliased = self.aliases.get((base, alias))
            if aliased is None:
                raise NotFound(f"model {base!r} has no alias {alias!r} on this server")
            if version is not None and version != aliased:
                raise NotFound(f"{base}@{alias} is version {aliased}, not {version}")
            version = aliased
        if version is None:
            version = self.newest[base]
        model = versions.get(version)
        if model is None:
            raise NotFound(f"model {base!r} has no loaded version {version!r} (loaded: {', '.join(sorted(versions))})")
        return model

    def not_loaded(self, name: str) -> NotFound:
        """The error for a name nobody loaded, with the name meant where one is close (a typo), or the few that
        are loaded (what `/v2/repository/index` lists anyway)."""
        loaded = sorted(self.models)
        close = difflib.get_close_matches(name, loaded, n=1, cutoff=0.6)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
        elif 0 < len(loaded) <= 5:
            hint = f" (loaded: {', '.join(loaded)})"
        else:
            hint = ""
        return NotFound(f"model {name!r} is not loaded{hint}")

    def failed_reason(self, name: str) -> str:
        return next((r for (n, _), r in self.failed.items() if n == name), "")

    def snapshot(self) -> dict[str, Any]:
        """Each loaded version's statistics, queue and instances, keyed `name/version` (metrics/snapshots.py)."""
        snapshot: dict[str, Any] = {}
        for versions in self.models.values():
            for model in versions.values():
                snapshot[f"{model.name}/{model.version}"] = model.snapshot()
        for (name, version), (_, stats) in self.parked.items():
            snapshot[f"{name}/{version}"] = {"name": name, "version": version, "queue_depth": 0, "instances": 0,
                                             "loaded": 0, **stats.snapshot()}  # fmt: skip
        return snapshot

    def ready(self) -> bool:
        loaded = {(n, v) for n, vs in self.models.items() for v in vs} | set(self.parked)
        return self.expected <= loaded

    def index(self) -> list[IndexEntry]:
        entries = [IndexEntry(n, v, "READY") for n, vs in sorted(self.models.items()) for v in sorted(vs)]
        entries += [IndexEntry(n, v, "UNAVAILABLE", reason) for (n, v), reason in sorted(self.failed.items())]
        entries += [
            IndexEntry(n, v, "UNLOADED", "idle: loads again on the next request") for n, v in sorted(self.parked)
        ]
        return entries

    async def close(self) -> None:
        for name in list(self.models):
            await self.unload(name)
