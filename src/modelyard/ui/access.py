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

    @staticmethod
    def _same(given: str, expected: str) -> bool:
        """Constant time on bytes: `compare_digest` raises on a str that is not ASCII (a forged cookie)."""
        return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())

    def cookie(self, token: str, name: str) -> str:
        """The cookie's value for a correct token and a plausible name; Unauthenticated otherwise."""
        if self._key is None:
            raise PermissionDenied("this dashboard is read-only: start it with MODELYARD_UI__TOKEN set to sign in")
        if not hmac.compare_digest(token.encode("utf-8", "replace"), self._key):
            raise Unauthenticated("token: that is not this dashboard's token")
        if not NAME.match(name):
            raise Unauthenticated("name: say who you are (letters, digits, spaces, . @ -; at most 64)")
        signed = f"{name}|{int(self._clock()) + SESSION_S}"
        return f"{signed}|{self._mac('session', signed)}"

    def session(self, request: Request) -> str | None:
        """The signed session (`name|expires`) when the cookie is genuine and not expired, else None."""
        if self._key is None:
            return None
        signed, _, mac = request.cookies.get(COOKIE, "").rpartition("|")
        name, _, expires = signed.rpartition("|")
        if not (name and expires.isascii() and expires.isdigit() and self._same(mac, self._mac("session", signed))):
            return None
        return signed if int(expires) > self._clock() else None

    def viewer(self, request: Request) -> str | None:
        """The signed-in name, or None."""
        signed = self.session(request)
        return signed.rpartition("|")[0] if signed is not None else None

    def csrf(self, request: Request) -> str:
        """The form key of this session: it ends with the session, and a new sign-in makes a new one."""
        signed = self.session(request)
        return self._mac("form", signed) if signed is not None else ""

    def actor(self, request: Request, form: Mapping[str, str]) -> str:
        """Who asks for a write, checked; PermissionDenied or Unauthenticated say why not."""
        if self._key is None:
            raise PermissionDenied("this dashboard is read-only: start it with MODELYARD_UI__TOKEN set to allow "
                                   "promote and rollback")  # fmt: skip
        bearer = request.headers.get("authorization", "")
        if bearer:
            scheme, _, token = bearer.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode("utf-8", "replace"),
                                                                     self._key):  # fmt: skip
                raise Unauthenticated("Authorization: not this dashboard's token")
            name = request.headers.get("x-modelyard-actor", "script")
            return f"{name if NAME.match(name) else 'script'} (ui)"
        viewer = self.viewer(request)
        if viewer is None:
            raise Unauthenticated("sign in with the dashboard's token to promote or roll back")
        self.check_form(request, form)
        return f"{viewer} (ui)"

    def check_form(self, request: Request, form: Mapping[str, str]) -> None:
        """PermissionDenied unless the form carries this session's key."""
        if not self._same(form.get("csrf", ""), self.csrf(request)):
            raise PermissionDenied("csrf: this form was not issued to you (a stale page or another site): reload")
