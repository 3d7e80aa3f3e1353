import pytest

from modelyard.errors import InvalidArgument
from modelyard.uri import ModelRef, check_alias, parse_ref


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("models:/fraud/3", ModelRef("fraud", version=3)),
        ("models:/fraud@production", ModelRef("fraud", alias="production")),
        ("models:/fraud", ModelRef("fraud")),
        ("fraud/12", ModelRef("fraud", version=12)),
        ("fraud@staging", ModelRef("fraud", alias="staging")),
        ("fraud@latest", ModelRef("fraud")),
        ("my-model.v2", ModelRef("my-model.v2")),
    ],
)
def test_parse_ref(text: str, ref: ModelRef) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize("text", ["", "models:/", "models:/a/b", "fraud/x", "fraud@", "fraud@1abc", "-bad", "a/1@b"])
def test_parse_ref_refuses_malformed(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_ref(text)


def test_ref_round_trips_through_str() -> None:
    for text in ("models:/fraud/3", "models:/fraud@production", "models:/fraud"):
        assert str(parse_ref(text)) == text


def test_latest_is_reserved_as_alias() -> None:
    with pytest.raises(InvalidArgument, match="reserved"):
        check_alias("latest")


def test_a_version_past_what_the_registry_stores_is_refused_as_input() -> None:
    """99999999999999999999999 reached the database and came back as a 500 (an SQLite overflow)."""
    assert parse_ref("m/2147483647").version == 2**31 - 1
    with pytest.raises(InvalidArgument, match="version: 99999999999999999999999 is over"):
        parse_ref("m/99999999999999999999999")
