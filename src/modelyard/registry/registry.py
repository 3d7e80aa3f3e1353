"""The registry as users see it: register model files or packages, resolve references, move aliases.

It joins three things that each stay simple: packaging (checks the model), the artifact store (keeps the bytes) and
the metadata store (keeps the facts). Registration stores the bytes first and the row last, in one transaction; if
the row cannot be written, bytes that no other version shares are removed again, so a failure leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument, NotFound
from modelyard.manifest import parse_manifest, read_manifest, write_manifest
from modelyard.packaging.builder import build_package, is_package, validate_package
from modelyard.packaging.digest import remember_package, verify_package
from modelyard.packaging.importers import from_mlflow, from_triton_version, triton_versions
from modelyard.packaging.input_examples import ExampleSource
from modelyard.registry.artifacts import ArtifactStore, StoredPackage
from modelyard.registry.entities import (
    AlertRecord,
    AliasEvent,
    BatchJob,
    ModelPolicy,
    ModelVersion,
    NewVersion,
    Page,
    ReferenceProfile,
    RegisteredModel,
    ServerRecord,
    Validation,
    VersionFilter,
)
from modelyard.registry.garbage import Garbage, collect
from modelyard.registry.store import UNCHECKED, RegistryStore, Unchecked
from modelyard.settings import Settings
from modelyard.uri import ModelRef, check_alias, check_name, parse_ref

if TYPE_CHECKING:
    from modelyard.traffic import Window


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Registry:
    def __init__(
        self, store: RegistryStore, artifacts: ArtifactStore, actor: str | None = None, traffic_url: str | None = None
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.actor = actor or _user()
        self.traffic_url = traffic_url  # where servers of this registry record their traffic (`serve --log-sample`)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, actor: str | None = None) -> Registry:
        from modelyard.registry.sql import SqlAlchemyStore

        settings = settings or Settings()
        store = SqlAlchemyStore(settings.database_url, settings.registry.busy_timeout_s)
        return cls(store, ArtifactStore(settings.artifact_url), actor, settings.traffic_url)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- registering ---------------------------------------------------------------------------------------------

    def register(
        self,
        source: Path | str,
        *,
        name: str | None = None,
        description: str = "",
        author: str | None = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        lineage: Mapping[str, str] | None = None,
        example: ExampleSource | None = None,
        python_class: str | None = None,
        options: Mapping[str, Any] | None = None,
        reference: Callable[[Mapping[str, Any], str], tuple[Mapping[str, Any], str]] | None = None,
    ) -> ModelVersion:
        """Register a model package folder, or a model file packaged on the way (ONNX, sklearn pickle with an
        example, TorchScript with an example, or Python source with `python_class`). `reference`: given the
        signature and the package folder, the version's reference profile and its source
        (`modelyard.monitoring.run.reference_maker`), made before anything is stored, so that data it cannot
        profile leaves no version behind."""
        source = Path(source)
        with tempfile.TemporaryDirectory(prefix="modelyard-") as tmp:
            package = self._prepared_package(source, Path(tmp) / "package", name, example, python_class, options)
            manifest = read_manifest(package)
            signature = manifest.signature.model_dump(mode="json")
            profiled = reference(signature, str(package)) if reference is not None else None
            stored = self.artifacts.put_package(package)
            new = NewVersion(
                name=manifest.name,
                format=manifest.format,
                artifact_uri=stored.uri,
                sha256=stored.sha256,
                size=stored.size,
                signature=manifest.signature.model_dump(mode="json"),
                manifest=manifest.to_dict(),
                description=description,
                author=author if author is not None else self.actor,
                metrics={k: float(v) for k, v in (metrics or {}).items()},
                params={k: str(v) for k, v in (params or {}).items()},
                tags={k: str(v) for k, v in (tags or {}).items()},
                source=dict(lineage or {}),
            )
            version = self._insert(new, stored)
        if profiled is not None:
            self.set_reference(f"{version.name}/{version.version}", *profiled)
        return version

    def import_mlflow(self, folder: Path | str, name: str | None = None, **info: Any) -> ModelVersion:
        """Register an MLflow model folder (onnx or sklearn flavor), keeping its signature and run id."""
        with tempfile.TemporaryDirectory(prefix="modelyard-") as tmp:
            imported = from_mlflow(Path(folder), Path(tmp) / "package", name)
            lineage = {**imported.lineage, **info.pop("lineage", {})}
            return self.register(imported.package, lineage=lineage, **info)

    def import_triton(self, repo: Path | str, models: Collection[str] | None = None, **info: Any) -> list[ModelVersion]:
        """Register every `<model>/<version>/model.onnx` of a Triton repository, oldest version first, with
        `config.pbtxt`'s batching and instance settings."""
        repo = Path(repo)
        registered = []
        for name, triton_version, model_file, config in triton_versions(repo):
            if models and name not in models:
                continue
            with tempfile.TemporaryDirectory(prefix="modelyard-") as tmp:
                imported = from_triton_version(name, triton_version, model_file, config, Path(tmp) / "p", repo)
                registered.append(self.register(imported.package, lineage=imported.lineage, **info))
        if not registered:
            raise NotFound(
                f"{repo}: no <model>/<version>/model.onnx found" + (f" for {sorted(models)}" if models else "")
            )
        return registered

    def _prepared_package(
        self,
        source: Path,
        work: Path,
        name: str | None,
        example: ExampleSource | None,
        python_class: str | None,
        options: Mapping[str, Any] | None,
    ) -> Path:
        if not is_package(source):
            build_package(source, work, name=name, example=example, python_class=python_class, options=options)
            return work
        manifest = validate_package(source)
        if (name is None or name == manifest.name) and not options:
            return source
        shutil.copytree(source, work)
        fields = {**manifest.to_dict(), **(options or {}), "name": check_name(name or manifest.name)}
        write_manifest(work, parse_manifest(fields, "options"))
        return work

    def _insert(self, new: NewVersion, stored: StoredPackage) -> ModelVersion:
        try:
            return self.store.create_model_version(new)
        except BaseException:
            if stored.created and not self.store.artifact_in_use(stored.sha256):
                self.artifacts.delete_package(stored.sha256)
            raise

    # -- reading -------------------------------------------------------------------------------------------------

    def get(self, ref: str | ModelRef) -> ModelVersion:
        """A version by `models:/name/3`, `models:/name@alias` or `models:/name` (the latest)."""
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        if ref.version is not None:
            return self.store.get_model_version(ref.name, ref.version)
        if ref.alias is not None:
            return self.store.get_aliased_version(ref.name, ref.alias)
        return self.store.get_latest_version(ref.name)

    def traffic(self, ref: str | ModelRef, since: float | None = None, until: float | None = None) -> Window:
        """Recorded traffic of `fraud` (every version), `fraud/3`, or `fraud@production` (what its callers were
        answered), from `since` to `until` (Unix seconds): `.inputs()` and `.outputs()` give numpy arrays."""
        from modelyard.traffic import read_window

        if self.traffic_url is None:
            raise InvalidArgument("this registry has no traffic log URL (Registry.from_settings sets one)")
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        version = str(ref.version) if ref.version is not None else None
        return read_window(self.traffic_url, ref.name, version, ref.alias, since, until)

    def traffic_rows(self, name: str, version: int) -> int:
        """How many requests of `name/version` the traffic log holds (0 when none), without reading them."""
        from modelyard.traffic.reader import count_rows

        return count_rows(self.traffic_url, name, str(version)) if self.traffic_url is not None else 0

    def model(self, name: str) -> RegisteredModel:
        return self.store.get_registered_model(name)

    def update_model(
        self,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        remove_tags: Collection[str] = (),
    ) -> RegisteredModel:
        """The model's own description and tags (each version keeps its own): tags merge, `remove_tags` go."""
        return self.store.update_registered_model(name, description, tags, remove_tags)

    def list_models(
        self, name_contains: str | None = None, page_size: int = 100, page_token: str | None = None
    ) -> Page[RegisteredModel]:
        return self.store.list_registered_models(name_contains, page_size, page_token)

    def search(
        self, filter: VersionFilter | None = None, page_size: int = 100, page_token: str | None = None
    ) -> Page[ModelVersion]:
        return self.store.search_model_versions(filter, page_size, page_token)

    def download(self, ref: str | ModelRef, dest: Path | str) -> Path:
        """Copy a version's package into the new folder `dest`, checking its digest."""
        dest = Path(dest)
        if dest.exists():
            raise InvalidArgument(f"dest: {dest} already exists")
        version = self.get(ref)
        dest.parent.mkdir(parents=True, exist_ok=True)
        return self.artifacts.fetch(version.artifact_uri, version.sha256, dest)

    # -- changing ------------------------------------------------------------------------------------------------

    def garbage(self, min_age_s: float = 3600.0, now: float | None = None) -> Garbage:
        """What the artifact store holds that no version needs (`modelyard gc`): see `registry/garbage.py`."""
        at = time.time() if now is None else now
        stored, leftovers = self.artifacts.stored(), self.artifacts.temporary()
        return collect(stored, self.store.artifacts_in_use(), leftovers, at, min_age_s)

    def collect_garbage(self, garbage: Garbage) -> None:
        """Delete what `garbage` found, checking each package once more: a registration may have claimed it since."""
        for sha in garbage.packages:
            if not self.store.artifact_in_use(sha):
                self.artifacts.delete_package(sha)
        for name in garbage.temporary:
            self.artifacts.delete_temporary(name)

    def delete_version(self, ref: str | ModelRef, force: bool = False) -> ModelVersion:
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        if ref.version is None:
            raise InvalidArgument(f"ref: delete needs an explicit version (models:/{ref.name}/N), not {ref}")
        deleted = self.store.delete_model_version(ref.name, ref.version, force, self.actor)
        if not self.store.artifact_in_use(deleted.sha256):
            self.artifacts.delete_package(deleted.sha256)
        return deleted

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        reason: str = "",
        evidence: Mapping[str, Any] | None = None,
        expect: int | Unchecked | None = UNCHECKED,
    ) -> AliasEvent:
        """`expect`: move only if the alias points at this version now (None: unset); see `RegistryStore`."""
        return self.store.set_alias(check_name(name), check_alias(alias), version, self.actor, reason, evidence,
                                    expect)  # fmt: skip

    def delete_alias(self, name: str, alias: str, reason: str = "") -> AliasEvent:
        return self.store.delete_alias(name, alias, self.actor, reason)

    def rollback(
        self, name: str, alias: str, reason: str = "", expect: int | Unchecked | None = UNCHECKED
    ) -> AliasEvent:
        return self.store.rollback_alias(name, alias, self.actor, reason, expect)

    def history(
        self, name: str, alias: str | None = None, limit: int | None = None, before: int | None = None
    ) -> list[AliasEvent]:
        return self.store.alias_history(name, alias, limit, before)

    # -- the gate's evidence -----------------------------------------------------------------------------------

    def record_validation(self, validation: Validation) -> Validation:
        """Store a validation (its id and time are the store's); `actor` is this registry's when empty."""
        from dataclasses import replace

        return self.store.record_validation(validation if validation.actor else replace(validation, actor=self.actor))

    def validations(
        self, name: str, limit: int = 50, version: int | None = None, before: int | None = None
    ) -> list[Validation]:
        """The model's validations, newest first (of one version, as candidate or baseline; before an id)."""
        return self.store.list_validations(name, limit, version, before)

    def validation(self, validation_id: int) -> Validation:
        return self.store.get_validation(validation_id)

    def latest_validation(self, name: str, candidate: int, baseline: int) -> Validation | None:
        """The newest validation of exactly this candidate against exactly this baseline."""
        return self.store.latest_validation(name, candidate, baseline)

    def set_policy(self, name: str, kind: str, fields: Mapping[str, Any]) -> ModelPolicy:
        """Put `fields` in force as the model's `kind` policy (`gate`); the one before stays in the history."""
        from datetime import UTC, datetime

        return self.store.set_policy(ModelPolicy(0, name, kind, dict(fields), self.actor, datetime.now(UTC)))

    def policy(self, name: str, kind: str) -> ModelPolicy | None:
        """The model's `kind` policy in force, or None when it has none."""
        history = self.store.policy_history(name, kind)
        return history[-1] if history else None

    def policy_history(self, name: str, kind: str) -> list[ModelPolicy]:
        return self.store.policy_history(name, kind)

    def record_alert(self, name: str, version: int | None, kind: str, payload: Mapping[str, Any], delivered: bool,
                     status: str) -> AlertRecord:  # fmt: skip
        from datetime import UTC, datetime

        entity = AlertRecord(0, name, version, kind, dict(payload), delivered, status, self.actor, datetime.now(UTC))
        return self.store.record_alert(entity)

    def alerts(self, name: str, limit: int = 50) -> list[AlertRecord]:
        """The model's alerts, newest first."""
        return self.store.list_alerts(name, limit)

    def set_reference(self, ref: str | ModelRef, profile: Mapping[str, Any], source: str = "") -> ReferenceProfile:
        """Keep `profile` (`modelyard.drift.build`) as the version's reference: drift is measured against it."""
        from datetime import UTC, datetime

        version = self.get(ref)
        entity = ReferenceProfile(0, version.name, version.version, dict(profile), source, self.actor,
                                  datetime.now(UTC))  # fmt: skip
        return self.store.set_reference(entity)

    def reference(self, ref: str | ModelRef) -> ReferenceProfile | None:
        """The version's reference profile in force, or None when it has none."""
        version = self.get(ref)
        return self.store.latest_reference(version.name, version.version)

    def set_perf_card(self, ref: str | ModelRef, card: Mapping[str, Any]) -> ModelVersion:
        version = self.get(ref)
        return self.store.set_perf_card(version.name, version.version, card)

    def save_job(self, job: BatchJob) -> BatchJob:
        """Record a batch job as it starts, and again as it stops (`modelyard.batch`)."""
        from dataclasses import replace

        return self.store.save_job(replace(job, actor=job.actor or self.actor))

    def job(self, job_id: str) -> BatchJob:
        return self.store.get_job(job_id)

    def jobs(self, name: str | None = None, limit: int = 50, version: int | None = None) -> list[BatchJob]:
        """Batch jobs, newest first: of model `name` (of one of its versions), or of every model."""
        return self.store.list_jobs(name, limit, None if version is None else str(version))

    # -- discovery -----------------------------------------------------------------------------------------------

    def announce(self, record: ServerRecord) -> None:
        """Record (or refresh) a serving process; called by the server's heartbeat."""
        self.store.announce_server(record)

    def withdraw(self, server_id: str) -> None:
        self.store.withdraw_server(server_id)

    def servers(self, model: str | None = None, stale_after_s: float = 30.0) -> list[ServerRecord]:
        """Live servers (a heartbeat within `stale_after_s`), those serving `model` when given."""
        since = datetime.now(UTC) - timedelta(seconds=stale_after_s)
        return [r for r in self.store.list_servers(since) if model is None or r.serves(model.partition("@")[0])]

    def package_path(self, ref: str | ModelRef | ModelVersion, cache_dir: Path) -> tuple[ModelVersion, Path]:
        """A local folder holding the version's package, checked against its digest: the store itself when local
        (a swapped model.onnx there was served), else a copy. Hashed once per change of its files
        (`packaging/digest.verify_package`), so a restart does not hash every model again. Given a version already
        read, it is not read again."""
        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        local = self.artifacts.local_path(version.sha256)
        if local is not None:
            verify_package(local, version.sha256, cache_dir / "verified", f"the stored package of {version.uri}")
            return version, local
        cached = cache_dir / version.sha256
        if not cached.is_dir():
            cache_dir.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another process fetched it first
                self.artifacts.fetch(version.artifact_uri, version.sha256, cached)  # checks the digest as it copies
                remember_package(cached, version.sha256, cache_dir / "verified")
                return version, cached
        if not cached.is_dir():
            raise NotFound(f"package of {version.uri} could not be fetched")
        verify_package(cached, version.sha256, cache_dir / "verified", f"the cached package of {version.uri}")
        return version, cached
