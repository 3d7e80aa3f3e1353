"""The protocol package stands alone: importing and using the client loads no module of the server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from modelyard.datatypes import _TO_NUMPY, DATATYPES
from modelyard.protocol.grpc.convert import CONTENTS

PROBE = """
import json, sys
import numpy as np
import grpc
from modelyard import Client
from modelyard.client.transports import _stub
from modelyard.protocol.grpc.convert import infer_request

x = {"x": np.ones((1, 4), np.float32)}
http = Client("http://127.0.0.1:9", protocol="http")._prepare("m@production", None, x, None)
request = Client("127.0.0.1:9", protocol="grpc")._prepare("m", 3, x, ["y"])
_stub(grpc.insecure_channel("127.0.0.1:9"))  # a channel connects on its first call, not here
print(json.dumps(sorted(m for m in sys.modules if m.startswith("modelyard.server") or m in HEAVY)))
"""


@pytest.mark.e2e
def test_the_http_and_grpc_client_load_nothing_of_the_server() -> None:
    heavy = ["uvicorn", "prometheus_client", "psutil", "onnxruntime", "simdjson"]
    code = f"HEAVY = {heavy!r}\n{PROBE}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_one_list_of_datatypes() -> None:
    assert set(_TO_NUMPY) == DATATYPES
    assert set(CONTENTS) | {"FP16"} == DATATYPES  # gRPC's typed contents: every datatype but FP16, raw only
