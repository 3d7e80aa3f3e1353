"""The drift report, opened in a real browser (Debian's chromium, headless, through chromium-driver): what it
shows is what `modelyard drift --json` says, sorted by effect, with each feature's distributions drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelyard.testing import run_cli

pytestmark = pytest.mark.e2e


def test_the_report_shows_in_a_browser_what_the_cli_says(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "ref.npz", a=rng.normal(size=5_000), b=rng.normal(size=5_000),
             colour=np.array(["red", "green"] * 2_500))  # fmt: skip
    np.savez(tmp_path / "cur.npz", a=rng.normal(size=3_000) + 1.0, b=rng.normal(size=3_000),
             colour=np.array(["red"] * 2_500 + ["blue"] * 500))  # fmt: skip
    report = tmp_path / "report.html"
    args = ["drift", "--data", str(tmp_path / "cur.npz"), "--reference", str(tmp_path / "ref.npz")]
    said = json.loads(run_cli(tmp_path / "home", *args, "--json", "--html", str(report), ok=False).stdout)
    browser.get(report.as_uri())  # a file: no server, no network
    assert browser.title.startswith("Drift: ")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.feature")
    shown = [(r.get_attribute("data-name"), r.get_attribute("data-drift")) for r in rows]
    expected = [(f["name"], {True: "drift", False: "fine", None: "unknown"}[f["drift"]]) for f in said["features"]]
    assert shown == expected  # the same features, the same verdicts, the same order (by effect)
    assert dict(shown) == {"a": "drift", "colour": "drift", "b": "fine"}
    first = rows[0].find_elements(By.CSS_SELECTOR, "svg rect")
    assert len(first) == 2 * len(said["features"][0]["bins"]["reference"])  # reference and current per bin
    assert "DRIFT" in browser.find_element(By.TAG_NAME, "body").text
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 1000
