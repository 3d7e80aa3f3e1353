"""A runtime in a process of its own, for Python models that hold the GIL (`instances.kind: process`).

Threads cannot run GIL-bound Python code in parallel; processes can. Each instance is a child process that loads
the model once and then serves `predict` calls from its parent's instance thread. Numeric tensors cross in one
shared-memory block each way (the pipe carries only names, dtypes, shapes and offsets); BYTES tensors, which are
Python objects, are pickled through the pipe.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.errors import InvalidPackage, ModelExecutionError, ModelyardError
from modelyard.manifest import Manifest, parse_manifest
from modelyard.runtimes.base import Tensors
from modelyard.signature import Signature

Layout = list[tuple[str, str, tuple[int, ...], int]]  # name, dtype, shape, byte offset
_ALIGN = 64


def _untracked(name: str) -> SharedMemory:
    """Attach without the resource tracker: the creator owns the block (Python < 3.13 has no track=False)."""
    block = SharedMemory(name=name)
    resource_tracker.unregister(block._name, "shared_memory")  # type: ignore[attr-defined]
    return block


def pack(tensors: Tensors) -> tuple[SharedMemory | None, Layout, dict[str, np.ndarray]]:
    """Numeric tensors into one new shared block; object tensors returned apart, to be pickled."""
    numeric = {k: np.ascontiguousarray(v) for k, v in tensors.items() if v.dtype.kind != "O"}
    objects = {k: v for k, v in tensors.items() if v.dtype.kind == "O"}
    layout: Layout = []
    offset = 0
    for name, array in numeric.items():
        layout.append((name, array.dtype.str, array.shape, offset))
        offset += -(-array.nbytes // _ALIGN) * _ALIGN
    if not numeric:
        return None, layout, objects
    block = SharedMemory(create=True, size=max(offset, 1))
    for (_, _, _, start), array in zip(layout, numeric.values(), strict=True):
        np.ndarray(array.shape, dtype=array.dtype, buffer=block.buf, offset=start)[...] = array
    return block, layout, objects


def unpack(block: SharedMemory | None, layout: Layout, copy: bool) -> dict[str, np.ndarray]:
    """Arrays over the block's buffer: views (valid while the block is open) or copies."""
    out = {}
    for name, dtype, shape, start in layout:
        assert block is not None, "a layout with tensors comes with a block"
        array: np.ndarray = np.ndarray(shape, dtype=np.dtype(dtype), buffer=block.buf, offset=start)
        out[name] = array.copy() if copy else array
    return out


def _call(model: Any, block: SharedMemory | None, layout: Layout, objects: dict[str, np.ndarray]) -> tuple[Any, ...]:
    """One predict in the child; the input views die with this frame, so the block can be closed after."""
    inputs = {**unpack(block, layout, copy=False), **objects}
    out_block, out_layout, out_objects = pack(model.predict(inputs))
    if out_block is None:
        return ("ok", None, out_layout, out_objects)
    resource_tracker.unregister(out_block._name, "shared_memory")  # type: ignore[attr-defined]  # parent unlinks
    name = out_block.name
    out_block.close()
    return ("ok", name, out_layout, out_objects)


def _child(conn: Connection, package_dir: str, manifest: dict[str, Any]) -> None:
    from modelyard.runtimes.python import PythonRuntime

    try:
        model = PythonRuntime.load(Path(package_dir), parse_manifest(manifest))
    except Exception as exc:
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", None))
    while True:
        message = conn.recv()
        if message[0] == "stop":
            model.unload()
            return
        _, name, layout, objects = message
        block = _untracked(name) if name else None
        try:
            reply = _call(model, block, layout, objects)
        except Exception as exc:
            reply = ("error", str(exc))
        if block is not None:
            block.close()
        conn.send(reply)


class ProcessRuntime:
    thread_safe = False

    def __init__(self, package_dir: Path, manifest: Manifest) -> None:
        context = mp.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_child, args=(child, str(package_dir), manifest.to_dict()), daemon=True, name="modelyard-instance"
        )
        self.process.start()
        child.close()
        if not self.conn.poll(120):
            self.unload()
            raise InvalidPackage("python_class: the model's process did not start within 120 s")
        kind, detail = self.conn.recv()
        if kind != "ready":
            self.unload()
            raise InvalidPackage(f"python_class: the model's process failed to load it: {detail}")

    @classmethod
    def load(cls, package_dir: Path, manifest: Manifest) -> ProcessRuntime:
        return cls(package_dir, manifest)

    def native_signature(self) -> Signature | None:
        return None

    def predict(self, inputs: Tensors) -> dict[str, np.ndarray]:
        if not self.process.is_alive():
            raise ModelExecutionError(f"the model's process exited (code {self.process.exitcode})")
        block, layout, objects = pack(inputs)
        try:
            self.conn.send(("predict", block.name if block else None, layout, objects))
            reply = self.conn.recv()
        except (EOFError, OSError) as exc:
            raise ModelExecutionError(f"the model's process stopped answering: {exc}") from None
        finally:
            if block is not None:
                block.close()
                block.unlink()
        if reply[0] == "error":
            raise ModelExecutionError(reply[1])
        _, name, out_layout, out_objects = reply
        out_block = SharedMemory(name=name) if name else None
        try:
            return {**unpack(out_block, out_layout, copy=True), **out_objects}
        finally:
            if out_block is not None:
                out_block.close()
                out_block.unlink()

    def unload(self) -> None:
        try:
            if self.process.is_alive():
                self.conn.send(("stop",))
                self.process.join(timeout=5)
        except (OSError, ModelyardError):
            pass
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        self.conn.close()
