"""What `serve`'s options become in the spec, each checked where a mistake is one line: TLS files, the traffic
log, a shadow or a canary beside the baseline, and whether the repository API may face the network."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import Any

from modelyard.cli.state import CliState, count_range
from modelyard.errors import InvalidArgument
from modelyard.server.repository.spec import ExperimentSpec, ScalingSpec, ServeSpec, SourceSpec, TrafficLink


def with_experiment(s: CliState, resolver: Any, spec: ServeSpec, mode: str, option: str, key: str | None) -> ServeSpec:
    """`fraud@staging[:SHARE]` beside the served `fraud@production`: the experiment added, a canary's candidate
    loaded beside the baseline, a shadow's given to the experiment (loaded by a process of its own)."""
    ref, _, share = option.rpartition(":") if ":" in option else (option, "", "")
    if mode == "canary" and not share:
        raise InvalidArgument(f"--canary {option}: give the share it answers, e.g. {option}:5%")
    rate = parse_share(f"--{mode}", share) if share else 1.0
    (candidate,), _ = resolver.resolve([ref])
    baseline = next((m for m in spec.models if m.name == candidate.name and m.aliases), None)
    if baseline is None or baseline.version == candidate.version:
        raise InvalidArgument(f"--{mode} {ref}: serve the baseline by its alias too (e.g. {candidate.name}@production)")
    models, source = spec.models, None
    if mode == "shadow":
        source = candidate.model_copy(update={"background": True, "aliases": ()})
    elif not any(m.key == candidate.key for m in spec.models):  # else served in its own right too
        models = [*spec.models, candidate]
    experiment = ExperimentSpec(name=candidate.name, alias=baseline.aliases[0], candidate=candidate.version,
                                mode=mode, rate=rate, key=key or "", source=source)  # fmt: skip
    traffic = spec.traffic or (traffic_link(s, 0.0, None) if mode == "shadow" else None)
    return spec.model_copy(
        update={"models": models, "experiments": [*spec.experiments, experiment], "traffic": traffic}
    )


def parse_share(flag: str, text: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise InvalidArgument(f"{flag}: a share such as 5% or 0.05, got {text!r}") from None
    if not 0 < value <= 1:
        raise InvalidArgument(f"{flag}: a share above 0 and at most 100%, got {text!r}")
    return value


def traffic_link(s: CliState, sample: float, key: str | None) -> TrafficLink:
    traffic = s.settings.traffic
    return TrafficLink(
        url=s.settings.traffic_url,
        sample=sample,
        key=key or "",
        buffer_bytes=int(traffic.buffer_mb * (1 << 20)),
        file_bytes=int(traffic.file_mb * (1 << 20)),
        file_s=traffic.file_s,
    )


def tls_fields(cert: Path | None, key: Path | None, ca: Path | None) -> dict[str, str]:
    """The spec's TLS files, checked here, where a mistake is one line: a certificate without its key, a file
    that is missing or not PEM, a key that does not match."""
    if cert is None and key is None:
        if ca is not None:
            raise InvalidArgument("--tls-ca: client certificates need TLS; give --tls-cert and --tls-key too")
        return {}
    if cert is None or key is None:
        raise InvalidArgument("--tls-cert and --tls-key go together (the server's certificate and its private key)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for flag, path in (("--tls-cert", cert), ("--tls-key", key), ("--tls-ca", ca)):
        if path is not None and not path.is_file():
            raise InvalidArgument(f"{flag}: no such file: {path}")
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise InvalidArgument(f"--tls-cert/--tls-key: cannot use them: {exc.reason or exc}") from None
    try:
        if ca is not None:
            context.load_verify_locations(ca)
    except ssl.SSLError as exc:
        raise InvalidArgument(f"--tls-ca: cannot use it: {exc.reason or exc}") from None
    paths = {"tls_cert": cert, "tls_key": key, "tls_ca": ca}
    return {field: str(path.resolve()) for field, path in paths.items() if path is not None}


def check_control(host: str, spec: ServeSpec, allow_open: bool) -> None:
    """A server reachable beyond this machine with the repository API open would let anyone load or unload its
    models: refuse, unless the operator sets a token or says so."""
    if spec.control_token or allow_open or is_loopback(host):
        return
    raise InvalidArgument(
        f"--host {host}: the repository API (load, unload) would be open to the network; set --control-token "
        "(or MODELYARD_SERVER__CONTROL_TOKEN), or pass --allow-open-control"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def worker_range(text: str | None, default: int) -> tuple[int, int]:
    """`--workers 2` -> (2, 2); `--workers 1..4` -> (1, 4), scaled by the policy between them."""
    return (default, default) if text is None else count_range("--workers", text, 1, "worker")


def scaling_spec(s: CliState, specs: list[SourceSpec], low: int, high: int, capacity: float | None, window_s: float,
                 down_delay_s: float) -> ScalingSpec:  # fmt: skip
    """The workers' scaling: on `--capacity`, else on the performance card of the one version served."""
    if capacity is None:
        capacity = _card_capacity(s, specs)
    if not capacity > 0:
        raise InvalidArgument(f"--capacity {capacity:g}: give the in-flight requests a worker carries, above 0")
    if window_s <= 0 or down_delay_s < 0:
        raise InvalidArgument("--scale-window must be above 0 and --scale-down-delay at least 0")
    return ScalingSpec(min_workers=low, max_workers=high, capacity=capacity, stable_window_s=window_s,
                       downscale_delay_s=down_delay_s)  # fmt: skip


def _card_capacity(s: CliState, specs: list[SourceSpec]) -> float:
    from_registry = [m for m in specs if m.followed]
    if len(from_registry) != 1 or len(specs) != 1:
        raise InvalidArgument(
            "--workers MIN..MAX scales on a worker's capacity: give --capacity (in-flight requests a worker "
            "carries), or serve one registry version with a performance card"
        )
    model = from_registry[0]
    card = s.registry().get(f"{model.name}/{model.version}").perf_card
    if not card or not card.get("concurrency"):
        raise InvalidArgument(f"--workers MIN..MAX: {model.name}/{model.version} has no performance card (run "
                              f"modelyard profile {model.name}/{model.version}), or give --capacity")  # fmt: skip
    return float(card["concurrency"])
