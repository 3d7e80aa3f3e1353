"""modelyard: carry a trained model from the data scientist's hands to production and keep it healthy there."""

from modelyard.errors import ModelyardError
from modelyard.manifest import Manifest
from modelyard.packaging import build_package, validate_package
from modelyard.registry import Registry
from modelyard.settings import Settings
from modelyard.signature import Signature, TensorSpec

__version__ = "0.1.0"

__all__ = [
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
