"""Who may change what a server serves: the repository API's load and unload need the control token when the
server has one. Compared in constant time; the credential comes from the transport (HTTP's `Authorization: Bearer`,
gRPC's `authorization` metadata), the rule is here, once for both (Triton's `--http-restricted-api`, per server)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from modelyard.errors import PermissionDenied, Unauthenticated

SCHEME = "bearer "


def bearer(header: str | bytes | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None."""
    if header is None:
        return None
    text = header.decode("latin-1") if isinstance(header, bytes) else header
    return text[len(SCHEME) :].strip() if text[: len(SCHEME)].lower() == SCHEME else None


@dataclass(frozen=True, slots=True)
class ControlAccess:
    token: str = ""  # empty: control is open (the CLI allows that on loopback only, unless told otherwise)

    def check(self, credential: str | None) -> None:
        if not self.token:
            return
        if credential is None:
            raise Unauthenticated(
                "the repository API needs this server's control token: send Authorization: Bearer <token>"
            )
        if not hmac.compare_digest(credential.encode(), self.token.encode()):
            raise PermissionDenied("the control token is not this server's")
