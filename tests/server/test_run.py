"""What every serving process shares: the preloaded stack."""

from __future__ import annotations

import subprocess
import sys


def test_the_preloaded_stack_is_frozen_out_of_the_collectors_sight() -> None:
    """Forked workers would otherwise copy every page of it the first time their collector runs. In a fresh
    interpreter: the test process's own collector is left as it is."""
    code = "import gc; from modelyard.server.run import preload; preload(grpc=False); print(gc.get_freeze_count())"
    frozen = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert frozen > 10_000  # numpy, ONNX Runtime, uvicorn, pydantic and the server: about 56,000 objects
