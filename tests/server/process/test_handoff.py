"""The split of `modelyard serve` into the CLI and the server process that imports its stack meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

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


def test_the_started_process_is_the_server_and_the_cli_is_gone(model_folder: Path, tmp_path: Path) -> None:
    server = start_server([str(model_folder / "tabular"), "--grpc-port", "0"], tmp_path / "home")
    try:
        # the CLI exits right after handing over; its parent reaps it
        wait_until(lambda: psutil.Process(server.process.pid).children() == [], 10, what="the CLI reaped")
        listening = {c.laddr.port for c in psutil.Process(server.process.pid).net_connections() if c.status == "LISTEN"}
        assert server.port in listening
    finally:
        stop_server(server)
    assert server.process.returncode == 0  # drained on SIGTERM and exited cleanly


def test_a_supervisor_of_several_workers_carries_no_runtime(model_folder: Path, tmp_path: Path) -> None:
    """The parent preloads the server's stack before it knows the worker count; with workers it supervises only."""
    server = start_server([str(model_folder / "tabular"), "--workers", "2", "--grpc-port", "0"], tmp_path / "home")
    try:
        supervisor = psutil.Process(server.process.pid)
        # ready means one worker answers; the other may still be loading
        wait_until(lambda: len(with_runtime(supervisor.children())) == 2, 30, what="two workers with the runtime")
        assert with_runtime([supervisor]) == []
        zombies = [p for p in supervisor.children() if p.status() == psutil.STATUS_ZOMBIE]
        assert zombies == []  # the CLI was reaped before the process became the launcher
    finally:
        stop_server(server)


def with_runtime(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those that have ONNX Runtime's library mapped."""
    return [p for p in processes if "onnxruntime" in Path(f"/proc/{p.pid}/maps").read_text()]
