"""A small reader for protobuf text format, enough for Triton's `config.pbtxt`.

Every field maps to a list of values (text format repeats a field to append), messages become dicts of lists.
Triton's own proto would need its generated code; the few fields the importer reads do not justify that.
"""

from __future__ import annotations

import re
from typing import Any

from modelyard.errors import InvalidPackage

Message = dict[str, list[Any]]

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"""
    r"""|(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)|(?P<punct>[{}\[\]:,;<>])"""
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise InvalidPackage(f"config.pbtxt: cannot parse near {text[pos : pos + 30]!r}")
        pos = match.end()
        if match.lastgroup:
            out.append((match.lastgroup, match.group(match.lastgroup)))
    return out


def _scalar(kind: str, value: str) -> Any:
    if kind == "str":
        return value[1:-1].encode().decode("unicode_escape")
    if kind == "num":
        return float(value) if any(c in value for c in ".eE") else int(value)
    return {"true": True, "false": False}.get(value, value)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise InvalidPackage("config.pbtxt: unexpected end of file")
        self.i += 1
        return token

    def message(self, closing: str | None) -> Message:
        fields: Message = {}
        while (token := self.peek()) is not None and token[1] != closing:
            kind, name = self.take()
            if kind != "ident":
                raise InvalidPackage(f"config.pbtxt: expected a field name, got {name!r}")
            if self.peek() == ("punct", ":"):
                self.take()
            fields.setdefault(name, []).extend(self.values())
            if self.peek() in (("punct", ","), ("punct", ";")):
                self.take()
        if closing is not None:
            self.take()
        return fields

    def values(self) -> list[Any]:
        kind, value = self.take()
        if value in ("{", "<"):
            return [self.message("}" if value == "{" else ">")]
        if value == "[":
            items: list[Any] = []
            while self.peek() != ("punct", "]"):
                items.extend(self.values())
                if self.peek() == ("punct", ","):
                    self.take()
            self.take()
            return items
        return [_scalar(kind, value)]


def parse_pbtxt(text: str) -> Message:
    return _Parser(text).message(None)


def first(message: Message, key: str, default: Any = None) -> Any:
    values = message.get(key)
    return values[0] if values else default
