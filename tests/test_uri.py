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
