from datetime import UTC, datetime

import pytest

from modelyard.errors import FailedPrecondition
from modelyard.registry.aliases import rollback_target
from modelyard.registry.entities import AliasEvent


def events(*moves: tuple[str, int | None, int | None]) -> list[AliasEvent]:
    """Oldest first as written; returned newest first, as the store hands them to rollback_target."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    made = [AliasEvent(i, "m", "prod", kind, a, b, "t", "", at) for i, (kind, a, b) in enumerate(moves)]  # type: ignore[arg-type]
    return made[::-1]


def test_rollback_undoes_the_last_move() -> None:
    assert rollback_target(events(("set", None, 1), ("set", 1, 2), ("set", 2, 3)), "m", "prod") == 2


def test_repeated_rollbacks_walk_back_instead_of_ping_ponging() -> None:
    history = [("set", None, 1), ("set", 1, 2), ("set", 2, 3), ("rollback", 3, 2)]
    assert rollback_target(events(*history), "m", "prod") == 1  # type: ignore[arg-type]


def test_a_move_after_a_rollback_is_undone_first() -> None:
    history = [("set", None, 1), ("set", 1, 2), ("rollback", 2, 1), ("set", 1, 5)]
    assert rollback_target(events(*history), "m", "prod") == 1  # type: ignore[arg-type]


def test_rollback_restores_a_deleted_alias() -> None:
    assert rollback_target(events(("set", None, 4), ("delete", 4, None)), "m", "prod") == 4


@pytest.mark.parametrize(
    "history",
    [[], [("set", None, 1)], [("set", None, 1), ("set", 1, 2), ("rollback", 2, 1)]],
)
def test_nothing_to_roll_back_to(history: list[tuple[str, int | None, int | None]]) -> None:
    with pytest.raises(FailedPrecondition, match="no earlier version"):
        rollback_target(events(*history), "m", "prod")
