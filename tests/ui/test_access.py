"""Who may write from the dashboard, tick by tick on a clock passed in: a signed-in name lasts its session and
no longer, a cookie edited or signed under another token is nobody, a form must carry its viewer's key."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from modelyard.errors import PermissionDenied, Unauthenticated
from modelyard.ui.access import COOKIE, SESSION_S, Access

TOKEN = "the-operators-token"


def request(cookie: str = "", authorization: str = "", actor: str = "") -> Request:
    headers = [(b"cookie", f"{COOKIE}={cookie}".encode())] if cookie else []
    if authorization:
        headers.append((b"authorization", authorization.encode()))
    if actor:
        headers.append((b"x-modelyard-actor", actor.encode()))
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers})


def test_a_session_lasts_its_time_and_no_longer() -> None:
    now = [1_000.0]
    access = Access(TOKEN, clock=lambda: now[0])
    cookie = access.cookie(TOKEN, "ada")
    assert access.viewer(request(cookie)) == "ada"
    now[0] += SESSION_S - 1
    assert access.viewer(request(cookie)) == "ada"
    now[0] += 2
    assert access.viewer(request(cookie)) is None  # a copied cookie stops working


def test_an_edited_cookie_or_one_under_another_token_is_nobody() -> None:
    access = Access(TOKEN)
    name, expires, mac = access.cookie(TOKEN, "ada").split("|")
    assert name == "ada"
    assert access.viewer(request(f"eve|{expires}|{mac}")) is None
    assert access.viewer(request(f"ada|{int(expires) + 10**6}|{mac}")) is None  # a longer session, self-granted
    assert access.viewer(request(Access("another-token-here").cookie("another-token-here", "ada"))) is None
    assert access.viewer(request("garbage")) is None
    assert access.viewer(request(f"ada|{expires}|é")) is None  # compare_digest raises on such a str


def test_a_write_needs_the_viewer_s_form_key_or_the_token_itself() -> None:
    now = [1_000.0]
    access = Access(TOKEN, clock=lambda: now[0])
    signed_in = request(access.cookie(TOKEN, "ada"))
    assert access.actor(signed_in, {"csrf": access.csrf(signed_in)}) == "ada (ui)"
    with pytest.raises(PermissionDenied, match="csrf"):
        access.actor(signed_in, {"csrf": access.csrf(request(access.cookie(TOKEN, "eve")))})
    now[0] += 1
    later = request(access.cookie(TOKEN, "ada"))  # ada signs in again: the old page's key is not this session's
    with pytest.raises(PermissionDenied, match="csrf"):
        access.actor(later, {"csrf": access.csrf(signed_in)})
    with pytest.raises(PermissionDenied, match="csrf"):
        access.actor(signed_in, {"csrf": "é"})  # not ASCII: refused, not a 500
    with pytest.raises(Unauthenticated, match="sign in"):
        access.actor(request(), {})
    assert access.actor(request(authorization=f"Bearer {TOKEN}", actor="deploy-bot"), {}) == "deploy-bot (ui)"
    with pytest.raises(Unauthenticated, match="Authorization"):
        access.actor(request(authorization="Bearer guess"), {})
    with pytest.raises(Unauthenticated, match="token"):
        access.cookie("guess", "ada")
    with pytest.raises(PermissionDenied, match="read-only"):
        Access(None).actor(signed_in, {})
