"""How a worker runs uvicorn: the stack it preloads, frozen, and the modules it names by string."""

from __future__ import annotations

import subprocess
import sys

import pytest

from modelyard.server.process import http_worker
from modelyard.server.process.common import GRPC_SERVICE


@pytest.mark.e2e
def test_the_preloaded_stack_is_frozen_out_of_the_collectors_sight() -> None:
    """Forked workers would otherwise copy every page of it the first time their collector runs. In a fresh
    interpreter: the test process's own collector is left as it is."""
    code = (
        "import gc; from modelyard.server.process import http_worker; http_worker.preload(grpc=False); "
        "print(gc.get_freeze_count())"
    )
    frozen = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert frozen > 10_000  # numpy, ONNX Runtime, uvicorn, pydantic and the server: about 56,000 objects


def test_a_worker_without_grpc_does_not_preload_it() -> None:
    assert GRPC_SERVICE in http_worker.preloaded(grpc=True)
    assert GRPC_SERVICE not in http_worker.preloaded(grpc=False)
