"""The registry's store interface. The SQLAlchemy implementation is the only one today; the interface keeps the
registry logic and the CLI independent of it (and lets a REST-backed store come later)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

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


class Unchecked:
    """The alias may point anywhere: the move is not conditional."""


UNCHECKED = Unchecked()


class RegistryStore(ABC):
    @abstractmethod
    def create_model_version(self, new: NewVersion) -> ModelVersion:
        """Create the model if needed and add the next version number, atomically."""

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abstractmethod
    def list_registered_models(
        self, name_contains: str | None = None, page_size: int = 100, page_token: str | None = None
    ) -> Page[RegisteredModel]: ...

    @abstractmethod
    def update_registered_model(
        self,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        remove_tags: Collection[str] = (),
    ) -> RegisteredModel: ...

    @abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion: ...

    @abstractmethod
    def get_latest_version(self, name: str) -> ModelVersion: ...

    @abstractmethod
    def search_model_versions(
        self, filter: VersionFilter | None = None, page_size: int = 100, page_token: str | None = None
    ) -> Page[ModelVersion]: ...

    @abstractmethod
    def set_perf_card(self, name: str, version: int, card: Mapping[str, Any]) -> ModelVersion: ...

    @abstractmethod
    def delete_model_version(self, name: str, version: int, force: bool, actor: str) -> ModelVersion:
        """Delete a version; refused while an alias points at it unless `force`, which deletes those aliases
        (each deletion recorded in the alias history)."""

    @abstractmethod
    def artifact_in_use(self, sha256: str) -> bool: ...

    @abstractmethod
    def artifacts_in_use(self) -> set[str]:
        """The digests of every version's package."""

    @abstractmethod
    def resolve_alias(self, name: str, alias: str) -> int: ...

    @abstractmethod
    def get_aliased_version(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at, read in one step (no window between resolving and reading)."""

    @abstractmethod
    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        actor: str,
        reason: str,
        evidence: Mapping[str, Any] | None = None,
        expect: int | Unchecked | None = UNCHECKED,
    ) -> AliasEvent:
        """`expect`: the version the alias must point at now (None: unset), checked under the model's lock, so a
        move decided on what a caller saw (a validation, a page) never undoes a move made meanwhile."""

    @abstractmethod
    def delete_alias(self, name: str, alias: str, actor: str, reason: str) -> AliasEvent: ...

    @abstractmethod
    def rollback_alias(
        self, name: str, alias: str, actor: str, reason: str, expect: int | Unchecked | None = UNCHECKED
    ) -> AliasEvent:
        """Undo the latest move of the alias that was not itself rolled back (repeated rollbacks walk back);
        `expect` as for `set_alias`."""

    @abstractmethod
    def alias_history(
        self, name: str, alias: str | None = None, limit: int | None = None, before: int | None = None
    ) -> list[AliasEvent]:
        """Oldest first; with `limit`, only the newest `limit` moves (before event id `before`: the next page)."""

    @abstractmethod
    def announce_server(self, record: ServerRecord) -> None:
        """Insert or refresh a server's entry (its heartbeat is `record.heartbeat_at`)."""

    @abstractmethod
    def withdraw_server(self, server_id: str) -> None: ...

    @abstractmethod
    def list_servers(self, alive_since: datetime) -> list[ServerRecord]:
        """Servers whose last heartbeat is at or after `alive_since`; older entries are stale and left out."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def record_validation(self, validation: Validation) -> Validation: ...

    @abstractmethod
    def list_validations(
        self, name: str, limit: int = 50, version: int | None = None, before: int | None = None
    ) -> list[Validation]:
        """Newest first; `version`: those that judged it, as candidate or baseline; `before`: ids below it (the
        next page)."""

    @abstractmethod
    def get_validation(self, validation_id: int) -> Validation: ...

    @abstractmethod
    def latest_validation(self, name: str, candidate: int, baseline: int) -> Validation | None: ...

    @abstractmethod
    def set_policy(self, policy: ModelPolicy) -> ModelPolicy:
        """Store a new policy in force for (name, kind); the id and time given are replaced by the store's."""

    @abstractmethod
    def record_alert(self, alert: AlertRecord) -> AlertRecord: ...

    @abstractmethod
    def list_alerts(self, name: str, limit: int = 50) -> list[AlertRecord]:
        """Newest first."""

    @abstractmethod
    def set_reference(self, reference: ReferenceProfile) -> ReferenceProfile:
        """Store a version's reference profile; the id and time given are replaced by the store's."""

    @abstractmethod
    def latest_reference(self, name: str, version: int) -> ReferenceProfile | None: ...

    @abstractmethod
    def policy_history(self, name: str, kind: str) -> list[ModelPolicy]:
        """Oldest first; the last is in force. Empty: the model has none of that kind."""

    @abstractmethod
    def save_job(self, job: BatchJob) -> BatchJob:
        """Insert the job, or update the row of its id (a job run again)."""

    @abstractmethod
    def get_job(self, job_id: str) -> BatchJob: ...

    @abstractmethod
    def list_jobs(self, name: str | None = None, limit: int = 50, version: str | None = None) -> list[BatchJob]:
        """Newest first; `name` None: every model's; `version`: only those that scored with it."""
