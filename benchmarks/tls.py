"""What TLS costs a request: the same server with and without `--tls-cert/--tls-key`, alternating, in one run.

W1 (the MLP), plaintext and over TLS (a self-signed certificate made by `openssl`), loaded in turn by wrk over
kept-alive connections (the handshake is paid once per connection); with `--new-connections` every request opens
one, as a client without keep-alive would. Prints each round and the TLS/plaintext ratios of the medians.
Needs `wrk` and `openssl`.

    .venv/bin/python benchmarks/tls.py [--rounds 3] [--duration 3] [--conc 1,16] [--body json|binary]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from modelyard.client import Tls
from variants import compare, ratios


def certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)  # fmt: skip
    return cert, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--conc", default="1,16")
    parser.add_argument("--body", choices=["json", "binary"], default="binary")
    parser.add_argument("--new-connections", action="store_true", help="a connection per request (no keep-alive)")
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("openssl") is None:
        sys.exit("wrk and openssl are needed: apt-get install wrk openssl")
    work = Path(tempfile.mkdtemp(prefix="modelyard-tls-"))
    cert, key = certificate(work)
    variants = {"plain": ([], None), "tls": (["--tls-cert", str(cert), "--tls-key", str(key)], Tls(ca=cert))}
    close = 'wrk.headers["Connection"] = "close"\n' if args.new_connections else ""
    concurrencies = tuple(map(int, args.conc.split(",")))
    results = compare(variants, work, args.body, concurrencies, args.rounds, args.duration, close)
    print(f"\nW1 {args.body}{', a connection per request' if args.new_connections else ''}, medians:")
    ratios(results, "plain")


if __name__ == "__main__":
    main()
