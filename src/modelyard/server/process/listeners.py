"""A listening socket per forked worker, all on one port: the kernel spreads the connections among them.

Workers that accept from one shared socket do not share its connections evenly. Woken together, the first to
run takes every connection waiting (libuv accepts until the queue is empty): wrk's 16 connections, opened at
once, went 14 to one worker and 2 to the other, and one core sat idle (a harness run of two workers gave W1 at
c=16 the throughput of one). With SO_REUSEPORT each worker listens on a socket of its own and Linux hashes each
new connection's addresses to one of them.

A socket lives in its worker alone (the supervisor keeps no copy): when a worker dies its socket closes with it
and new connections go to the others, rather than waiting in a queue nobody accepts from until a replacement has
started. A replacement binds its own once it has imported its stack.
"""

from __future__ import annotations

import socket
import sys

from modelyard.errors import PortInUse
from modelyard.server.process.common import BACKLOG


def supported() -> bool:
    """Linux balances SO_REUSEPORT listeners; elsewhere (the BSDs) the last one bound would take everything."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A listening socket, or one line on stderr and PortInUse's exit status when the address is taken (the CLI
    checks first, `check_free`; this is the same answer for a port taken since)."""
    try:
        return _listen(host, port, reuse_port)
    except PortInUse as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        raise SystemExit(PortInUse.exit_code) from None


def _listen(host: str, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUse(f"cannot listen on {host}:{port}: {(exc.strerror or str(exc)).lower()}") from None
    sock.listen(BACKLOG)
    return sock


def check_free(host: str, port: int) -> None:
    """Raise PortInUse unless the port is free. Anyone on it, another modelyard server included, fails this plain
    bind; a reuse-port bind alone (our workers' sockets, gRPC's) would join a server of the same user and split
    its traffic without a word."""
    if port:
        _listen(host, port, reuse_port=False).close()


def owned(host: str, port: int) -> None:
    """`check_free`, answered as `bind` answers."""
    if port:
        bind(host, port).close()


def per_worker(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listeners on one port (port 0: the one the first is given)."""
    owned(host, port)
    first = bind(host, port, reuse_port=True)
    port = first.getsockname()[1]
    return [first, *(bind(host, port, reuse_port=True) for _ in range(count - 1))]
