"""Pure alias-history rules, kept apart from SQL so they can be tested event by event."""

from __future__ import annotations

from collections.abc import Iterable

from modelyard.errors import FailedPrecondition
from modelyard.registry.entities import AliasEvent


def rollback_target(newest_first: Iterable[AliasEvent], name: str, alias: str) -> int:
    """The version a rollback moves the alias to.

    History works as an undo stack: each rollback undoes the newest move (set or delete) that no later rollback has
    already undone. So set 1, set 2, set 3, rollback, rollback leaves the alias at 1, and every step is recorded.
    """
    pending_undos = 0
    for event in newest_first:
        if event.kind == "rollback":
            pending_undos += 1
        elif pending_undos:
            pending_undos -= 1
        elif event.from_version is None:
            break
        else:
            return event.from_version
    raise FailedPrecondition(f"alias {name}@{alias} has no earlier version to roll back to")
