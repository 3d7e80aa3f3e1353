"""When drift pages someone, tick by tick: k of m windows, a cooldown, a new version starting over."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.errors import InvalidArgument
from modelyard.monitoring.alerts import MonitorPolicy, Persistence, Seen

POLICY = MonitorPolicy(k=2, m=3, cooldown_s=3600)


def window(at: float, drift: bool | None, version: int = 1, features: tuple[str, ...] = ("x[0]",)) -> Seen:
    return Seen(at, version, drift, tuple((f, 0.4) for f in features) if drift else (), rows=500)


def test_one_noisy_window_pages_nobody_two_of_three_do() -> None:
    watch = Persistence(POLICY)
    assert watch.observe(window(0, True)) is None  # one window: noise, perhaps
    assert watch.observe(window(300, False)) is None
    alert = watch.observe(window(600, True))  # two of the last three
    assert alert is not None
    assert alert.features == (("x[0]", 0.4),)
    assert [w.at for w in alert.windows] == [0, 300, 600]


def test_windows_without_evidence_count_neither_way_and_old_ones_fall_out() -> None:
    watch = Persistence(POLICY)
    assert watch.observe(window(0, True)) is None
    assert watch.observe(window(300, None)) is None  # too few rows to say: not a vote
    assert watch.observe(window(600, False)) is None
    assert watch.observe(window(900, False)) is None  # the first drift is now outside the last three
    assert watch.observe(window(1200, True)) is None


def test_the_same_alert_cools_down_and_a_new_feature_is_a_new_alert() -> None:
    watch = Persistence(POLICY)
    watch.observe(window(0, True))
    assert watch.observe(window(300, True)) is not None
    assert watch.observe(window(600, True)) is None  # the same drift, within the cooldown
    again = watch.observe(window(900, True, features=("x[0]", "x[7]")))
    assert again is not None  # x[7] too: something new
    assert {name for name, _ in again.features} == {"x[0]", "x[7]"}
    assert watch.observe(window(1200, True)) is None
    assert watch.observe(window(900 + 3599, True)) is None
    assert watch.observe(window(900 + 3600, True)) is not None  # an hour after the last alert: it pages again


def test_a_new_version_starts_over() -> None:
    watch = Persistence(POLICY)
    watch.observe(window(0, True, version=1))
    assert watch.observe(window(300, True, version=2)) is None  # version 2's first window only


def test_a_policy_file_is_checked(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("k: 4\nm: 3\n")
    with pytest.raises(InvalidArgument, match="k \\(4\\) drifting windows cannot be found among m \\(3\\)"):
        MonitorPolicy.load(tmp_path / "p.yaml")
    (tmp_path / "q.yaml").write_text("every: 5m\n")
    with pytest.raises(InvalidArgument, match="every: Extra inputs are not permitted"):
        MonitorPolicy.load(tmp_path / "q.yaml")
