"""`modelyard serve`: resolve what to serve, print how to call it, then become the HTTP server."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from modelyard.cli.render import out
from modelyard.cli.serve_options import (
    check_control,
    scaling_spec,
    tls_fields,
    traffic_link,
    with_experiment,
    worker_range,
)
from modelyard.cli.state import CliState, state
from modelyard.errors import InvalidArgument
from modelyard.runtimes import example_from_signature
from modelyard.server.process import handoff, listeners
from modelyard.server.process.launch import launcher_argv
from modelyard.server.process.memory import limit_arenas
from modelyard.server.repository.spec import (
    FollowRule,
    RegistryLink,
    ServeSpec,
    SourceSpec,
)
from modelyard.signature import Signature


def overrides(
    max_batch_size: int | None, max_queue_delay_us: int | None, instances: int | None, intra_op_threads: int | None
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if max_batch_size is not None:
        changes["max_batch_size"] = max_batch_size
    if max_queue_delay_us is not None:
        changes["batching"] = {"max_queue_delay_us": max_queue_delay_us}
    if instances is not None:
        changes["instances"] = {"count": instances}
    if intra_op_threads is not None:
        changes["runtime"] = {"intra_op_threads": intra_op_threads}
    return changes


def call_examples(host: str, port: int, spec: SourceSpec, tls_cert: str = "") -> tuple[str, str] | None:
    """A curl line and a Python line that call the model with zeros of its signature (small inputs only); over
    HTTPS with `tls_cert`, trusted as its own CA (right for a self-signed certificate)."""
    from modelyard.manifest import read_manifest

    signature: Signature = read_manifest(Path(spec.package_dir)).signature
    example = example_from_signature(signature)
    if sum(a.size for a in example.values()) > 64 or any(a.dtype.kind == "O" for a in example.values()):
        return None
    inputs = [
        {"name": n, "datatype": s.datatype, "shape": list(a.shape), "data": a.ravel().tolist()}
        for (n, a), s in zip(example.items(), signature.inputs, strict=True)
    ]
    url = f"{'https' if tls_cert else 'http'}://{host}:{port}/v2/models/{spec.name}/infer"
    body = orjson.dumps({"inputs": inputs}).decode()
    verify = f", verify=ssl.create_default_context(cafile='{tls_cert}')" if tls_cert else ""
    call = f"import httpx; print(httpx.post('{url}', json={{'inputs': {inputs!r}}}{verify}).json())"
    python = f'{interpreter()} -c "{"import ssl; " if tls_cert else ""}{call}"'
    return f"curl -s {f'--cacert {tls_cert} ' if tls_cert else ''}{url} -d '{body}'", python


def interpreter() -> str:
    """The Python that has modelyard (and httpx): this one, named as the user can type it (`.venv/bin/python`
    after `make demo`), rather than a `python` on PATH that may lack both."""
    here = os.path.relpath(sys.executable)
    return here if not here.startswith("..") else sys.executable


def serve_spec(
    s: CliState,
    specs: list[SourceSpec],
    rules: list[FollowRule],
    follow: bool = False,
    announce: bool | None = None,
) -> ServeSpec:
    """The spec the server processes read: models, limits, and the registry link when the server follows the
    registry or announces itself there (by default, whenever it serves registry models)."""
    settings, server = s.settings, s.settings.server
    announce = bool(rules) if announce is None else announce
    if follow and not rules:
        raise InvalidArgument("--follow: name registry references (fraud@production) or --alias to follow")
    link = None
    if rules or announce:
        link = RegistryLink(
            database_url=settings.database_url,
            artifact_url=settings.artifact_url,
            cache_dir=str(settings.home_dir / "cache"),
            busy_timeout_s=settings.registry.busy_timeout_s,
        )
    return ServeSpec(
        models=specs,
        registry=link,
        follow=rules if follow else [],
        follow_interval_s=server.follow_interval_s,
        announce=announce,
        heartbeat_s=settings.discovery.heartbeat_s,
        server_id=uuid.uuid4().hex[:16],
        grpc_port=server.grpc_port,
        max_body_bytes=int(server.max_body_mb * (1 << 20)),
        drain_timeout_s=server.drain_timeout_s,
        worker_timeout_s=server.worker_timeout_s,
        max_head_bytes=int(server.max_header_kb * 1024),
        head_timeout_s=server.header_timeout_s,
        keep_alive_s=server.keep_alive_s,
        max_connections=server.max_connections,
        control_token=server.control_token.get_secret_value() if server.control_token else "",
        allow_trusted_loads=server.allow_trusted_loads,
        access_log=server.access_log,
    ).model_copy(update=tls_fields(server.tls_cert, server.tls_key, server.tls_ca))


def start_server(
    s: CliState,
    spec: ServeSpec,
    host: str,
    port: int,
    workers: int,
    changes: dict[str, Any],
    allow_open_control: bool = False,
) -> None:
    if not spec.models and not spec.follow:
        raise InvalidArgument(
            "nothing to serve: name registry references (fraud@production), model files or folders, or --alias"
        )
    check_control(host, spec, allow_open_control or s.settings.server.allow_open_control)
    for model in spec.models:
        model.overrides.update(changes)
    # each worker's runtimes share the cores with as many workers as may run (serve --workers MIN..MAX)
    shares = spec.scaling.max_workers if spec.scaling is not None else workers
    spec = spec.model_copy(update={"workers": shares, "host": host, "http_port": port, "overrides": changes})
    for taken in (port, spec.grpc_port):  # before the banner: its URLs would reach whoever holds the port
        listeners.check_free(host, taken)
    path = spec.write(s.settings.home_dir / "run" / f"serve-{port}-{os.getpid()}.json")
    print_banner(spec, host, port)
    drain = max(1, round(spec.drain_timeout_s))
    if handoff.hand_over(str(path), host, port, workers, drain):
        return  # the process the user started is the server (modelyard.server.process.handoff)
    # No waiting server process (no fork here, or the CLI runs in-process): become the server, without the CLI's
    # imports. limit_arenas exports MALLOC_ARENA_MAX, which glibc reads at the new program's start.
    limit_arenas()
    os.execv(sys.executable, launcher_argv(str(path), host, port, workers, drain))


def print_banner(spec: ServeSpec, host: str, port: int) -> None:
    """What is served and how to call it, before the server starts."""
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    for model in spec.models:
        aliases = f" (aliases: {', '.join(model.aliases)})" if model.aliases else ""
        out.print(f"serving {model.name} version {model.version}{aliases}")
    if spec.follow:
        out.print(
            f"following the registry every {spec.follow_interval_s:g} s: alias moves are served without a restart"
        )
    out.print(f"Open Inference Protocol V2 on {spec.http_scheme}://{host}:{port}  (Ctrl-C stops)")
    if spec.grpc_port:
        tls = " over TLS" if spec.tls_cert else ""
        out.print(f"gRPC (inference.GRPCInferenceService) on {host}:{spec.grpc_port}{tls}")
    examples = next((c for c in (call_examples(shown, port, m, spec.tls_cert) for m in spec.models) if c), None)
    if examples:
        out.print(f"try:\n  {examples[0]}\nor from Python:\n  {examples[1]}", soft_wrap=True, markup=False)
    triton = f"tritonclient.http.InferenceServerClient('{shown}:{port}'{', ssl=True' if spec.tls_cert else ''})"
    out.print(f"Triton clients work too: {triton}", soft_wrap=True)
    sys.stdout.flush()


def serve(
    ctx: typer.Context,
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Registry references (fraud@production, churn/3), model files, package folders, "
            "or a Triton repository."
        ),
    ] = None,
    alias: Annotated[str | None, typer.Option(help="Also serve every registered model that has this alias.")] = None,
    name: Annotated[str | None, typer.Option(help="Serve a single model file or package under this name.")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP port (default 8000).")] = None,
    grpc_port: Annotated[int | None, typer.Option(help="gRPC port (default 8001; 0 turns gRPC off).")] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            metavar="N|MIN..MAX",
            help="HTTP worker processes (default 1); MIN..MAX scales them on in-flight requests over --capacity.",
        ),
    ] = None,
    capacity: Annotated[
        float | None,
        typer.Option(help="In-flight requests one worker carries at the budget (default: the performance card's)."),
    ] = None,
    scale_window: Annotated[
        float, typer.Option(metavar="SECONDS", help="--workers MIN..MAX: the window in-flight requests average over.")
    ] = 60.0,
    scale_down_delay: Annotated[
        float, typer.Option(metavar="SECONDS", help="--workers MIN..MAX: how long fewer workers must do first.")
    ] = 30.0,
    max_batch_size: Annotated[int | None, typer.Option(min=0, help="Override every model's max_batch_size.")] = None,
    max_queue_delay_us: Annotated[
        int | None,
        typer.Option(min=0, help="How long a batch may wait for more requests, in µs (default: the model's)."),
    ] = None,
    instances: Annotated[int | None, typer.Option(min=1, help="Instances per model and worker.")] = None,
    intra_op_threads: Annotated[
        int | None, typer.Option(min=1, help="Threads the runtime uses inside one operator, per instance.")
    ] = None,
    versions: Annotated[
        str | None,
        typer.Option(help="Version policy for a model named without version or alias: latest, latest:N, all, 1,3."),
    ] = None,
    follow: Annotated[
        bool, typer.Option(help="Follow the registry: serve alias moves and new versions without a restart.")
    ] = False,
    announce: Annotated[
        bool | None,
        typer.Option(help="Record this server in the registry for discovery (default: when serving registry models)."),
    ] = None,
    control_token: Annotated[
        str | None,
        typer.Option(
            help="Require this token (Authorization: Bearer) for the repository API's load and unload "
            "(or MODELYARD_SERVER__CONTROL_TOKEN).",
            show_default=False,
        ),
    ] = None,
    allow_open_control: Annotated[
        bool, typer.Option(help="Bind beyond loopback with the repository API open to anyone (no token).")
    ] = False,
    allow_trusted_loads: Annotated[
        bool, typer.Option(help="Let the repository API load models whose loading runs code (pickles, Python).")
    ] = False,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Serve HTTPS and gRPC over TLS with this certificate (PEM).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The private key of --tls-cert (PEM).")] = None,
    tls_ca: Annotated[
        Path | None, typer.Option(help="Require client certificates signed by these CAs (mutual TLS).")
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log a line per HTTP request.")] = False,
    log_sample: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Record this share of requests and responses in the traffic log "
            "(what `validate` and the gate replay); 0 (the default) records none.",
        ),
    ] = 0.0,
    log_key: Annotated[
        str | None,
        typer.Option(help="Sample by the hash of this request parameter (one user's requests kept together)."),
    ] = None,
    input_checks: Annotated[
        str,
        typer.Option(
            help="Inputs outside the version's reference (range, missing, domain): warn counts them, reject answers "
            "400 naming the feature and the rule, off skips the checks."
        ),
    ] = "warn",
    drift: Annotated[
        bool,
        typer.Option(help="Tally each version's traffic against its reference profile (GET .../drift, /metrics)."),
    ] = True,
    idle_unload: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Unload a version nobody called for this long; the next request loads it again and waits for it.",
        ),
    ] = None,
    shadow: Annotated[
        str | None,
        typer.Option(
            metavar="REF[:SHARE]",
            help="Also send a share (default all) of the baseline's requests to "
            "this candidate, after answering; both answers logged as pairs (validate --shadow).",
        ),
    ] = None,
    canary: Annotated[
        str | None,
        typer.Option(metavar="REF:SHARE", help="Answer a share of requests (5% or 0.05) with this candidate."),
    ] = None,
    canary_key: Annotated[
        str | None, typer.Option(help="Choose the canary's requests by the hash of this request parameter.")
    ] = None,
) -> None:
    """Serve models over the Open Inference Protocol V2 (HTTP, binary tensors), with dynamic batching."""
    from modelyard.server.repository.sources import SourceResolver

    s = state(ctx)
    server = s.settings.server
    tls = None  # the command line's files, checked before anything is resolved; else the settings' (serve_spec)
    if tls_cert or tls_key or tls_ca:
        tls = tls_fields(tls_cert or server.tls_cert, tls_key or server.tls_key, tls_ca or server.tls_ca)
    needs_registry = alias is not None or any(not Path(t).exists() for t in targets or [])
    resolver = SourceResolver(s.settings.home_dir / "cache", s.registry() if needs_registry else None)
    specs, rules = resolver.resolve(list(targets or []), name=name, alias=alias, versions=versions)
    spec = serve_spec(s, specs, rules, follow, announce)
    if grpc_port is not None:
        spec.grpc_port = grpc_port
    if control_token is not None:
        spec.control_token = control_token
    spec.allow_trusted_loads = spec.allow_trusted_loads or allow_trusted_loads
    spec.access_log = spec.access_log or access_log
    spec.drift = drift
    if idle_unload is not None:
        if not idle_unload > 0:
            raise InvalidArgument(f"--idle-unload {idle_unload:g}: give the seconds without a request, above 0")
        spec.idle_unload_s = idle_unload
    from modelyard.server.models.limits import MODES

    if input_checks not in MODES:
        raise InvalidArgument(f"--input-checks {input_checks}: {', '.join(MODES)}")
    spec.input_checks = input_checks
    if log_sample > 0:
        spec.traffic = traffic_link(s, log_sample, log_key)
    for mode, option in (("shadow", shadow), ("canary", canary)):
        if option is not None:
            spec = with_experiment(s, resolver, spec, mode, option, canary_key if mode == "canary" else None)
    if tls is not None:
        spec = spec.model_copy(update=tls)
    low, high = worker_range(workers, server.workers)
    if high > low:
        spec.scaling = scaling_spec(s, specs, low, high, capacity, scale_window, scale_down_delay)
    start_server(
        s,
        spec,
        host or server.host,
        http_port if http_port is not None else server.http_port,
        low,
        overrides(max_batch_size, max_queue_delay_us, instances, intra_op_threads),
        allow_open_control=allow_open_control,
    )
