"""The dashboard serves offline from an installed package: its browser libraries are the versions the Makefile
pins (`make vendor` fetched them from npm), and every template and static file is package data, so a wheel
carries it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "src" / "modelyard" / "ui"


def pin(name: str) -> str:
    found = re.search(rf"^{name}\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert found is not None, name
    return found.group(1)


def test_the_vendored_libraries_are_the_pinned_versions() -> None:
    vendor = UI / "static" / "vendor"
    assert f"(v{pin('UPLOT_VERSION')})" in (vendor / "uPlot.iife.min.js").read_text()[:200]
    assert f'version:"{pin("HTMX_VERSION")}"' in (vendor / "htmx.min.js").read_text()
    assert {"LICENSE.uPlot", "LICENSE.htmx", "uPlot.min.css"} <= {p.name for p in vendor.iterdir()}


def test_every_template_and_static_file_is_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["modelyard"]
    files = [p for p in UI.rglob("*") if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts]
    assert len(files) > 20  # templates, app.css, charts.js, the vendored libraries
    package = UI.parent
    missed = [str(p) for p in files if not any(p.relative_to(package).match(g) for g in globs)]
    assert missed == []
