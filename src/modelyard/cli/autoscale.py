"""`modelyard autoscale simulate`: a load trace through modelyard's scaling policy, Knative's KPA and an HPA on CPU
at 70 %, on the same model of the replicas (from the version's performance card, or given)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli.render import out, print_json
from modelyard.cli.state import count_range, state
from modelyard.errors import InvalidArgument

app = typer.Typer(help="Scale on measured capacity: replay a load trace through the policy.", no_args_is_help=True)


@app.command()
def simulate(
    ctx: typer.Context,
    trace: Annotated[str, typer.Option(help="A CSV of t,rate (seconds, requests a second), or daily or spike.")],
    card: Annotated[str | None, typer.Option(help="The version whose performance card sizes a replica.")] = None,
    capacity: Annotated[float | None, typer.Option(help="In-flight requests a replica carries at the budget.")] = None,
    throughput: Annotated[float | None, typer.Option(help="Requests a second a replica serves at capacity.")] = None,
    budget_ms: Annotated[
        float | None, typer.Option(help="The latency budget (default: the card's p99 budget).")
    ] = None,
    target_ratio: Annotated[
        float, typer.Option(help="The share of the capacity each replica is asked to carry.")
    ] = 0.7,
    replicas: Annotated[str, typer.Option(help="MIN..MAX replicas (MIN 0: scale to zero).")] = "0..20",
    cold_start_s: Annotated[float, typer.Option(help="From asked for to ready.")] = 1.0,
    cpu_at_capacity: Annotated[
        float, typer.Option(help="The CPU share a replica reaches at its capacity, as an HPA on CPU sees it.")
    ] = 0.6,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """SLO-violating seconds, replica-seconds and scale events of each policy on the trace."""
    from modelyard.scaling.policy import Policy
    from modelyard.scaling.simulate import Replicas, compare, read_trace

    figures = _card(ctx, card) if card else {}
    capacity = capacity or figures.get("concurrency")
    throughput = throughput or figures.get("throughput_rps")
    budget_ms = budget_ms or figures.get("p99_budget_ms")
    if not capacity or not throughput:
        raise InvalidArgument("give --card REF (a version with a performance card) or --capacity and --throughput")
    if not budget_ms:
        raise InvalidArgument("--budget-ms: give the latency budget (or --card, whose p99 budget it is)")
    low, high = count_range("--replicas", replicas, 0, "replica")
    policy = Policy(capacity=float(capacity), target_ratio=target_ratio, min_replicas=low, max_replicas=high)
    model = Replicas(float(capacity), float(throughput), float(budget_ms) / 1000, cold_start_s, cpu_at_capacity)
    results = compare(read_trace(trace), model, policy)
    ours = results[0]
    rows = [{**r.to_dict(), "replica_s_ratio": round(r.replica_s / ours.replica_s, 3) if ours.replica_s else None}
            for r in results]  # fmt: skip
    if as_json:
        print_json({"trace": trace, "seconds": len(ours.timeline), "capacity": capacity, "throughput": throughput,
                    "budget_ms": budget_ms, "target_ratio": target_ratio, "results": rows})  # fmt: skip
        return
    table = Table("policy", "SLO-violating s", "replica-s", "x modelyard", "scale events", "peak",
                  title=f"{trace}: {len(ours.timeline):,} s; a replica carries {capacity:g} in flight, "
                        f"{throughput:g} req/s, budget {budget_ms:g} ms", title_justify="left")  # fmt: skip
    for r in rows:
        table.add_row(str(r["name"]), f"{r['slo_violating_s']:,}", f"{r['replica_s']:,.0f}",
                      f"{r['replica_s_ratio']:.2f}", str(r["scale_events"]), str(r["peak_replicas"]))  # fmt: skip
    out.print(table)


def _card(ctx: typer.Context, ref: str) -> dict[str, float]:
    version = state(ctx).registry().get(ref)
    if not version.perf_card:
        raise InvalidArgument(f"{ref}: no performance card (run modelyard profile {ref}), or give --capacity and "
                              "--throughput")  # fmt: skip
    return dict(version.perf_card)
