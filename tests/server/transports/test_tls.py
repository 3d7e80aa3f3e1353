"""HTTPS and gRPC over TLS, with and without client certificates, against certificates made by `openssl` for
this test: a CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import numpy as np
import pytest

from modelyard import examples
from modelyard.client import Client, Tls
from modelyard.errors import ModelyardError
from modelyard.registry import Registry
from modelyard.settings import Settings
from modelyard.testing import Server, assert_one_line_error, run_cli, start_server, stop_server, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")]
X = np.zeros((1, 32), np.float32)


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


def openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    d = tmp_path_factory.mktemp("tls")
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca", cwd=d)
    for name, extension in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        (d / f"{name}.ext").write_text(extension + "\n")
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)  # fmt: skip
    return Certificates(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key")


def serve_tls(model_folder: Path, home: Path, certs: Certificates, *extra: str, tls: Tls) -> Server:
    args = [str(model_folder / "tabular"), "--tls-cert", str(certs.cert), "--tls-key", str(certs.key), *extra]
    return start_server(args, home, tls=tls)


@pytest.fixture(scope="module")
def tls_server(model_folder: Path, certs: Certificates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = serve_tls(model_folder, tmp_path_factory.mktemp("home"), certs, tls=Tls(ca=certs.ca))
    yield server
    stop_server(server)


def infer(url: str, tls: Tls | None, protocol: Literal["http", "grpc"] = "http") -> np.ndarray:
    with Client(url, protocol=protocol, tls=tls, timeout_s=5) as client:
        return client.infer("tabular", {"x": X})["y"]


def test_https_and_grpc_over_tls_answer_a_client_that_trusts_the_ca(tls_server: Server, certs: Certificates) -> None:
    assert tls_server.url.startswith("https://")
    over_http = infer(tls_server.url, Tls(ca=certs.ca))
    over_grpc = infer(f"127.0.0.1:{tls_server.grpc_port}", Tls(ca=certs.ca), "grpc")
    np.testing.assert_array_equal(over_http, over_grpc)
    verify = ssl.create_default_context(cafile=str(certs.ca))
    assert httpx.get(f"{tls_server.url}/v2/health/ready", verify=verify).status_code == 200


def test_plaintext_and_untrusted_clients_get_nothing(tls_server: Server, certs: Certificates) -> None:
    with pytest.raises(httpx.HTTPError):  # plaintext HTTP on the TLS port: the handshake fails, no answer
        httpx.get(f"http://127.0.0.1:{tls_server.port}/v2/health/ready", timeout=5)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # the system CAs do not know it
        httpx.get(f"{tls_server.url}/v2/health/ready", timeout=5)
    with pytest.raises(ModelyardError):  # a plaintext gRPC channel
        infer(f"127.0.0.1:{tls_server.grpc_port}", None, "grpc")


def test_with_tls_ca_a_client_needs_a_certificate_the_ca_signed(
    model_folder: Path, certs: Certificates, tmp_path: Path
) -> None:
    mutual = Tls(ca=certs.ca, cert=certs.client_cert, key=certs.client_key)
    server = serve_tls(model_folder, tmp_path / "home", certs, "--tls-ca", str(certs.ca), tls=mutual)
    try:
        np.testing.assert_array_equal(infer(server.url, mutual), infer(f"127.0.0.1:{server.grpc_port}", mutual, "grpc"))
        with pytest.raises(ModelyardError):  # trusts the server, shows no certificate
            infer(server.url, Tls(ca=certs.ca))
        with pytest.raises(ModelyardError):
            infer(f"127.0.0.1:{server.grpc_port}", Tls(ca=certs.ca), "grpc")
    finally:
        stop_server(server)


def test_a_tls_server_announces_an_https_url_and_turns_ready(
    model_folder: Path, certs: Certificates, tmp_path: Path
) -> None:
    """The follower learns readiness from the workers' snapshots, not by calling the server's port, so a TLS port
    that asks for client certificates changes nothing for it."""
    home = tmp_path / "home"
    with Registry.from_settings(Settings(home=home)) as registry:
        registry.register(examples.mlp_onnx(tmp_path / "m.onnx"), name="scorer")
        registry.set_alias("scorer", "production", 1)
        mutual = Tls(ca=certs.ca, cert=certs.client_cert, key=certs.client_key)
        args = ["scorer@production", "--tls-cert", str(certs.cert), "--tls-key", str(certs.key)]
        server = start_server([*args, "--tls-ca", str(certs.ca)], home, tls=mutual)
        try:
            wait_until(lambda: [s.ready for s in registry.servers("scorer")] == [True], what="announced ready")
            (record,) = registry.servers("scorer")
            assert record.http_url == server.url
            assert [(m.name, m.version) for m in record.models] == [("scorer", "1")]
            with Client(registry=registry, tls=mutual, timeout_s=5) as client:  # found by discovery, over TLS
                assert client.infer("scorer@production", {"x": X})["y"].shape[0] == 1
        finally:
            stop_server(server)


@pytest.mark.parametrize(
    ("flags", "text"),
    [
        (["--tls-cert", "{cert}"], "--tls-cert and --tls-key go together"),
        (["--tls-ca", "{ca}"], "--tls-ca: client certificates need TLS"),
        (["--tls-cert", "{cert}", "--tls-key", "{missing}"], "--tls-key: no such file"),
        (["--tls-cert", "{cert}", "--tls-key", "{client_key}"], "--tls-cert/--tls-key: cannot use them"),
        (["--tls-cert", "{cert}", "--tls-key", "{key}", "--tls-ca", "{key}"], "--tls-ca: cannot use it"),
    ],
)
def test_bad_tls_files_are_one_line(
    flags: list[str], text: str, model_folder: Path, certs: Certificates, tmp_path: Path
) -> None:
    files = {"cert": certs.cert, "key": certs.key, "ca": certs.ca, "client_key": certs.client_key,
             "missing": tmp_path / "missing.key"}  # fmt: skip
    argv = [f.format(**files) for f in flags]
    proc = run_cli(tmp_path / "home", "serve", str(model_folder / "tabular"), "--http-port", "0", *argv, ok=False)
    assert_one_line_error(proc, 2, text)
