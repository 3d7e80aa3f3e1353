"""`modelyard profile MODEL`: sweep serving configurations, pick the best within a latency budget, record it as
the version's performance card, and print the capacity an autoscaler should target."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from modelyard.cli.render import err, out
from modelyard.cli.state import CliState, parse_list, state
from modelyard.errors import InvalidArgument

if TYPE_CHECKING:
    from modelyard.bench.profile import Config
    from modelyard.bench.runner import Level
    from modelyard.bench.stats import Windows


def profile_config(
    model: str, config: Config, concurrencies: list[int], budget: float, windows: Windows
) -> tuple[list[Level], float]:
    """Serve MODEL with one configuration and ramp the load on it; also how long the server took from its start
    to ready (imports, load, warm-up: what a Kubernetes startup probe must allow, `deploy k8s`)."""
    from modelyard.bench.profile import ramp
    from modelyard.bench.runner import example_inputs, measure, target_for
    from modelyard.cli.bench import start_for
    from modelyard.testing import stop_server

    started = time.perf_counter()
    server = start_for(model, config.serve_args(), config.env())
    startup_s = time.perf_counter() - started
    try:
        import httpx

        index = httpx.post(f"{server.url}/v2/repository/index", timeout=10, trust_env=False).json()
        name = index[0]["name"]
        target = target_for(server.url, name, example_inputs(server.url, name))
        levels = ramp(lambda c: measure(target, server.url, name, "closed", c, windows), concurrencies, budget)
        return levels, startup_s
    finally:
        stop_server(server)


def cold_start(model: str, config: Config, rounds: int = 3) -> float:
    """The first response from zero of `serve --idle-unload` under `config`: the version unloaded, then one request
    (its load, warm-up and answer), the median of `rounds`."""
    import httpx

    from modelyard.bench.runner import example_inputs
    from modelyard.cli.bench import start_for
    from modelyard.testing import stop_server

    server = start_for(model, [*config.serve_args(), "--idle-unload", "1"], config.env())
    try:
        name = httpx.post(f"{server.url}/v2/repository/index", timeout=10, trust_env=False).json()[0]["name"]
        seconds = from_zero(server.url, name, example_inputs(server.url, name), rounds)
        return sorted(seconds)[len(seconds) // 2]
    finally:
        stop_server(server)


def from_zero(url: str, name: str, inputs: Mapping[str, Any], rounds: int) -> list[float]:
    """Each round: wait until a server started with `--idle-unload` shows `name` unloaded in /metrics, then time
    one request (the load, the warm-up and the answer). One warm request first, so the model has been seen."""
    import httpx

    from modelyard.client import Client
    from modelyard.testing import wait_until

    unloaded = f'modelyard_model_loaded{{model="{name}",'
    seconds = []
    with Client(url, timeout_s=60) as client:
        client.infer(name, inputs)
        for _ in range(rounds):
            wait_until(lambda: any(line.startswith(unloaded) and line.endswith(" 0.0") for line in
                                   httpx.get(f"{url}/metrics", timeout=5).text.splitlines()),
                       timeout_s=30, what="the version unloaded")  # fmt: skip
            started = time.perf_counter()
            client.infer(name, inputs)
            seconds.append(time.perf_counter() - started)
    return seconds


def record_card(s: CliState, model: str, card: dict[str, Any]) -> str | None:
    """The card goes on the registry version MODEL names; None when MODEL is a file or folder."""
    if Path(model).exists():
        return None
    version = s.registry().get(model)
    s.registry().set_perf_card(version.uri, card)
    return version.uri


def profile(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="What `modelyard serve` takes: fraud@production, churn/3, a file.")],
    p99_ms: Annotated[float, typer.Option(min=0.001, help="Latency budget: p99 in milliseconds.")] = 50.0,
    min_throughput: Annotated[
        float, typer.Option(min=0, help="A throughput floor (req/s): the lowest p99 among configs above it.")
    ] = 0.0,
    max_batch_size: Annotated[str, typer.Option(help="Values to sweep; 0 turns batching off.")] = "0,8,32",
    max_queue_delay_us: Annotated[str, typer.Option(help="Values to sweep.")] = "0,1000",
    instances: Annotated[str, typer.Option(help="Values to sweep.")] = "1,2",
    intra_op_threads: Annotated[str, typer.Option(help="Values to sweep.")] = "1",
    omp_threads: Annotated[str | None, typer.Option(help="OMP_NUM_THREADS values to sweep.")] = None,
    concurrency: Annotated[str, typer.Option(help="The ramp, stopped early when throughput stops improving.")] = (
        "1,2,4,8,16,32,64"
    ),
    headroom: Annotated[float, typer.Option(min=0.05, max=1.0, help="Capacity = throughput x headroom.")] = 0.7,
    window_s: Annotated[float, typer.Option(min=0.1)] = 1.0,
    max_windows: Annotated[int, typer.Option(min=3)] = 6,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the CSV, JSON and PNG go.")] = Path("profile"),
    deployment: Annotated[str | None, typer.Option(help="Kubernetes deployment name for the snippet.")] = None,
) -> None:
    """Find the serving configuration with the most throughput within --p99-ms, write it to the version's
    performance card, and print the capacity to autoscale on (as a number and as KEDA/HPA manifests)."""
    from modelyard.bench import profile as p
    from modelyard.bench.stats import Windows

    s = state(ctx)
    configs = p.sweep(
        parse_list(max_batch_size, "--max-batch-size", int, 0),
        parse_list(max_queue_delay_us, "--max-queue-delay-us", int, 0),
        parse_list(instances, "--instances", int, 1),
        parse_list(intra_op_threads, "--intra-op-threads", int, 1),
        list(parse_list(omp_threads, "--omp-threads", int, 1)) if omp_threads else None,
    )
    windows = Windows(warmup_s=min(1.0, window_s), window_s=window_s, min_windows=3, max_windows=max_windows)
    ramp = parse_list(concurrency, "--concurrency", int, 1)
    results, startups = [], {}
    for i, config in enumerate(configs, 1):
        out.print(f"[{i}/{len(configs)}] {config.label}")
        levels, startups[config] = profile_config(model, config, ramp, p99_ms, windows)
        results.append((config, levels))
    chosen = p.choose(results, p99_ms, min_throughput)
    card = p.perf_card(chosen[0], chosen[1], p99_ms, headroom) if chosen else None
    if card is not None and chosen is not None:
        card["startup_s"] = round(startups[chosen[0]], 2)
        card["cold_start_s"] = round(cold_start(model, chosen[0]), 4)  # serve --idle-unload's first response
        card["curves"] = p.curves(results)  # what the dashboard plots: every configuration, not just the chosen
    written = write_outputs(results, p99_ms, out_dir, card, chosen, plot_title(model))
    out.print(results_table(results, p99_ms, chosen[0] if chosen else None))
    out.print("wrote " + ", ".join(str(w) for w in written))
    if chosen is None or card is None:
        floor = f" at {min_throughput:g} req/s or more" if min_throughput else ""
        raise InvalidArgument(f"no configuration kept p99 within {p99_ms:g} ms{floor}; see {written[0]}")
    if p.still_rising(dict(results)[chosen[0]], chosen[1]):
        err.print(
            f"warning: throughput still rose at the top of the ramp (c={chosen[1].load:g}): capacity may be "
            "underestimated; give --concurrency higher values",
            style="yellow",
        )
    recorded = record_card(s, model, card)
    report(model, chosen[0], card, recorded, deployment)


def plot_title(model: str) -> str:
    import socket
    from datetime import UTC, datetime

    return f"{model}: p99 against throughput, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {socket.gethostname()}"


def write_outputs(
    results: list[tuple[Config, list[Level]]],
    p99_ms: float,
    out_dir: Path,
    card: dict[str, Any] | None,
    chosen: tuple[Config, Level] | None = None,
    title: str = "",
) -> list[Path]:
    from dataclasses import asdict

    from modelyard.bench.profile import plot
    from modelyard.bench.report import as_json, level_row, write_csv, write_json

    rows = [{"config": c.label, **asdict(c), **level_row(lv)} for c, levels in results for lv in levels]
    written = [write_csv(rows, out_dir / "profile.csv")]
    points = [{"config": asdict(c), "levels": [as_json(lv) for lv in levels]} for c, levels in results]
    written.append(
        write_json({"p99_budget_ms": p99_ms, "recommended": card, "results": points}, out_dir / "profile.json")
    )
    if plot(results, p99_ms, out_dir / "profile.png", chosen, title):
        written.append(out_dir / "profile.png")
    else:
        out.print("no plot: matplotlib is not installed (pip install 'modelyard[plot]')")
    return written


def results_table(results: list[tuple[Config, list[Level]]], p99_ms: float, chosen: Config | None) -> Table:
    from modelyard.bench.profile import best_within

    table = Table("", "configuration", "best req/s within budget", "at", "p50 ms", "p99 ms", "MiB", "points",
                  title=f"p99 budget {p99_ms:g} ms (★ recommended)", title_justify="left")  # fmt: skip
    for config, levels in results:
        best = best_within(levels, p99_ms)
        mark = "★" if config == chosen else ""  # a column of its own: appended to a long label it wrapped alone
        if best is None:
            table.add_row(mark, config.label, "-", "-", "-", "-", "-", str(len(levels)))
            continue
        s = best.summary
        mib = f"{best.server.pss_mib:.0f}" if best.server else "-"
        table.add_row(mark, config.label, f"{s.throughput:,.0f}", f"c={best.load:g}", f"{s.p50_ms:.2f}",
                      f"{s.p99_ms:.2f}", mib, str(len(levels)))  # fmt: skip
    return table


def report(model: str, config: Config, card: dict[str, Any], recorded: str | None, deployment: str | None) -> None:
    from modelyard.bench.profile import autoscaler_snippets

    args = " ".join(config.serve_args())
    omp = " ".join(f"{k}={v}" for k, v in config.env().items())
    out.print(f"recommended: {config.label}: {card['throughput_rps']:,} req/s at p99 {card['p99_ms']} ms")
    out.print(f"serve it:    {omp + ' ' if omp else ''}modelyard serve {model} {args}", soft_wrap=True, markup=False)
    out.print(
        f"capacity:    {card['capacity_rps']:,} req/s per server (throughput within the budget x {card['headroom']})"
    )
    if "startup_s" in card:
        out.print(f"start:       {card['startup_s']} s to ready; a first response from zero in "
                  f"{card['cold_start_s'] * 1000:.0f} ms (serve --idle-unload)")  # fmt: skip
    if recorded:
        out.print(f"performance card recorded on {recorded}")
    name = model.removeprefix("models:/").partition("@")[0].partition("/")[0]
    name = Path(name).stem if Path(model).exists() else name
    out.print(autoscaler_snippets(deployment or f"{name}-server", name, card["capacity_rps"]), markup=False)
