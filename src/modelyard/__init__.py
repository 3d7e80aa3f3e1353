"""modelyard: carry a trained model from the data scientist's hands to production and keep it healthy there.

The names below are imported on first use (PEP 562), so `import modelyard.server...` in a serving worker does not
pull in the registry's database and filesystem libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "AsyncClient": "modelyard.client",
    "Client": "modelyard.client",
    "Manifest": "modelyard.manifest",
    "ModelyardError": "modelyard.errors",
    "Registry": "modelyard.registry",
    "Settings": "modelyard.settings",
    "Signature": "modelyard.signature",
    "TensorSpec": "modelyard.signature",
    "build_package": "modelyard.packaging",
    "validate_package": "modelyard.packaging",
}

if TYPE_CHECKING:
    from modelyard.client import AsyncClient, Client
    from modelyard.errors import ModelyardError
    from modelyard.manifest import Manifest
    from modelyard.packaging import build_package, validate_package
    from modelyard.registry import Registry
    from modelyard.settings import Settings
    from modelyard.signature import Signature, TensorSpec


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AsyncClient",
    "Client",
    "Manifest",
    "ModelyardError",
    "Registry",
    "Settings",
    "Signature",
    "TensorSpec",
    "__version__",
    "build_package",
    "validate_package",
]
