"""Python models in processes of their own: shared-memory tensors, real parallelism, errors, clean shutdown."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from modelyard.errors import ModelExecutionError
from modelyard.manifest import read_manifest
from modelyard.packaging import build_package
from modelyard.server.models.served import load_instances

BUSY_MODEL = """
import os, time
import numpy as np

class Busy:
    def predict(self, inputs):
        x = inputs["x"]
        if (x < 0).any():
            raise ValueError("negative")
        start = time.time()
        while time.time() - start < float(x.ravel()[0]):  # holds the GIL: only processes run this in parallel
            pass
        out = {"y": x * 2, "pid": np.array([os.getpid()]), "when": np.array([start, time.time()])}
        if "tag" in inputs:
            out["tag"] = inputs["tag"]
        return out
"""


@pytest.fixture
def package(tmp_path: Path) -> Path:
    (tmp_path / "busy.py").write_text(BUSY_MODEL)
    example = {"x": np.zeros((1, 2), np.float32)}
    options = {"instances": {"count": 2, "kind": "process"}}
    build_package(tmp_path / "busy.py", tmp_path / "pkg", python_class="Busy", example=example, options=options)
    return tmp_path / "pkg"


def shm_blocks() -> set[str]:
    return {p.name for p in Path("/dev/shm").iterdir()} if Path("/dev/shm").is_dir() else set()


def test_process_instances_run_in_parallel_with_shared_memory_tensors(package: Path) -> None:
    before = shm_blocks()
    manifest = read_manifest(package)
    instances = load_instances(package, manifest)
    try:
        assert len({id(i) for i in instances}) == 2
        results: list[dict[str, np.ndarray]] = [{}, {}]

        def call(i: int) -> None:
            results[i] = instances[i].predict({"x": np.full((3, 2), 0.3, np.float32)})

        threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        pids = {int(r["pid"][0]) for r in results}
        assert len(pids) == 2
        assert os.getpid() not in pids
        (start_a, end_a), (start_b, end_b) = (r["when"] for r in results)
        assert start_a < end_b  # both ran at the same time
        assert start_b < end_a
        np.testing.assert_array_equal(results[0]["y"], np.full((3, 2), 0.6, np.float32))

        tags = np.array([b"a", b"bc"], dtype=object)
        out = instances[0].predict({"x": np.zeros((2, 2), np.float32), "tag": tags})
        assert list(out["tag"]) == [b"a", b"bc"]

        with pytest.raises(ModelExecutionError, match="negative"):
            instances[0].predict({"x": -np.ones((1, 2), np.float32)})
        assert instances[0].predict({"x": np.zeros((1, 2), np.float32)})["y"].shape == (1, 2)
    finally:
        for instance in instances:
            instance.unload()
    assert all(not i.process.is_alive() for i in instances)  # type: ignore[attr-defined]
    assert shm_blocks() <= before
