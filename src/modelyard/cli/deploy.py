"""`modelyard deploy k8s REF --output DIR`: Kubernetes manifests for a registered version, sized from its
performance card, and the Dockerfile of the serving image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from modelyard.cli.render import out
from modelyard.cli.state import count_range, state

app = typer.Typer(help="Run a registered version elsewhere: Kubernetes manifests.", no_args_is_help=True)


@app.command()
def k8s(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="A registry reference: churn@production (the pods follow the alias).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The folder to write the manifests into.")],
    k8s_version: Annotated[str, typer.Option(help="The Kubernetes version to write for (1.25 to 1.37).")] = "1.29",
    image: Annotated[str | None, typer.Option(help="The serving image (default: modelyard:VERSION).")] = None,
    capacity: Annotated[
        float | None, typer.Option(help="In-flight requests a replica carries (default: the card's).")
    ] = None,
    replicas: Annotated[
        str, typer.Option(help="MIN..MAX replicas; MIN 0 scales to zero through the KEDA HTTP add-on.")
    ] = "1..10",
    target_ratio: Annotated[float, typer.Option(help="The share of the capacity a replica is asked to carry.")] = 0.7,
    prometheus: Annotated[
        str, typer.Option(help="Where KEDA queries the servers' metrics.")
    ] = "http://prometheus-server.monitoring.svc:9090",
) -> None:
    """Deployment, Service, PodDisruptionBudget, KEDA ScaledObject, HPA v2, KServe ClusterServingRuntime and a
    Dockerfile, sized from the version's performance card."""
    from modelyard import __version__
    from modelyard.deploy.k8s import check_version, dockerfile, manifests, target_from_card

    version = check_version(k8s_version)
    low, high = count_range("--replicas", replicas, 0, "replica")
    found = state(ctx).registry().get(ref)
    target = target_from_card(found.name, ref, image or f"modelyard:{__version__}", found.perf_card, capacity,
                              target_ratio=target_ratio, min_replicas=low, max_replicas=high,
                              prometheus=prometheus, k8s_version=version)  # fmt: skip
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name, manifest in manifests(target).items():
        (output / name).write_text(yaml.safe_dump(manifest, sort_keys=False))
        written.append(name)
    (output / "Dockerfile").write_text(dockerfile(__version__))
    written.append("Dockerfile")
    out.print(f"{found.name} version {found.version} for Kubernetes {version}: {', '.join(written)} in {output} "
              f"(a replica carries {target.capacity:g} in flight, asked for {target.capacity * target_ratio:g})",
              markup=False)  # fmt: skip
