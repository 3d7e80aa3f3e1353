"""TorchScript models. torch is an optional extra, imported only when such a model is loaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.errors import InvalidPackage, MissingDependency
from modelyard.manifest import Manifest
from modelyard.runtimes.base import Tensors, single_input
from modelyard.signature import Signature


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingDependency.for_extra("torch", "torch") from None
    return torch


class TorchScriptRuntime:
    thread_safe = True

    def __init__(
        self, path: Path, input_names: Sequence[str], output_names: Sequence[str] = (), device: str = "cpu"
    ) -> None:
        self.torch = _torch()
        self.device = device
        try:
            self.module = self.torch.jit.load(str(path), map_location=device).eval()
        except Exception as exc:
            raise InvalidPackage(f"{path.name}: torch cannot load this TorchScript file: {exc}") from None
        self.input_names = list(input_names)
        self.output_names = list(output_names)

    @classmethod
    def load(cls, package_dir: Path, manifest: Manifest) -> TorchScriptRuntime:
        sig = manifest.signature
        return cls(
            package_dir / manifest.artifact,
            [s.name for s in sig.inputs],
            [s.name for s in sig.outputs],
            manifest.instances.device,
        )

    def native_signature(self) -> Signature | None:
        return None

    def predict(self, inputs: Tensors) -> dict[str, np.ndarray]:
        torch = self.torch
        args = [
            torch.from_numpy(np.ascontiguousarray(single_input(inputs, n))).to(self.device) for n in self.input_names
        ]
        with torch.inference_mode():
            result = self.module(*args)
        if isinstance(result, dict):
            return {k: v.cpu().numpy() for k, v in result.items()}
        items = list(result) if isinstance(result, list | tuple) else [result]
        names = self.output_names or [f"output_{i}" for i in range(len(items))]
        return {n: t.cpu().numpy() for n, t in zip(names, items, strict=True)}

    def unload(self) -> None:
        self.module = None
