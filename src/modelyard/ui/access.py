"""Who may change things from the page. Reading is open (the page shows what `modelyard models` shows to anyone
who can reach the registry); promote and rollback need the operator's token (`MODELYARD_UI__TOKEN`).

A person signs in once with the token and a name: the page sets a cookie holding the name, when it expires (12 h)
and an HMAC of both under the token (HttpOnly, SameSite=Strict: no other site can make the browser send it; a
copied cookie stops working when it expires, and every cookie when the token changes), and every form carries a second
HMAC, so a cross-site form cannot post even where a browser ignores SameSite. Scripts may instead send
`Authorization: Bearer TOKEN` with an `X-Modelyard-Actor` header. The name goes into the registry as the actor of
the alias move (`NAME (ui)`), so the timeline says who pressed the button. Without a token the page is read-only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping

from starlette.requests import Request

from modelyard.errors import PermissionDenied, Unauthenticated

COOKIE = "modelyard_ui"
NAME = re.compile(r"^[\w .@-]{1,64}$")
SESSION_S = 12 * 3600


class Access:
    def __init__(self, token: str | None, clock: Callable[[], float] = time.time) -> None:
        self._key = token.encode() if token else None
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def _mac(self, purpose: str, name: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, f"{purpose}:{name}".encode(), hashlib.sha256).hexdigest()

    def cookie(self, token: str, name: str) -> str:
        """The cookie's value for a correct token and a plausible name; Unauthenticated otherwise."""
        if self._key is None:
            raise PermissionDenied("this dashboard is read-only: start it with MODELYARD_UI__TOKEN set to sign in")
        if not hmac.compare_digest(token.encode(), self._key):
            raise Unauthenticated("token: that is not this dashboard's token")
        if not NAME.match(name):
            raise Unauthenticated("name: say who you are (letters, digits, spaces, . @ -; at most 64)")
        signed = f"{name}|{int(self._clock()) + SESSION_S}"
        return f"{signed}|{self._mac('session', signed)}"

    def viewer(self, request: Request) -> str | None:
        """The signed-in name, or None."""
        if self._key is None:
            return None
        signed, _, mac = request.cookies.get(COOKIE, "").rpartition("|")
        name, _, expires = signed.rpartition("|")
        if not (name and expires.isdigit() and hmac.compare_digest(mac, self._mac("session", signed))):
            return None
        return name if int(expires) > self._clock() else None

    def csrf(self, viewer: str) -> str:
        return self._mac("form", viewer)

    def actor(self, request: Request, form: Mapping[str, str]) -> str:
        """Who asks for a write, checked; PermissionDenied or Unauthenticated say why not."""
        if self._key is None:
            raise PermissionDenied("this dashboard is read-only: start it with MODELYARD_UI__TOKEN set to allow "
                                   "promote and rollback")  # fmt: skip
        bearer = request.headers.get("authorization", "")
        if bearer:
            scheme, _, token = bearer.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._key):
                raise Unauthenticated("Authorization: not this dashboard's token")
            name = request.headers.get("x-modelyard-actor", "script")
            return f"{name if NAME.match(name) else 'script'} (ui)"
        viewer = self.viewer(request)
        if viewer is None:
            raise Unauthenticated("sign in with the dashboard's token to promote or roll back")
        if not hmac.compare_digest(form.get("csrf", ""), self.csrf(viewer)):
            raise PermissionDenied("csrf: this form was not issued to you (a stale page or another site): reload")
        return f"{viewer} (ui)"
