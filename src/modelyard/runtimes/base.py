"""The Runtime protocol every model format implements, and the helpers they share."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from modelyard.errors import InvalidArgument
from modelyard.manifest import Manifest
from modelyard.signature import Signature

Tensors = Mapping[str, np.ndarray]


class Runtime(Protocol):
    """A loaded model. `predict` may be called from several threads at once when the runtime says it is
    `thread_safe`; otherwise each instance is used by one caller at a time."""

    thread_safe: bool

    def predict(self, inputs: Tensors) -> dict[str, np.ndarray]: ...

    def native_signature(self) -> Signature | None:
        """The signature the artifact itself declares (ONNX graphs do), or None when only an example can tell."""
        ...

    def unload(self) -> None: ...


def release_memory(runtime: Runtime) -> None:
    """Give memory kept from the largest recent batches back to the system, when the runtime can."""
    release = getattr(runtime, "release_memory", None)
    if callable(release):
        release()


class RuntimeLoader(Protocol):
    def __call__(self, package_dir: Path, manifest: Manifest) -> Runtime: ...


def observed_signature(runtime: Runtime, example: Tensors) -> Signature:
    """The signature seen by running one example: what a model without a typed graph really takes and gives."""
    return Signature.of_arrays(example, runtime.predict(example))


def example_from_signature(signature: Signature, batch: int = 1) -> dict[str, np.ndarray]:
    """Zeros (or empty strings) that fit a signature; used to warm up and to check models that ship no example."""
    from modelyard.datatypes import to_numpy

    out: dict[str, np.ndarray] = {}
    for spec in signature.inputs:
        shape = tuple(batch if i == 0 and d == -1 else (1 if d == -1 else d) for i, d in enumerate(spec.shape))
        dtype = to_numpy(spec.datatype)
        out[spec.name] = np.full(shape, b"", dtype=object) if dtype.kind == "O" else np.zeros(shape, dtype=dtype)
    return out


def single_input(inputs: Tensors, name: str) -> np.ndarray:
    try:
        return inputs[name]
    except KeyError:
        raise InvalidArgument(f"inputs: missing input {name!r}") from None
