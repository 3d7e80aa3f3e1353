"""A validation from end to end: the two registry versions, the requests (recorded traffic or a file), the replay,
and the record of it in the registry, which `promote` and the alias history cite."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.datafiles import read_column, read_inputs
from modelyard.errors import InvalidArgument, NotFound
from modelyard.manifest import read_manifest
from modelyard.registry import ModelVersion, Registry, Validation
from modelyard.server.repository.sources import SourceResolver
from modelyard.validation.policy import Policy
from modelyard.validation.replay import Inputs, split_rows, validate
from modelyard.validation.verdict import Verdict


@dataclass(frozen=True)
class Requests:
    items: list[Inputs]
    source: str  # where they came from, in words
    truth: np.ndarray | None = None  # a label or target per request (`--labels`)


def pick(registry: Registry, name: str, ref: str) -> ModelVersion:
    """`ref`: an alias or a version number."""
    return registry.get(f"{name}/{ref}" if ref.isdigit() else f"{name}@{ref}")


def requests_for(
    registry: Registry,
    baseline: ModelVersion,
    data: Path | None = None,
    since: float | None = None,
    label: str = "",
    labels: str | None = None,
) -> Requests:
    """From a file (`--data`: .npz or a table, a request per row, and `labels` its column of truths), or the
    baseline's recorded traffic."""
    if labels is not None and data is None:
        raise InvalidArgument(f"--labels {labels}: the labels are a column of a --data file; give --data FILE too")
    if data is not None:
        inputs = baseline.signature.get("inputs", [])
        datatypes = {str(i["name"]): str(i["datatype"]) for i in inputs}
        if labels is not None and labels in datatypes:
            raise InvalidArgument(f"--labels {labels}: that is an input of {baseline.name}, not its labels")
        items = split_rows(read_inputs([str(data)], datatypes, exclude=(labels,) if labels else ()))
        if labels is None:
            return Requests(items, str(data))
        truth = read_column(str(data), labels)
        if len(truth) != len(items):
            raise InvalidArgument(f"--labels {labels}: {len(truth)} labels for {len(items)} requests")
        if truth.dtype.kind not in "iubf":
            raise InvalidArgument(f"--labels {labels}: labels are numbers (classes or targets), not {truth.dtype}")
        return Requests(items, f"{data} with labels {labels}", truth)
    ref = f"{baseline.name}/{baseline.version}"
    try:
        window = registry.traffic(ref, since=since)
    except NotFound:
        raise NotFound(f"no recorded traffic of {ref}: serve it with --log-sample, or give --data FILE") from None
    return Requests(window.requests(), f"traffic of {ref}" + (f" since {label}" if label else ""))


def digest(requests: list[Inputs], truth: np.ndarray | None = None) -> str:
    """The requests' content (and their labels): the same requests, in the same order, give the same digest."""
    h = hashlib.sha256()
    if truth is not None:
        h.update(b"labels" + np.ascontiguousarray(truth).tobytes())
    for request in requests:
        for name in sorted(request):
            array = request[name]
            h.update(name.encode())
            h.update(str(array.shape).encode())
            h.update(array.tobytes() if array.dtype != object else b"\0".join(map(bytes, array.ravel())))
    return h.hexdigest()


def run(
    registry: Registry,
    cache_dir: Path,
    baseline: ModelVersion,
    candidate: ModelVersion,
    requests: Requests,
    policy: Policy,
) -> Validation:
    """Replay, decide, and record; the recorded validation (with its id) is returned."""
    if baseline.name != candidate.name:
        raise InvalidArgument(f"a validation compares versions of one model, not {baseline.name} and {candidate.name}")
    if baseline.version == candidate.version:
        raise InvalidArgument(f"--candidate and --baseline are both {baseline.name}/{baseline.version}")
    resolver = SourceResolver(cache_dir, registry)
    sources = resolver.spec_for(baseline), resolver.spec_for(candidate)
    signatures = tuple(read_manifest(Path(s.package_dir)).signature for s in sources)
    verdict = validate(sources[0], sources[1], (signatures[0], signatures[1]), requests.items, policy, requests.truth)
    data_sha256 = digest(requests.items, requests.truth)
    return _record(registry, baseline, candidate, verdict, policy, data_sha256, len(requests.items), requests.source)


def judge_shadow(
    registry: Registry, baseline: ModelVersion, candidate: ModelVersion, policy: Policy, since: float | None = None
) -> Validation:
    """The pairs a shadowing server logged (`serve --shadow`): production's answer and the candidate's to the same
    request, by request id; judged as a replay is, without replaying (and without latency: a shadow call runs
    after production's, under other load)."""
    from modelyard.traffic.records import OUTPUT, SHADOW, SHAPE, row_tensors
    from modelyard.validation.replay import Answers, compare
    from modelyard.validation.verdict import decide

    window = registry.traffic(baseline.name, since=since)
    table = window.table
    ids, versions, aliases = (table.column(c).to_pylist() for c in ("request_id", "version", "alias"))
    errors = table.column("error").to_pylist()
    outputs = [c[len(OUTPUT) :] for c in table.column_names if c.startswith(OUTPUT) and not c.endswith(SHAPE)]
    tensors = {name: row_tensors(table, OUTPUT + name) for name in outputs}
    sides: dict[str, dict[str, int]] = {"baseline": {}, "candidate": {}}
    for row, (rid, version, alias) in enumerate(zip(ids, versions, aliases, strict=True)):
        if version == str(candidate.version) and alias == SHADOW:
            sides["candidate"][rid] = row
        elif version == str(baseline.version) and alias != SHADOW:
            sides["baseline"][rid] = row
    paired = [rid for rid in sides["candidate"] if rid in sides["baseline"]]
    if not paired:
        raise NotFound(f"no shadow pairs of {baseline.name}/{candidate.version} against /{baseline.version} recorded "
                       f"(serve {baseline.name}@production --shadow {baseline.name}/{candidate.version})")  # fmt: skip

    def answers(side: str) -> Answers:
        rows = [sides[side][rid] for rid in paired]
        found = Answers([], [], [])
        for row in rows:
            got: Inputs = {}
            for name, rows_of in tensors.items():
                tensor = rows_of[row]
                if tensor is not None:
                    got[name] = tensor
            found.outputs.append(got or None)
            found.errors.append(errors[row] or "")
        return found

    base, cand = answers("baseline"), answers("candidate")
    verdict = decide(compare(base, cand, base, policy))
    paired_sha = hashlib.sha256("\n".join(paired).encode()).hexdigest()
    return _record(registry, baseline, candidate, verdict, policy, paired_sha, len(paired), "shadow pairs")


def _record(
    registry: Registry, baseline: ModelVersion, candidate: ModelVersion, verdict: Verdict, policy: Policy,
    data_sha256: str, requests: int, source: str,
) -> Validation:  # fmt: skip
    checks = tuple(_plain_dict(vars(c) | {"line": c.line}) for c in verdict.checks)
    return registry.record_validation(
        Validation(
            id=0,
            name=baseline.name,
            baseline_version=baseline.version,
            candidate_version=candidate.version,
            baseline_sha256=baseline.sha256,
            candidate_sha256=candidate.sha256,
            data_sha256=data_sha256,
            requests=requests,
            source=source,
            policy=policy.model_dump(),
            checks=checks,
            verdict=verdict.outcome,
            actor="",
            at=datetime.now(UTC),
        )
    )


def _plain_dict(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in value.items()}


def _plain(value: object) -> object:
    """JSON-ready: tuples to lists, numpy scalars to numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
