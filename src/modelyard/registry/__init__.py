"""The model registry: versions with their metadata and lineage, aliases with a full history, rollback."""

from modelyard.registry.artifacts import ArtifactStore
from modelyard.registry.entities import (
    AlertRecord,
    AliasEvent,
    BatchJob,
    ModelPolicy,
    ModelVersion,
    Page,
    ReferenceProfile,
    RegisteredModel,
    ServedVersion,
    ServerRecord,
    Validation,
    VersionFilter,
)
from modelyard.registry.registry import Registry
from modelyard.registry.store import RegistryStore

__all__ = [
    "AlertRecord",
    "AliasEvent",
    "ArtifactStore",
    "BatchJob",
    "ModelPolicy",
    "ModelVersion",
    "Page",
    "ReferenceProfile",
    "RegisteredModel",
    "Registry",
    "RegistryStore",
    "ServedVersion",
    "ServerRecord",
    "Validation",
    "VersionFilter",
]
