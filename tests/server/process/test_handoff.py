"""The split of `modelyard serve` into the CLI and the server process that imports its stack meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import psutil
import pytest

from modelyard.server.process import handoff
from modelyard.server.process.memory import limit_arenas
from modelyard.testing import start_server, stop_server, wait_until

pytestmark = pytest.mark.e2e  # real processes: `modelyard serve`, the CLI, or a fresh interpreter


def test_hand_over_without_a_waiting_server_says_so() -> None:
    assert handoff.hand_over("spec.json", "127.0.0.1", 8000, 1, 30) is False


def test_what_both_sides_import_is_imported_once_before_the_fork() -> None:
    """Imported twice side by side on two cores, the shared half of the imports cost more than once before."""
    probe = textwrap.dedent("""
        import json, os, sys
        from modelyard.server.process import handoff
        def fork():
            names = ("numpy", "pydantic", "modelyard.manifest", "onnxruntime", "typer", handoff.SPEC)
            print(json.dumps({n: n in sys.modules for n in names}))
            os._exit(0)
        os.fork = fork
        handoff.split()
    """)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    assert all(loaded[n] for n in ("numpy", "pydantic", handoff.SPEC, "modelyard.manifest"))
    assert not loaded["onnxruntime"]  # the server's own imports run after the fork, beside the CLI's
    assert not loaded["typer"]


def test_arenas_default_to_one_and_the_users_value_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    limit_arenas()
    assert os.environ["MALLOC_ARENA_MAX"] == "1"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    limit_arenas()
    assert os.environ["MALLOC_ARENA_MAX"] == "4"


def split_with_cli(cli_body: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    """A process that splits as `modelyard serve` does, with `cli_body` standing in for the CLI's work."""
    script = tmp_path / "split.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, time
            from modelyard.server.process import handoff
            handoff.split()
            open(sys.argv[1], "w").write(str(os.getpid()))  # only the CLI child gets here
            """
        )
        + textwrap.dedent(cli_body)
    )
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "cli.pid")])


def wait_for(path: Path, timeout_s: float = 30) -> int:
    return int(wait_until(lambda: path.exists() and path.read_text(), timeout_s, 0.02, what=f"{path} written"))


def test_a_cli_that_ends_without_a_spec_gives_its_status(tmp_path: Path) -> None:
    process = split_with_cli("sys.exit(3)", tmp_path)
    assert process.wait(timeout=30) == 3


def test_stopping_before_the_handover_stops_the_cli_too(tmp_path: Path) -> None:
    process = split_with_cli("time.sleep(60)", tmp_path)
    cli = wait_for(tmp_path / "cli.pid")
    assert psutil.Process(cli).ppid() == process.pid
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert not psutil.pid_exists(cli) or psutil.Process(cli).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("workers", [1, 2])
def test_the_started_process_supervises_its_workers_and_the_cli_is_gone(
    model_folder: Path, tmp_path: Path, workers: int
) -> None:
    """The parent preloads the server's stack before it knows the worker count, then supervises only: one worker
    too, so that a worker that dies is replaced."""
    args = [str(model_folder / "tabular"), "--workers", str(workers), "--grpc-port", "0"]
    server = start_server(args, tmp_path / "home")
    try:
        supervisor = psutil.Process(server.process.pid)
        # ready means one worker answers; another may still be loading; the CLI exits right after handing over
        wait_until(lambda: len(with_runtime(supervisor.children())) == workers, 30, what="the workers, loaded")
        wait_until(lambda: len(supervisor.children()) == workers, 10, what="the CLI reaped")
        assert with_runtime([supervisor]) == []
        for worker in supervisor.children():
            assert server.port in {c.laddr.port for c in worker.net_connections() if c.status == "LISTEN"}
    finally:
        stop_server(server)
    assert server.process.returncode == 0  # drained on SIGTERM and exited cleanly


def test_a_single_worker_that_dies_is_replaced(model_folder: Path, tmp_path: Path) -> None:
    """With the default single worker nothing restarted it: one request that crashed it took the server down."""
    server = start_server([str(model_folder / "tabular"), "--grpc-port", "0"], tmp_path / "home")
    try:
        supervisor = psutil.Process(server.process.pid)
        wait_until(lambda: len(with_runtime(supervisor.children())) == 1, 30, what="the worker, loaded")
        (victim,) = supervisor.children()
        victim.kill()
        row = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 32], "data": [0.5] * 32}]}

        def served_again() -> bool:
            try:
                return httpx.post(f"{server.url}/v2/models/tabular/infer", json=row, timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(served_again, 30, 0.1, what="a replacement serving")
        assert victim.pid not in {p.pid for p in supervisor.children()}
    finally:
        stop_server(server)


def with_runtime(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those that have ONNX Runtime's library mapped."""
    return [p for p in processes if "onnxruntime" in Path(f"/proc/{p.pid}/maps").read_text()]
