"""Servers for tests: a real `modelyard serve` process on 127.0.0.1 (a free port, ready within a bound), or a
worker's app in this process (`InProcess`), and the one bounded wait (`wait_until`)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from modelyard.client.tls import Tls

if TYPE_CHECKING:
    from modelyard.server.repository.spec import ServeSpec

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout_s: float = 20, interval_s: float = 0.05, what: str = "") -> T:
    """Poll until `condition()` returns a true value, and return that value; AssertionError after `timeout_s`. The
    one bounded wait of the test suite: every loop in a test ends by itself."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what or 'condition'} not met in {timeout_s} s (last: {value!r})")
        time.sleep(interval_s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    grpc_port: int
    process: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> list[int]:
        import psutil

        parent = psutil.Process(self.process.pid)
        return [parent.pid, *(c.pid for c in parent.children(recursive=True))]

    def rss_mib(self) -> float:
        import psutil

        return float(sum(psutil.Process(pid).memory_info().rss for pid in self.pids())) / (1 << 20)

    def memory(self) -> str:
        """The tree's RSS, and its PSS where there is one: forked workers share most pages, which RSS counts once
        per process and PSS once in all."""
        import psutil

        from modelyard.server.metrics.prometheus import memory_bytes  # what /metrics reports: one read of each process

        used = [memory_bytes(psutil.Process(pid)) for pid in self.pids()]
        rss, pss = (sum(u[key] for u in used) / (1 << 20) for key in ("rss_bytes", "pss_bytes"))
        return f"{rss:.0f} MiB RSS ({pss:.0f} PSS)" if psutil.LINUX else f"{rss:.0f} MiB"


def run_cli(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """The real `modelyard` command in a subprocess with MODELYARD_HOME=home, as a user runs it; `ok`: assert it
    succeeded."""
    env = {**os.environ, "MODELYARD_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "modelyard", *args], capture_output=True, text=True, env=env, timeout=120
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    """The CLI's promise on errors: exit `code`, one line on stderr naming `text`, no traceback."""
    assert proc.returncode == code
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert text in lines[0]


def start_server(
    args: list[str],
    home: Path | None = None,
    log: Path | None = None,
    timeout_s: float = 30,
    env: dict[str, str] | None = None,
    tls: Tls | None = None,
) -> Server:
    """`modelyard serve ARGS` on a free port of 127.0.0.1, returned once ready. `home`: the MODELYARD_HOME to use
    (default: inherited); `log`: where its output goes (default: a temporary file); `env`: variables to add;
    `tls`: how to reach a server started with `--tls-cert` (its URL is then https)."""
    port = free_port()
    grpc_port = 0 if "--grpc-port" in args else free_port()
    grpc_args = [] if grpc_port == 0 else ["--grpc-port", str(grpc_port)]
    env = {**os.environ, **(env or {})}
    if home is not None:
        env["MODELYARD_HOME"] = str(home)
    if log is None:
        log = Path(tempfile.mkstemp(prefix="modelyard-server-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "modelyard", "serve", *args, "--http-port", str(port), *grpc_args],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    verify = tls.ssl_context() if tls else True

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(f"{url}/v2/health/ready", timeout=1, verify=verify).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, timeout_s, what="server ready")
    except AssertionError:
        process.kill()
        raise RuntimeError(f"server not ready in {timeout_s} s:\n{log.read_text()}") from None
    return Server(url, port, grpc_port, process, log)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=5)


def record_traffic(home: Path, ref: str, requests: int = 60, shape: tuple[int, int] = (2, 4), seed: int = 0) -> None:
    """`requests` calls of `ref` (input `x`, normal rows of `shape`) through a real `modelyard serve ref
    --log-sample 1`, stopped cleanly after, so that every request is in the traffic log for what judges on it."""
    import numpy as np

    from modelyard.client import Client

    server = start_server([ref, "--log-sample", "1", "--grpc-port", "0"], home)
    try:
        rng = np.random.default_rng(seed)
        with Client(server.url) as client:
            for _ in range(requests):
                client.infer(ref, {"x": rng.normal(size=shape).astype(np.float32)})
    finally:
        stop_server(server)


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh, empty schema on a PostgreSQL server, dropped afterwards: the URL given selects it
    (`options=-csearch_path=...`), so tests and benchmarks never see each other's tables."""
    from sqlalchemy import create_engine, text

    from modelyard.registry.sql.engine import normalize_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(url))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


class InProcess:
    """A worker's app in this process: the REST app, the data plane and the models, without a socket or a
    subprocess. Requests go through httpx's ASGI transport on an event loop of its own, so a test calls it like a
    server (`.post`, `.get`) and also reaches the `dataplane` it runs on."""

    def __init__(self, spec: ServeSpec) -> None:
        import asyncio

        from modelyard.server.worker_app import build_app

        self.loop = asyncio.new_event_loop()
        self.app = build_app(spec)
        self.dataplane = self.app.dataplane
        assert self.app.on_startup is not None
        self.loop.run_until_complete(self.app.on_startup())
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://in-process", timeout=30)

    def run(self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(awaitable)

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        return self.run(self.client.request(method, path, **options))

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)

    def close(self) -> None:
        assert self.app.on_shutdown is not None
        self.run(self.client.aclose())
        self.run(self.app.on_shutdown())
        self.loop.close()
