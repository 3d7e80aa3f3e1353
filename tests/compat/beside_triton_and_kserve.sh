#!/usr/bin/env bash
# modelyard installed first, then the clients Triton and KServe users already have, at their latest: the server
# must still start and answer tritonclient over HTTP and gRPC. (tritonclient and kserve pin protobuf below 7; a
# modelyard whose generated code needed protobuf 7 died at start once they had downgraded it.)
# Run by .ci/run after `make test`; by hand: bash tests/compat/beside_triton_and_kserve.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
pip="$work/venv/bin/python -m pip install -q --disable-pip-version-check"
$pip .
$pip 'tritonclient[all]' kserve
"$work/venv/bin/python" -m pip list 2>/dev/null | grep -iE '^(protobuf|grpcio|tritonclient|kserve|modelyard) '
"$work/venv/bin/python" - "$work" <<'PY'
import socket, subprocess, sys, time
from pathlib import Path

import numpy as np
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp

from modelyard import examples
from modelyard.packaging import build_package

work = Path(sys.argv[1])
build_package(examples.mlp_onnx(work / "m.onnx"), work / "tabular", name="tabular")
ports = []
for _ in range(2):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
server = subprocess.Popen(
    [sys.executable, "-m", "modelyard", "serve", str(work / "tabular"), "--http-port", str(ports[0]),
     "--grpc-port", str(ports[1])],
    env={"MODELYARD_HOME": str(work / "home"), "PATH": "/usr/bin:/bin"},
)
(work / "pid").write_text(str(server.pid))
x = np.ones((1, 32), np.float32)
http = thttp.InferenceServerClient(f"127.0.0.1:{ports[0]}")
deadline = time.monotonic() + 60
while True:
    if server.poll() is not None:
        sys.exit(f"the server exited with {server.returncode}")
    try:
        if http.is_server_ready():
            break
    except Exception:
        pass
    if time.monotonic() > deadline:
        sys.exit("the server was not ready in 60 s")
    time.sleep(0.2)
inp = thttp.InferInput("x", [1, 32], "FP32")
inp.set_data_from_numpy(x)
y_http = http.infer("tabular", [inp]).as_numpy("y")
g = tgrpc.InferenceServerClient(f"127.0.0.1:{ports[1]}")
ginp = tgrpc.InferInput("x", [1, 32], "FP32")
ginp.set_data_from_numpy(x)
y_grpc = g.infer("tabular", [ginp]).as_numpy("y")
assert y_http.shape == (1, 1) and np.allclose(y_http, y_grpc), (y_http, y_grpc)
server.terminate()
server.wait(timeout=30)
print("beside tritonclient[all] and kserve: served, and answered over HTTP and gRPC alike")
PY
