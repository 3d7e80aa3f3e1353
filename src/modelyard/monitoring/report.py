"""A drift report people look at: one self-contained HTML page (no script, no font, no network), a section per
window, a row per feature sorted by effect with its reference and current distributions overlaid as inline SVG,
the test, the effect, and the verdict. Jinja2 renders it, escaping every name and value."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

import jinja2

from modelyard.monitoring.run import Report

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Drift: {{ title }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: .3em .8em; border-bottom: 1px solid #ddd; text-align: left; }
.drift { color: #b00020; font-weight: 600; } .fine { color: #2e7d32; } .unknown { color: #777; }
.legend span { display: inline-block; width: 1em; height: .8em; margin: 0 .3em 0 1em; }
svg text { font-size: 9px; fill: #555; }
</style></head>
<body>
<h1>Drift: {{ title }}</h1>
<p>{{ verdict }} &middot; generated {{ generated }} &middot; a feature drifts when its change is significant
(chi-square over the reference's bins, Benjamini-Hochberg across features) and its PSI is at least {{ floor }}.
<span class="legend"><span style="background:#90a4ae"></span>reference
<span style="background:#e57373"></span>current</span></p>
{% for window in windows %}
<section class="window">
<h2>{{ window.title }}</h2>
{% if window.note %}<p class="unknown">{{ window.note }}</p>{% endif %}
<table>
<tr><th>feature</th><th>distributions</th><th>test</th><th>PSI</th><th>p</th><th>smallest visible</th>
<th>verdict</th></tr>
{% for f in window.features %}
<tr class="feature" data-name="{{ f.name }}" data-drift="{{ f.state }}">
<td>{{ f.name }}<br><small>{{ f.kind }}, {{ f.rows }} rows</small></td>
<td>{{ f.svg | safe }}</td>
<td>{{ f.method }}</td><td>{{ f.psi }}</td><td>{{ f.p }}</td><td>{{ f.mde }}</td>
<td class="{{ f.state }}">{{ f.label }}<br><small>{{ f.detail }}</small></td>
</tr>
{% endfor %}
</table>
</section>
{% endfor %}
</body></html>
"""
WIDTH, HEIGHT = 240, 60


def _svg(bins: dict[str, list[Any]] | None) -> str:
    """Reference and current shares side by side per bin, as bars (escaped by construction: numbers only, and
    the labels through the template's escaping in <title>)."""
    if not bins or not bins["reference"]:
        return ""
    ref, cur, labels = bins["reference"], bins["current"], bins["labels"]
    top = max(max(ref), max(cur)) or 1.0
    step = WIDTH / len(ref)
    bars = []
    for i, (r, c) in enumerate(zip(ref, cur, strict=True)):
        x = i * step
        for offset, share, colour in ((0.1, r, "#90a4ae"), (0.5, c, "#e57373")):
            h = share / top * (HEIGHT - 10)
            title = escape(f"{labels[i]}: {share:.1%}")
            bars.append(f'<rect x="{x + offset * step:.1f}" y="{HEIGHT - h:.1f}" width="{0.4 * step:.1f}" '
                        f'height="{h:.1f}" fill="{colour}"><title>{title}</title></rect>')  # fmt: skip
    return f'<svg width="{WIDTH}" height="{HEIGHT}" role="img">{"".join(bars)}</svg>'


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def windows_view(report: Report) -> list[dict[str, Any]]:
    """Each window as the report and the dashboard show it: a title, a note, and its features sorted by effect,
    each with the test, the figures as text, the verdict and the distributions as inline SVG."""
    windows = []
    for w in report.windows:
        where = f"version {w.version}" if w.version is not None else "the file"
        span = f", {w.since:%Y-%m-%d %H:%M} to {w.until:%H:%M} UTC" if w.since and w.until else ""
        state = {True: "drift", False: "no drift", None: "not enough data"}[w.drift]
        features = [
            {
                "name": f.name, "kind": f.kind, "rows": f"{f.current_rows:,}", "svg": _svg(f.bins),
                "method": f.method, "psi": _num(f.effect), "p": _num(f.p_value), "mde": _num(f.mde),
                "state": {True: "drift", False: "fine", None: "unknown"}[f.drift],
                "label": {True: "drift", False: "no drift", None: "not enough data"}[f.drift], "detail": f.detail,
            }
            for f in w.features
        ]  # fmt: skip
        windows.append({"title": f"{where}{span}: {w.rows:,} rows, {state}", "note": w.note, "features": features,
                        "drift": w.drift})  # fmt: skip
    return windows


def html(report: Report, title: str, floor: float) -> str:
    windows = windows_view(report)
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return environment.from_string(TEMPLATE).render(
        title=title,
        verdict="DRIFT" if report.drift else "no drift",
        generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        floor=floor,
        windows=windows,
    )
