"""What a client trusts and shows when a server speaks TLS: the same three files for HTTP and for gRPC.

httpx takes an `ssl.SSLContext`, grpcio takes the files' bytes; `Tls` turns one description into both, so a
caller names a CA bundle (and, for a server that asks for client certificates, a certificate and its key) once.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidArgument


@dataclass(frozen=True)
class Tls:
    """`ca`: the certificates to trust (a self-signed server's own certificate will do; None: the system's);
    `cert`, `key`: this client's certificate and key, for a server started with `--tls-ca`."""

    ca: str | Path | None = None
    cert: str | Path | None = None
    key: str | Path | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise InvalidArgument("Tls: give cert and key together (the client's certificate and its private key)")

    def ssl_context(self) -> ssl.SSLContext:
        """For httpx: verification on, against `ca` where given."""
        try:
            context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
            if self.cert is not None:
                context.load_cert_chain(str(self.cert), str(self.key))
        except (OSError, ssl.SSLError) as exc:
            raise InvalidArgument(f"Tls: cannot load the client's TLS files: {exc}") from None
        return context

    def grpc_credentials(self) -> Any:
        """For grpcio: `grpc.ChannelCredentials` from the same files."""
        import grpc

        def read(path: str | Path | None) -> bytes | None:
            try:
                return Path(path).read_bytes() if path else None
            except OSError as exc:
                raise InvalidArgument(f"Tls: cannot read {path}: {exc.strerror}") from None

        return grpc.ssl_channel_credentials(read(self.ca), read(self.key), read(self.cert))
