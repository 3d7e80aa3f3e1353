"""An idle server's processes sleep: they wake a few times a second at most, whatever they serve.

Wakes, not CPU seconds: on a shared machine a wake of an idle process costs anywhere from 0.1 to 5 ms, so a CPU
bound would measure the machine; the number of times each process leaves its sleep is the server's own doing
(the CPU it comes to is measured by benchmarks/idle.py and reported in docs/measurements.md).
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from modelyard import examples
from modelyard.registry import Registry
from modelyard.settings import Settings
from modelyard.testing import start_server, stop_server, wait_until

pytestmark = pytest.mark.e2e


def wakes(pid: int) -> int:
    """How often the process's main thread has blocked and been woken (its voluntary context switches)."""
    for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_an_idle_server_announcing_a_registry_model_sleeps(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Registry.from_settings(Settings(home=home)) as registry:
        registry.register(examples.mlp_onnx(tmp_path / "m.onnx"), name="scorer")
        registry.set_alias("scorer", "production", 1)
        server = start_server(["scorer@production"], home)  # announces itself; gRPC on
        try:
            wait_until(lambda: [s.ready for s in registry.servers("scorer")] == [True], what="announced ready")
            root = psutil.Process(server.process.pid)
            processes = {p.pid: " ".join(p.cmdline()[1:3]) for p in [root, *root.children()]}
            assert len(processes) == 3  # the supervisor, one worker, the registry follower
            time.sleep(2.0)  # past the startup's and the first heartbeats' work
            before = {pid: wakes(pid) for pid in processes}
            started = time.monotonic()
            time.sleep(10.0)
            elapsed = time.monotonic() - started
            rates = {processes[pid]: (wakes(pid) - n) / elapsed for pid, n in before.items()}
        finally:
            stop_server(server)
    # uvicorn alone woke its worker 10 times a second, the worker's telemetry and spec watch 3 more, and the
    # follower twice a second: now the worker wakes for its date header and its spec watch (about 2 a second),
    # the follower and the supervisor once per heartbeat or look (every 5 s).
    assert max(rates.values()) < 3.0, rates
    assert sum(rates.values()) < 4.0, rates
