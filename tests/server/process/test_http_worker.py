"""How a worker runs uvicorn: the stack it preloads, frozen, and the modules it names by string."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from modelyard.server.process import http_worker
from modelyard.server.process.common import GRPC_SERVICE
from modelyard.testing import start_server, stop_server


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


def test_uvicorn_options_carry_tls_and_the_access_log_from_the_spec() -> None:
    plain = http_worker.uvicorn_options(5, {})
    assert plain["access_log"] is False  # the log is for what a person must read
    assert "ssl_certfile" not in plain
    chosen = http_worker.uvicorn_options(5, {"access_log": True, "tls_cert": "c.pem", "tls_key": "k.pem"})
    assert (chosen["access_log"], chosen["ssl_certfile"], chosen["ssl_keyfile"]) == (True, "c.pem", "k.pem")
    assert "ssl_cert_reqs" not in chosen  # no client certificates asked without a CA
    mutual = http_worker.uvicorn_options(5, {"tls_cert": "c.pem", "tls_key": "k.pem", "tls_ca": "ca.pem"})
    assert (mutual["ssl_ca_certs"], mutual["ssl_cert_reqs"]) == ("ca.pem", ssl.CERT_REQUIRED)


@pytest.mark.e2e
def test_access_log_is_an_option(model_folder: Path, tmp_path: Path) -> None:
    for flags, logged in (([], False), (["--access-log"], True)):
        server = start_server([str(model_folder / "tabular"), "--grpc-port", "0", *flags], tmp_path / "home")
        try:
            httpx.get(f"{server.url}/v2/models/tabular")
        finally:
            stop_server(server)
        assert ('"GET /v2/models/tabular HTTP/1.1" 200' in server.log.read_text()) is logged
