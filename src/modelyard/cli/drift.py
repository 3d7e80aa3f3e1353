"""`modelyard reference ...` and `modelyard drift`: what each version's features looked like on its reference data,
and whether production's traffic (or a file) has moved away from it. `drift` exits 0 without drift, 10 with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli.render import out, print_json
from modelyard.cli.state import state
from modelyard.errors import InvalidArgument
from modelyard.monitoring.alerts import MonitorPolicy

app = typer.Typer(help="Reference profiles: what drift is measured against, stored with each version.",
                  no_args_is_help=True)  # fmt: skip
Since = Annotated[str | None, typer.Option(help="Traffic recorded since: 90s, 30m, 2h, 7d (default: all of it).")]
DRIFT_EXIT = 10


@app.command("set")
def set_reference(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The version: fraud/3 or fraud@staging.")],
    data: Annotated[list[str] | None, typer.Argument(help="Parquet, CSV or .npz files (any fsspec URL).")] = None,
    from_traffic: Annotated[
        str | None, typer.Option(help="Profile what this answered instead: fraud@production, fraud/2.")
    ] = None,
    since: Since = None,
) -> None:
    """Profile DATA (or the traffic of --from-traffic) in one streaming pass and keep it as REF's reference."""
    from modelyard.monitoring.run import reference_from_data, reference_from_traffic
    from modelyard.traffic.reader import parse_since

    registry = state(ctx).registry()
    if bool(data) == bool(from_traffic):
        raise InvalidArgument("reference set: give DATA files or --from-traffic NAME@ALIAS, one of the two")
    if from_traffic:
        stored = reference_from_traffic(registry, ref, from_traffic, parse_since(since) if since else None,
                                        since or "")  # fmt: skip
    else:
        stored = reference_from_data(registry, ref, data or [], state(ctx).settings.home_dir / "cache" / "registry")
    out.print(f"{stored.name}/{stored.version}: reference #{stored.id}, {stored.rows:,} rows, "
              f"{len(stored.profile['features'])} features ({stored.source})", markup=False)  # fmt: skip


@app.command("show")
def show_reference(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The version: fraud/3 or fraud@production.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """REF's reference profile: per feature its kind, rows, missing share, and range or commonest values."""
    from modelyard.errors import NotFound

    found = state(ctx).registry().reference(ref)
    if found is None:
        raise NotFound(f"{ref} has no reference profile: modelyard reference set {ref} DATA")
    if as_json:
        print_json(found)
        return
    title = f"{found.name}/{found.version}: reference #{found.id} ({found.source})"
    table = Table("feature", "kind", "rows", "missing", "summary", title=title, title_justify="left")
    for name, spec in found.profile["features"].items():
        missing = f"{spec['missing'] / spec['rows']:.1%}" if spec["rows"] else "-"
        if spec["kind"] == "numeric" and spec["mean"] is not None:
            summary = f"{spec['min']:.4g} .. {spec['max']:.4g}, mean {spec['mean']:.4g}, sd {spec['std']:.4g}"
        elif spec["kind"] == "numeric":
            summary = "no finite value"
        else:
            summary = ", ".join(f"{k}: {v}" for k, v in list(spec["categories"].items())[:5])
        table.add_row(name, spec["kind"], f"{spec['rows']:,}", missing, summary)
    out.print(table)


def drift(
    ctx: typer.Context,
    ref: Annotated[
        str | None, typer.Argument(help="fraud@production (a window per version it pointed at) or fraud/3.")
    ] = None,
    since: Since = None,
    data: Annotated[list[str] | None, typer.Option(help="Judge this file instead of the traffic (repeatable).")] = None,
    reference: Annotated[
        list[str] | None, typer.Option(help="Compare with a profile of this file instead of the stored one.")
    ] = None,
    floor: Annotated[float, typer.Option(min=0, help="The smallest PSI that counts as drift.")] = 0.1,
    canary: Annotated[
        int | None,
        typer.Option(metavar="VERSION", help="Judge this canary's answers against REF's over the same span."),
    ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML report here.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Has REF's data moved from its reference? Per feature: the test, its p-value, the effect (PSI), and drift
    true, false, or null (not enough data to say, with the smallest effect the window could show). With --data and
    --reference, no registry is needed. Exit 0 without drift, 10 with."""
    from modelyard.monitoring.run import drift_report
    from modelyard.traffic.reader import parse_since

    s = state(ctx)
    registry = s.registry() if ref is not None else None
    start = parse_since(since) if since else None
    if canary is not None:
        from modelyard.monitoring.run import canary_report

        if registry is None or ref is None or data or reference:
            raise InvalidArgument("drift --canary VERSION: give REF (NAME@ALIAS), and neither --data nor --reference")
        report = canary_report(registry, ref, canary, start, floor)
    else:
        report = drift_report(registry, ref, start, data or [], reference or [], floor)
    if html is not None:
        from modelyard.monitoring.report import html as render

        html.write_text(render(report, ref or ", ".join(data or []), floor))
    if as_json:
        newest = next((w.features for w in reversed(report.windows) if w.features), [])  # an empty tail says none
        print_json({"drift": report.drift, "features": newest,
                    "windows": [{**vars(w), "drift": w.drift} for w in report.windows]})  # fmt: skip
    else:
        for w in report.windows:
            _show(w)
    if report.drift:
        raise typer.Exit(DRIFT_EXIT)


def _show(window: object) -> None:
    from modelyard.monitoring.run import DriftWindow

    assert isinstance(window, DriftWindow)
    where = f"version {window.version}" if window.version is not None else "the file"
    span = f" from {window.since:%Y-%m-%d %H:%M:%S} to {window.until:%H:%M:%S}" if window.since and window.until else ""
    verdict = {True: "DRIFT", False: "no drift", None: "not enough data"}[window.drift]
    out.print(f"{where}{span}, {window.rows:,} rows: {verdict}" + (f" ({window.note})" if window.note else ""),
              markup=False)  # fmt: skip
    if not window.features:
        return
    table = Table("feature", "kind", "PSI", "p", "smallest visible", "drift", "detail")
    for f in window.features:
        table.add_row(f.name, f.kind, _num(f.effect), _num(f.p_value), _num(f.mde),
                      {True: "yes", False: "no", None: "?"}[f.drift], f.detail)  # fmt: skip
    out.print(table)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def monitor(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="What to watch: fraud@production; or `rules` (Prometheus alert rules).")],
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="A monitor policy (YAML); default: the model's `policy set --kind monitor`, else the defaults.",
        ),
    ] = None,
    every: Annotated[str | None, typer.Option(help="How often, and each window's length: 90s, 5m, 1h.")] = None,
    once: Annotated[bool, typer.Option(help="Judge one window and exit (for cron).")] = False,
    model: Annotated[str | None, typer.Option(help="With `rules`: only this model's series.")] = None,
) -> None:
    """Every `every_s` (300), judge the last window of REF's traffic against its version's reference; alert (a POST
    to the policy's webhook, recorded in the registry) when k of the last m windows drifted, once per cooldown.
    `modelyard monitor rules` prints Prometheus alerting rules for the same policy, for Alertmanager users."""
    import time
    from datetime import UTC, datetime

    from modelyard.monitoring.monitor import Monitor
    from modelyard.monitoring.policy import monitor_policy

    registry = state(ctx).registry()

    def current() -> MonitorPolicy:
        found = monitor_policy(registry, model or ref, policy) if ref != "rules" or model else _file_policy(policy)
        return found.model_copy(update={"every_s": seconds(every)}) if every else found

    if ref == "rules":
        from modelyard.monitoring.rules import alert_rules

        out.print(alert_rules(current(), model), markup=False, highlight=False)
        return
    watcher = Monitor(registry, ref, current())
    while True:
        action, line = watcher.step()
        out.print(f"{datetime.now(UTC):%H:%M:%S} {action}: {line}", markup=False)
        if once:
            return
        time.sleep(watcher.policy.every_s)
        watcher.policy = watcher.persistence.policy = current()  # a `policy set` applies from the next window on


def _file_policy(path: Path | None) -> MonitorPolicy:
    return MonitorPolicy.load(path) if path is not None else MonitorPolicy()


def seconds(text: str) -> float:
    """`90s`, `5m`, `1h`, `1d` as seconds."""
    from modelyard.traffic.reader import SINCE

    match = SINCE.match(text.strip())
    if not match:
        raise InvalidArgument(f"--every {text!r}: expected a period such as 90s, 5m or 1h")
    return float(match["n"]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match["unit"]]


def alerts(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The alerts the monitor raised for NAME, newest first: version, drifting features, the webhook's answer."""
    found = state(ctx).registry().alerts(name, limit)
    if as_json:
        print_json(found)
        return
    table = Table("#", "when", "version", "features", "delivered", "status")
    for a in found:
        names = ", ".join(f["name"] for f in a.payload.get("features", []))
        table.add_row(str(a.id), f"{a.at:%Y-%m-%d %H:%M:%S}", str(a.version), names, "yes" if a.delivered else "no",
                      a.status)  # fmt: skip
    out.print(table)
