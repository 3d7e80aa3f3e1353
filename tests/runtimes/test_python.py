"""Custom Python models: each version's code is its own, and only its source runs, never planted bytecode."""

from __future__ import annotations

import os
import py_compile
import sys
from pathlib import Path

import numpy as np

from modelyard.runtimes.python import PythonRuntime

MODEL = """
from helper import factor

class Model:
    def predict(self, inputs):
        return {{"y": inputs["x"] * factor() + {offset}}}
"""
HELPER = "def factor():\n    return {factor}\n"
X = {"x": np.ones((1, 2), np.float32)}


def code(folder: Path, offset: int, factor: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(MODEL.format(offset=offset))
    (folder / "helper.py").write_text(HELPER.format(factor=factor))
    return folder


def test_two_versions_with_the_same_module_names_run_their_own_code(tmp_path: Path) -> None:
    """After an alias move, replies labelled version 2 came from version 1's code (one `sys.modules`)."""
    v1 = PythonRuntime(code(tmp_path / "v1", offset=0, factor=1), "model:Model")
    v2 = PythonRuntime(code(tmp_path / "v2", offset=100, factor=10), "model:Model")
    assert v1.predict(X)["y"].tolist() == [[1.0, 1.0]]
    assert v2.predict(X)["y"].tolist() == [[110.0, 110.0]]
    assert "model" not in sys.modules
    assert "helper" not in sys.modules
    assert str(tmp_path / "v1") not in sys.path


def test_bytecode_beside_the_source_is_never_run(tmp_path: Path) -> None:
    """The package digest leaves `__pycache__` out, so a `.pyc` that matches the source's size and time would have
    been loaded instead of the source."""
    folder = code(tmp_path / "pkg", offset=0, factor=1)
    real = folder / "helper.py"
    evil = tmp_path / "evil" / "helper.py"
    evil.parent.mkdir()
    evil.write_text(HELPER.format(factor=7))  # the same length as the real one
    assert evil.stat().st_size == real.stat().st_size
    stamp = real.stat()
    os.utime(evil, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    py_compile.compile(str(evil), cfile=str(folder / "__pycache__" / f"helper.{sys.implementation.cache_tag}.pyc"))
    runtime = PythonRuntime(folder, "model:Model")
    assert runtime.predict(X)["y"].tolist() == [[1.0, 1.0]]
    assert not (folder / "__pycache__" / f"model.{sys.implementation.cache_tag}.pyc").exists()  # none written


def test_a_package_imports_while_another_thread_imports_modules(tmp_path: Path) -> None:
    """Versions load on threads at once: one package's import read `sys.modules` while another's (sklearn's, for
    a model beside it) added to it, and failed with "dictionary changed size during iteration" (seen in CI)."""
    import threading
    import types

    from modelyard.runtimes.python import import_isolated

    (tmp_path / "churner.py").write_text("VALUE = 1\n")
    stop = threading.Event()

    def importing() -> None:  # what another version's load does to sys.modules
        names = [f"_modelyard_test_busy_{i}" for i in range(200)]
        while not stop.is_set():
            for name in names:
                sys.modules[name] = types.ModuleType(name)
            for name in names:
                del sys.modules[name]

    other = threading.Thread(target=importing, daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can: the race shows within a few imports
    other.start()
    try:
        for _ in range(200):
            assert import_isolated(tmp_path, "churner").VALUE == 1
    finally:
        stop.set()
        other.join(timeout=10)
        sys.setswitchinterval(interval)
