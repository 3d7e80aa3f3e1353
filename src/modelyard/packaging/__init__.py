"""Model packages: an artifact plus `modelyard.yaml`, whose signature is checked against the real model."""

from modelyard.manifest import MANIFEST_FILE, Manifest, read_manifest, write_manifest
from modelyard.packaging.builder import build_package, detect_format, is_package, validate_package

__all__ = [
    "MANIFEST_FILE",
    "Manifest",
    "build_package",
    "detect_format",
    "is_package",
    "read_manifest",
    "validate_package",
    "write_manifest",
]
