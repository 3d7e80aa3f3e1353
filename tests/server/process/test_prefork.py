"""Several workers forked from the process that imported the server's stack, under a lean supervisor: real
processes, real signals."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from modelyard.server.process import prefork
from modelyard.testing import Server, free_port, start_server, stop_server, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not prefork.supported(), reason="needs fork and sigtimedwait")]
BODY = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 32], "data": [0.5] * 32}]}


def until(condition: Callable[[], object], seconds: float = 30) -> None:
    wait_until(condition, seconds)


def workers_of(server: Server) -> list[psutil.Process]:
    """The live workers. A worker killed by a test can be reaped between the listing and its status: gone."""
    live = []
    for p in psutil.Process(server.process.pid).children():
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                live.append(p)
        except psutil.NoSuchProcess:
            continue
    return live


@pytest.fixture
def two_workers(model_folder: Path, tmp_path: Path) -> Iterator[Server]:
    server = start_server([str(model_folder / "tabular"), "--workers", "2", "--grpc-port", "0"], tmp_path / "home")
    until(lambda: len(workers_of(server)) == 2)
    yield server
    stop_server(server)


def test_the_server_is_a_lean_supervisor_of_forked_workers(two_workers: Server) -> None:
    supervisor = psutil.Process(two_workers.process.pid)
    assert "modelyard.server.process.supervisor" in supervisor.cmdline()
    assert len(supervisor.children()) == 2  # the workers alone: no resource tracker, no CLI left behind
    assert supervisor.memory_info().rss < 40 * (1 << 20)  # no runtime, no uvicorn (about 13 MiB)
    for worker in workers_of(two_workers):
        maps = Path(f"/proc/{worker.pid}/maps").read_text()
        assert "onnxruntime" in maps
        assert "cygrpc" not in maps  # --grpc-port 0: gRPC's library is not loaded to be shared
    for _ in range(20):  # each worker accepts on a socket of its own, and answers what the kernel gives it
        response = httpx.post(f"{two_workers.url}/v2/models/tabular/infer", json=BODY, timeout=10)
        assert response.status_code == 200


def test_connections_that_arrive_together_are_spread_over_the_workers(two_workers: Server) -> None:
    """On one shared socket the first worker to wake accepted every connection waiting (wrk's 16 went 14 to 2)."""
    workers = workers_of(two_workers)
    for worker in workers:  # the connections queue while neither worker runs, as in a burst
        worker.send_signal(signal.SIGSTOP)
    try:
        clients = [socket.create_connection(("127.0.0.1", two_workers.port), timeout=10) for _ in range(32)]
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGCONT)
    request = (
        f"POST /v2/models/tabular/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(json.dumps(BODY))}\r\n\r\n{json.dumps(BODY)}"
    ).encode()
    try:
        for client in clients:
            client.sendall(request)
            assert client.recv(65536).startswith(b"HTTP/1.1 200")
        held = [sum(c.status == psutil.CONN_ESTABLISHED for c in w.net_connections()) for w in workers]
        assert sum(held) == 32
        assert min(held) >= 6, held  # a fair split of 32 is this lopsided once in 10,000
    finally:
        for client in clients:
            client.close()


def test_a_killed_worker_is_replaced_and_the_others_serve_meanwhile(two_workers: Server) -> None:
    victim, survivor = workers_of(two_workers)
    victim.send_signal(signal.SIGKILL)
    for _ in range(20):
        assert httpx.post(f"{two_workers.url}/v2/models/tabular/infer", json=BODY, timeout=10).status_code == 200
    until(lambda: len(workers_of(two_workers)) == 2 and victim.pid not in {p.pid for p in workers_of(two_workers)})
    replacement = next(p for p in workers_of(two_workers) if p.pid != survivor.pid)
    until(lambda: "onnxruntime" in Path(f"/proc/{replacement.pid}/maps").read_text())
    assert f"worker {victim.pid} exited (signal SIGKILL); starting another" in two_workers.log.read_text()


def test_sigterm_drains_every_worker_and_exits_zero(model_folder: Path, tmp_path: Path) -> None:
    server = start_server([str(model_folder / "tabular"), "--workers", "2", "--grpc-port", "0"], tmp_path / "home")
    until(lambda: len(workers_of(server)) == 2)
    pids = [p.pid for p in workers_of(server)]
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    until(lambda: not any(psutil.pid_exists(p) for p in pids), 10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_do_not_outlive_their_supervisor(model_folder: Path, tmp_path: Path) -> None:
    server = start_server([str(model_folder / "tabular"), "--workers", "2", "--grpc-port", "0"], tmp_path / "home")
    until(lambda: len(workers_of(server)) == 2)
    workers = workers_of(server)
    server.process.kill()  # no chance to stop them itself
    server.process.wait(timeout=10)
    until(lambda: all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in workers), 15)


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("which", ["--http-port", "--grpc-port"])
def test_a_port_in_use_is_one_line_before_anything_is_printed(
    which: str, workers: str, model_folder: Path, tmp_path: Path
) -> None:
    """It was found after the banner and its curl line (which then reached the other server), as three lines of
    uvicorn's with exit 3 for one worker and another line with exit 1 for two."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--http-port": str(free_port()), "--grpc-port": str(free_port()), which: str(port)}
        result = subprocess.run(
            [sys.executable, "-m", "modelyard", "serve", str(model_folder / "tabular"), "--workers", workers,
             *(x for pair in ports.items() for x in pair)],
            capture_output=True, text=True, timeout=60, env={"MODELYARD_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
    assert result.returncode == 4
    assert result.stdout == ""  # no banner, no curl line
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: address already in use\n"


def test_a_worker_that_cannot_start_stops_the_server_instead_of_restarting_forever(
    model_folder: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(model_folder / "tabular", broken)
    (broken / "model.onnx").write_bytes(b"not a model")  # each worker's startup fails when it loads this
    result = subprocess.run(
        [sys.executable, "-m", "modelyard", "serve", str(broken), "--workers", "2", "--grpc-port", "0",
         "--http-port", str(free_port())],
        capture_output=True, text=True, timeout=60, env={"MODELYARD_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 3
    assert "a worker could not start (see above); stopping" in result.stderr
    assert "starting another" not in result.stderr


def test_a_worker_whose_event_loop_is_stuck_is_replaced(model_folder: Path, tmp_path: Path) -> None:
    """SIGSTOP freezes a worker as a deadlock or a model blocking its loop would: its heartbeat stops."""
    server = start_server(
        [str(model_folder / "tabular"), "--workers", "2", "--grpc-port", "0"], tmp_path / "home",
        env={"MODELYARD_SERVER__WORKER_TIMEOUT_S": "2"},
    )  # fmt: skip
    try:
        # Both serving (a worker that has not written its first heartbeat is still loading, and is left alone).
        until(lambda: server.log.read_text().count("Application startup complete") == 2)
        frozen = workers_of(server)[0]
        frozen.send_signal(signal.SIGSTOP)
        until(lambda: frozen.pid not in {p.pid for p in workers_of(server)} and len(workers_of(server)) == 2)
        assert f"worker {frozen.pid} has not answered for" in server.log.read_text()
        assert httpx.post(f"{server.url}/v2/models/tabular/infer", json=BODY, timeout=10).status_code == 200
    finally:
        stop_server(server)
    assert server.process.returncode == 0


def test_a_stop_while_a_replacement_starts_still_stops_it(model_folder: Path, tmp_path: Path) -> None:
    """The replacement gets SIGTERM while it imports its stack: the signal waits for its handler instead of being
    lost, so the server does not wait out the drain timeout for a worker that never heard it."""
    server = start_server([str(model_folder / "tabular"), "--workers", "2", "--grpc-port", "0"], tmp_path / "home")
    until(lambda: len(workers_of(server)) == 2)
    victim = workers_of(server)[0]
    victim.send_signal(signal.SIGKILL)
    until(lambda: victim.pid not in {p.pid for p in workers_of(server)} and len(workers_of(server)) == 2)
    time.sleep(0.1)  # into its imports (a fresh interpreter takes about a second to start serving)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0  # the drain timeout is 30 s: a lost signal would overrun this
