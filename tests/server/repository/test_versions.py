"""Version policies: parsing, choosing among available versions, and Triton's `version_policy`."""

from __future__ import annotations

import pytest

from modelyard.errors import InvalidArgument
from modelyard.packaging.pbtxt import parse_pbtxt
from modelyard.server.repository.versions import VersionPolicy


@pytest.mark.parametrize(
    ("text", "chosen"),
    [("latest", [7]), ("latest:2", [5, 7]), ("latest:9", [1, 2, 5, 7]), ("all", [1, 2, 5, 7]), ("2,7,8", [2, 7])],
)
def test_policies_choose_among_available_versions(text: str, chosen: list[int]) -> None:
    policy = VersionPolicy.parse(text)
    assert policy.select([5, 1, 7, 2]) == chosen
    assert VersionPolicy.parse(str(policy)) == policy  # round-trips through its text


@pytest.mark.parametrize("text", ["latest:0", "latest:x", "newest", "1,a", ""])
def test_bad_policies_name_the_option(text: str) -> None:
    with pytest.raises(InvalidArgument, match="--versions"):
        VersionPolicy.parse(text)


@pytest.mark.parametrize(
    ("pbtxt", "chosen"),
    [
        ("", [3]),  # Triton's default: the newest only
        ("version_policy: { latest: { num_versions: 2 } }", [2, 3]),
        ("version_policy: { all {} }", [1, 2, 3]),
        ("version_policy: { specific { versions: [1, 3] } }", [1, 3]),
    ],
)
def test_triton_version_policy(pbtxt: str, chosen: list[int]) -> None:
    assert VersionPolicy.from_triton(parse_pbtxt(pbtxt)).select([1, 2, 3]) == chosen
