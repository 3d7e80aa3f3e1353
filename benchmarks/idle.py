"""What an idle server costs: the CPU and the wakes of its whole process tree, beside the floor of this machine.

Serves a registry model (announced for discovery; with `--follow`, followed too), waits for it to settle, then
measures every process of the tree for `--seconds`: CPU time (user + system) and how often each main thread woke
(voluntary context switches). Alongside, in the same window, a bare uvloop process that wakes once a second: on a
shared virtual machine a wake of an idle process costs 0.1-5 ms, so that floor says what a wake costs here.

    .venv/bin/python benchmarks/idle.py [--seconds 30] [--follow] [--workers 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from modelyard import examples
from modelyard.registry import Registry
from modelyard.settings import Settings
from modelyard.testing import start_server, stop_server, wait_until

FLOOR = "import asyncio, uvloop\nasync def main():\n    while True: await asyncio.sleep(1.0)\nuvloop.run(main())"


def figures(processes: list[psutil.Process]) -> dict[int, tuple[float, int]]:
    """Per process: CPU seconds and its main thread's voluntary context switches."""
    found = {}
    for p in processes:
        cpu = p.cpu_times()
        status = Path(f"/proc/{p.pid}/task/{p.pid}/status").read_text()
        switches = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("voluntary_ctxt"))
        found[p.pid] = (cpu.user + cpu.system, switches)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--follow", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="modelyard-idle-"))
    with Registry.from_settings(Settings(home=home)) as registry:
        registry.register(examples.mlp_onnx(home / "m.onnx"), name="scorer")
        registry.set_alias("scorer", "production", 1)
        extra = ["--follow"] if args.follow else []
        server = start_server(["scorer@production", "--workers", str(args.workers), *extra], home)
        floor = subprocess.Popen([sys.executable, "-c", FLOOR])
        try:
            wait_until(lambda: [s.ready for s in registry.servers("scorer")] == [True], what="announced ready")
            root = psutil.Process(server.process.pid)
            tree = [root, *root.children(recursive=True)]
            names = {p.pid: " ".join(p.cmdline()[1:3])[:48] for p in tree}
            time.sleep(3.0)
            watched = [*tree, psutil.Process(floor.pid)]
            before, started = figures(watched), time.monotonic()
            time.sleep(args.seconds)
            after, elapsed = figures(watched), time.monotonic() - started
        finally:
            floor.kill()
            stop_server(server)

    def share(pid: int) -> tuple[float, float]:
        return (after[pid][0] - before[pid][0]) / elapsed, (after[pid][1] - before[pid][1]) / elapsed

    print(f"idle for {elapsed:.0f} s, serving scorer@production{' --follow' if args.follow else ''}")
    for p in tree:
        cpu, wakes = share(p.pid)
        print(f"  {names[p.pid]:<48} {100 * cpu:6.2f} % of a core  {wakes:5.1f} wakes/s")
    total = sum(share(p.pid)[0] for p in tree)
    floor_cpu, floor_wakes = share(floor.pid)
    print(f"whole tree: {100 * total:.2f} % of a core, {sum(share(p.pid)[1] for p in tree):.1f} wakes/s")
    print(f"floor (one wake a second): {100 * floor_cpu:.2f} % of a core, {floor_wakes:.1f} wakes/s; "
          f"tree / floor = {total / floor_cpu if floor_cpu else float('inf'):.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
