"""Run a real `modelyard serve` process in tests: on 127.0.0.1, a free port, waiting for readiness with a bound."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


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

        from modelyard.server.metrics import memory_bytes  # what /metrics reports: one read of each process

        used = [memory_bytes(psutil.Process(pid)) for pid in self.pids()]
        rss, pss = (sum(u[key] for u in used) / (1 << 20) for key in ("rss_bytes", "pss_bytes"))
        return f"{rss:.0f} MiB RSS ({pss:.0f} PSS)" if psutil.LINUX else f"{rss:.0f} MiB"


def start_server(
    args: list[str],
    home: Path | None = None,
    log: Path | None = None,
    timeout_s: float = 30,
    env: dict[str, str] | None = None,
) -> Server:
    """`modelyard serve ARGS` on a free port of 127.0.0.1, returned once ready. `home`: the MODELYARD_HOME to use
    (default: inherited); `log`: where its output goes (default: a temporary file); `env`: variables to add."""
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
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return Server(url, port, grpc_port, process, log)
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"server not ready in {timeout_s} s:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=5)


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
