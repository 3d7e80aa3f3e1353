"""What an artifact store holds that nothing needs: packages no version uses, and copies a killed registration left
under `tmp/`. Pure, the clock passed in. A registration stores its bytes before its row, so bytes younger than
`min_age_s` may belong to one still under way: they are kept."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Garbage:
    packages: tuple[str, ...]  # digests of packages no version uses
    temporary: tuple[str, ...]  # names of leftover copies under tmp/
    kept_young: int  # entries that would qualify but are younger than the minimum age

    def __bool__(self) -> bool:
        return bool(self.packages or self.temporary)


def collect(
    stored: Mapping[str, float],
    in_use: Set[str],
    temporary: Mapping[str, float],
    now: float,
    min_age_s: float,
) -> Garbage:
    """`stored`: digest -> when its package was last written or reused; `temporary`: name -> when it was written."""
    unused = {sha: at for sha, at in stored.items() if sha not in in_use}
    old = sorted(sha for sha, at in unused.items() if now - at >= min_age_s)
    leftovers = sorted(name for name, at in temporary.items() if now - at >= min_age_s)
    young = len(unused) - len(old) + len(temporary) - len(leftovers)
    return Garbage(tuple(old), tuple(leftovers), young)
