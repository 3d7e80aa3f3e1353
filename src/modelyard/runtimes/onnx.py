"""ONNX Runtime: the reference runtime. Sessions are thread safe and release the GIL while running."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.datatypes import from_onnx_type
from modelyard.errors import InvalidPackage
from modelyard.manifest import Manifest, RuntimeOptions
from modelyard.runtimes.base import Tensors
from modelyard.signature import Signature, TensorSpec

SPINNING = "session.intra_op.allow_spinning"
log = logging.getLogger("modelyard.runtimes")


def wanted_providers(options: RuntimeOptions, device: str) -> list[str]:
    """The manifest's providers, or CUDA's for a `cuda` device; the CPU provider always ends the list as the
    fallback for the operators the others lack."""
    wanted = list(options.providers) or (["CUDAExecutionProvider"] if device.startswith("cuda") else [])
    return wanted if "CPUExecutionProvider" in wanted else [*wanted, "CPUExecutionProvider"]


def _warn_if_missing(path: Path, wanted: list[str], session: Any) -> None:
    """ONNX Runtime falls back to the CPU when an asked-for provider is not built in (`onnxruntime` instead of
    `onnxruntime-gpu`) or cannot start (no driver, a CUDA library missing): a model then serves, ten times slower,
    with nothing said. Say it where the operator looks."""
    import onnxruntime as ort

    missing = [p for p in wanted if p not in session.get_providers()]
    if missing:
        log.warning(
            "%s: %s not in use (this onnxruntime has %s); the model runs on %s",
            path.name, ", ".join(missing), ", ".join(ort.get_available_providers()),
            ", ".join(session.get_providers()),
        )  # fmt: skip


def open_session(path: Path, options: RuntimeOptions | None = None, device: str = "cpu") -> Any:
    import onnxruntime as ort

    options = options or RuntimeOptions()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if options.intra_op_threads:
        so.intra_op_num_threads = options.intra_op_threads
    if options.inter_op_threads:
        so.inter_op_num_threads = options.inter_op_threads
    # ONNX Runtime's default is to spin: its pool thread took most of a core, idle or not, and the server served
    # W1 faster without it (docs/measurements.md, "ONNX Runtime's thread pool").
    so.add_session_config_entry(SPINNING, "1" if options.intra_op_spinning else "0")
    so.enable_mem_pattern = options.memory_pattern
    wanted = wanted_providers(options, device)
    available = set(ort.get_available_providers())
    try:
        session = ort.InferenceSession(str(path), sess_options=so, providers=[p for p in wanted if p in available])
    except Exception as exc:  # ORT raises its own pybind exception types
        raise InvalidPackage(f"{path.name}: ONNX Runtime cannot load this model: {exc}") from None
    _warn_if_missing(path, wanted, session)
    return session


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or ()))
    return TensorSpec(name=arg.name, datatype=from_onnx_type(arg.type), shape=shape)  # type: ignore[arg-type]


def _as_str(array: np.ndarray) -> np.ndarray:
    """ONNX Runtime string tensors hold `str`; it would turn a bytes element into the text "b'...'"."""
    out = np.empty(array.shape, dtype=object)
    out.ravel()[:] = [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in array.ravel()]
    return out


class OnnxRuntime:
    thread_safe = True

    def __init__(self, path: Path, options: RuntimeOptions | None = None, device: str = "cpu") -> None:
        self.session = open_session(path, options, device)
        self._outputs = [o.name for o in self.session.get_outputs()]
        self._smallest: dict[str, np.ndarray] | None = None  # the first input seen (the warm-up example)
        self._strings = frozenset(i.name for i in self.session.get_inputs() if i.type == "tensor(string)")

    @classmethod
    def load(cls, package_dir: Path, manifest: Manifest) -> OnnxRuntime:
        return cls(package_dir / manifest.artifact, manifest.runtime, manifest.instances.device)

    def native_signature(self) -> Signature:
        return Signature(
            inputs=tuple(_spec(a) for a in self.session.get_inputs()),
            outputs=tuple(_spec(a) for a in self.session.get_outputs()),
        )

    def predict(self, inputs: Tensors) -> dict[str, np.ndarray]:
        feed = dict(inputs)
        for name in self._strings.intersection(feed):
            feed[name] = _as_str(feed[name])
        results = self.session.run(self._outputs, feed)
        if self._smallest is None:
            self._smallest = feed
        return dict(zip(self._outputs, results, strict=True))

    def release_memory(self) -> None:
        """Shrink ONNX Runtime's CPU arena (it keeps the peak of the largest batch) with one small run.

        Shrinking on every run would double the compute time of large batches; the server calls this only when the
        model has gone idle after traffic.
        """
        if self._smallest is None:
            return
        import onnxruntime as ort

        options = ort.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self.session.run(self._outputs, self._smallest, options)

    def unload(self) -> None:
        self.session = None
