"""Reference profiles from data or from traffic, stored with the version; and drift reports whose windows split
where an alias moved, each window judged against the reference of the version it saw."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.drift import FeatureDrift, ProfileBuilder, features
from modelyard.drift.compare import FLOOR, Window
from modelyard.errors import InvalidArgument, NotFound
from modelyard.monitoring.sources import chunks, traffic_arrays
from modelyard.registry import ModelVersion, ReferenceProfile, Registry
from modelyard.traffic.records import OUTPUT, SHADOW
from modelyard.uri import parse_ref


@dataclass(frozen=True)
class DriftWindow:
    version: int | None  # the version that answered in this window (None: a file, no registry)
    since: datetime | None
    until: datetime | None
    rows: int
    features: list[FeatureDrift] = field(default_factory=list)
    note: str = ""  # why a window was not judged

    @property
    def drift(self) -> bool | None:
        """True when a feature drifted; False when every feature could say it did not; None otherwise."""
        verdicts = [f.drift for f in self.features]
        if True in verdicts:
            return True
        return False if verdicts and None not in verdicts else None


@dataclass(frozen=True)
class Report:
    windows: list[DriftWindow]

    @property
    def drift(self) -> bool:
        return any(w.drift is True for w in self.windows)


def input_names(version: ModelVersion | Mapping[str, Any]) -> list[str]:
    signature = version.signature if isinstance(version, ModelVersion) else version
    return [str(i["name"]) for i in signature.get("inputs", [])]


def check_shapes(signature: Mapping[str, Any], label: str, arrays: Mapping[str, np.ndarray], where: str) -> None:
    """Each input's shape past the rows as the signature declares it (-1: any): a profile of data of another shape
    would be compared with traffic it can never match."""
    for spec in signature.get("inputs", []):
        array = arrays.get(str(spec["name"]))
        declared = list(spec.get("shape", []))[1:]
        if array is None or len(declared) != array.ndim - 1:
            continue
        if any(d not in (-1, a) for d, a in zip(declared, array.shape[1:], strict=True)):
            raise InvalidArgument(f"{where}: input {spec['name']!r} has shape {list(array.shape[1:])} per row; "
                                  f"{label} takes {declared}")  # fmt: skip


def profile_of(paths: Sequence[str], signature: Mapping[str, Any] | None = None, label: str = "the model",
               package: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A profile of data files in one streaming pass: mapped to the signature's inputs, or every column as given.
    `package`: the version's package folder; the rows then also go through the model, in this process, and its
    outputs are profiled too (`output.NAME`, as the traffic log has them), so that prediction drift has a
    reference where only input data was given."""
    if package is not None and signature is not None:
        return asyncio.run(_with_outputs(paths, signature, label, package))
    builder = ProfileBuilder()
    for path in paths:
        for rows in chunks(path, input_names(signature) if signature is not None else None):
            if signature is not None:
                check_shapes(signature, label, rows, path)
            builder.add(features(rows))
    if builder.rows == 0:
        raise InvalidArgument(f"--reference: {', '.join(paths)} holds no rows")
    return builder.finish(", ".join(paths))


async def _with_outputs(paths: Sequence[str], signature: Mapping[str, Any], label: str, package: str
                        ) -> dict[str, Any]:  # fmt: skip
    from modelyard.columns import cast
    from modelyard.manifest import read_manifest
    from modelyard.server.local import LocalPlane
    from modelyard.server.repository.spec import SourceSpec

    datatypes = {str(i["name"]): str(i["datatype"]) for i in signature.get("inputs", [])}
    step = read_manifest(Path(package)).max_batch_size or None  # rows a call: the package's largest batch
    builder = ProfileBuilder()
    async with LocalPlane([SourceSpec(name="reference", version="1", package_dir=package)]) as plane:
        for path in paths:
            for rows in chunks(path, list(datatypes)):
                check_shapes(signature, label, rows, path)
                count = len(next(iter(rows.values())))
                inputs = {n: cast(np.asarray(a), n, datatypes[n]) for n, a in rows.items()}
                answers: dict[str, list[np.ndarray]] = {}
                for start in range(0, count, step or max(count, 1)):
                    part = {n: a[start : start + (step or count)] for n, a in inputs.items()}
                    response = await plane.infer("reference", part, "1")
                    for output in response.outputs:
                        answers.setdefault(output.name, []).append(output.data)
                outputs = {OUTPUT + n: np.concatenate(parts) for n, parts in answers.items()}
                builder.add(features({**rows, **outputs}))
    if builder.rows == 0:
        raise InvalidArgument(f"--reference: {', '.join(paths)} holds no rows")
    return builder.finish(", ".join(paths) + f" (outputs: {label}'s, in this process)")


def reference_maker(paths: Sequence[str]) -> Callable[[Mapping[str, Any], str], tuple[dict[str, Any], str]]:
    """What `Registry.register(reference=...)` calls with the new version's signature and package folder, before
    storing anything: a profile of the files' inputs and of the model's outputs on them."""
    return lambda signature, package: (profile_of(paths, signature, "the model", package), ", ".join(paths))


def reference_from_data(registry: Registry, ref: str, paths: Sequence[str], cache_dir: Path | None = None
                        ) -> ReferenceProfile:  # fmt: skip
    """The version's inputs as the files hold them, and its outputs on them (the version's package fetched into
    `cache_dir`); nothing is stored if a file cannot be read."""
    version = registry.get(ref)
    label = f"{version.name}/{version.version}"
    package = str(registry.package_path(version, cache_dir)[1]) if cache_dir is not None else None
    profile = profile_of(paths, version.signature, label, package)
    return registry.set_reference(label, profile, ", ".join(paths))


def reference_from_traffic(registry: Registry, ref: str, source: str, since: float | None, label: str
                           ) -> ReferenceProfile:  # fmt: skip
    """What `source` (`fraud@production`, `fraud/3`) was sent and answered since `since`: inputs and outputs."""
    version = registry.get(ref)
    windows = traffic_windows(registry, source, since)
    builder = ProfileBuilder()
    for _, _, _, table in windows:
        builder.add(features(traffic_arrays(table)))
    if builder.rows == 0:
        raise NotFound(f"--from-traffic {source}: no answered requests recorded{' since ' + label if label else ''}")
    text = f"traffic of {source}" + (f" since {label}" if label else "")
    return registry.set_reference(f"{version.name}/{version.version}", builder.finish(text), text)


def traffic_windows(registry: Registry, ref: str, since: float | None, until: float | None = None
                    ) -> list[tuple[int, float, float, pa.Table]]:  # fmt: skip
    """(version, start, end, rows) of what `ref` answered: for an alias, one window per version it pointed at,
    cut where it moved; for a version, one window. Shadow answers are left out (they answered nobody)."""
    parsed = parse_ref(ref)
    now = time.time() if until is None else until
    start = since if since is not None else 0.0
    if parsed.alias is not None:
        spans = alias_spans(registry, parsed.name, parsed.alias, start, now)
    else:
        version = registry.get(ref).version
        spans = [(version, start, now)]
    table = registry.traffic(parsed.name, since=start, until=now).table
    found = []
    for version, begin, end in spans:
        window = table.filter(pc.and_(pc.and_(pc.equal(table["version"], str(version)),
                                              pc.not_equal(table["alias"], SHADOW)),
                                      _between(table, begin, end)))  # fmt: skip
        found.append((version, begin, end, window))
    return found


def _between(table: pa.Table, begin: float, end: float) -> pa.ChunkedArray:
    def stamp(t: float) -> pa.Scalar:
        return pa.scalar(datetime.fromtimestamp(t, UTC), pa.timestamp("ns", tz="UTC"))

    return pc.and_(pc.greater_equal(table["time"], stamp(begin)), pc.less(table["time"], stamp(end)))


def alias_spans(registry: Registry, name: str, alias: str, start: float, end: float) -> list[tuple[int, float, float]]:
    """(version, from, to): where the alias pointed over [start, end), cut at each move."""
    spans: list[tuple[int, float, float]] = []
    current: int | None = None
    at = start
    for event in registry.history(name, alias):
        moved = event.at.timestamp()
        if moved <= start:
            current = event.to_version
            continue
        if moved >= end:
            break
        if current is not None:
            spans.append((current, at, moved))
        current, at = event.to_version, moved
    if current is not None:
        spans.append((current, at, end))
    if not spans:
        raise NotFound(f"{name}@{alias} pointed at no version over the window")
    return spans


def drift_report(
    registry: Registry | None,
    ref: str | None,
    since: float | None = None,
    data: Sequence[str] = (),
    reference_file: Sequence[str] = (),
    floor: float = FLOOR,
) -> Report:
    """`ref`'s drift: over the files `data` (one window), or over its recorded traffic since `since` (a window per
    version it answered with); against each version's stored reference, or a profile of `reference_file`."""
    version = registry.get(ref) if registry is not None and ref is not None else None
    label = f"{version.name}/{version.version}" if version else ""
    given = profile_of(reference_file, version.signature if version else None, label) if reference_file else None
    if data:
        if given is None and version is None:
            raise InvalidArgument("drift --data: give the model (NAME@ALIAS or NAME/VERSION) or --reference FILE")
        profile = given or _stored(registry, version)
        window = Window(profile)
        rows = 0
        for path in data:
            for chunk in chunks(path, input_names(version) if version else None):
                if version is not None:
                    check_shapes(version.signature, label, chunk, path)
                found = features(chunk)
                rows += len(next(iter(found.values()))) if found else 0
                window.add(found)
        if rows == 0:
            raise InvalidArgument(f"--data: {', '.join(data)} holds no rows")
        judged = window.judge(floor)
        if not judged:
            raise InvalidArgument(f"--data: {', '.join(data)} has none of the reference's features "
                                  f"({_some(profile)}): a reference of another signature?")  # fmt: skip
        return Report([DriftWindow(version.version if version else None, None, None, rows, judged)])
    if registry is None or ref is None:
        raise InvalidArgument("drift: give the model (NAME@ALIAS or NAME/VERSION), or --data FILE")
    windows = []
    for number, begin, end, table in traffic_windows(registry, ref, since):
        span = (datetime.fromtimestamp(begin, UTC), datetime.fromtimestamp(end, UTC))
        profile = given or _stored(registry, registry.get(f"{parse_ref(ref).name}/{number}"), required=False)
        if profile is None:
            note = f"no reference profile for version {number}: modelyard reference set"
            windows.append(DriftWindow(number, *span, table.num_rows, note=note))
            continue
        judged = Window(profile).add(features(traffic_arrays(table))).judge(floor) if table.num_rows else []
        if table.num_rows and not judged:
            raise InvalidArgument(f"{ref}: version {number}'s traffic has none of its reference's features "
                                  f"({_some(profile)}): a reference of another signature?")  # fmt: skip
        windows.append(DriftWindow(number, *span, table.num_rows, judged, "" if table.num_rows else "no requests"))
    return Report(windows)


def canary_report(registry: Registry, ref: str, canary: int, since: float | None = None, floor: float = FLOOR
                  ) -> Report:  # fmt: skip
    """A canary against production: what version `canary` answered (a share of `ref`'s callers, `serve --canary`)
    against what the version `ref` points at answered over the same span, inputs and outputs. Both saw the same
    callers' traffic at the same time, so an input that differs is the split's fault and an output that differs is
    the model's: no reference profile is needed."""
    parsed = parse_ref(ref)
    if parsed.alias is None:
        raise InvalidArgument(f"drift --canary: give the alias the canary answers beside ({parsed.name}@production)")
    production = registry.get(ref).version
    if production == canary:
        raise InvalidArgument(f"drift --canary {canary}: {ref} is version {canary} itself")
    start, now = since if since is not None else 0.0, time.time()
    table = registry.traffic(parsed.name, since=start, until=now).table
    # the canary's answers: to callers of the alias, while it pointed at production's version (an ordinary
    # answer of the same version, when the alias pointed at it, is not the canary's)
    spans = [(b, e) for v, b, e in alias_spans(registry, parsed.name, parsed.alias, start, now) if v == production]
    if not spans:
        raise NotFound(f"{ref} pointed at version {production} at no time over the window")
    during = _between(table, *spans[0])
    for b, e in spans[1:]:
        during = pc.or_(during, _between(table, b, e))
    called = pc.and_(pc.equal(table["alias"], parsed.alias), during)
    theirs = table.filter(pc.and_(pc.equal(table["version"], str(canary)), called))
    if theirs.num_rows == 0:
        raise NotFound(f"no recorded answers of {parsed.name}/{canary} to {ref}'s callers: serve it with --canary "
                       f"{parsed.name}/{canary}:SHARE and --log-sample")  # fmt: skip
    times = pc.min_max(theirs["time"])
    begin, end = times["min"].as_py().timestamp(), times["max"].as_py().timestamp() + 1e-6
    ours = table.filter(pc.and_(pc.and_(pc.equal(table["version"], str(production)), called),
                                _between(table, begin, end)))  # fmt: skip
    builder = ProfileBuilder()
    builder.add(features(traffic_arrays(ours)))
    if builder.rows == 0:
        raise NotFound(f"{ref} (version {production}) answered nothing while version {canary} did")
    profile = builder.finish(f"traffic of {parsed.name}/{production}")
    judged = Window(profile).add(features(traffic_arrays(theirs))).judge(floor)
    span = (datetime.fromtimestamp(begin, UTC), datetime.fromtimestamp(end, UTC))
    note = f"against version {production}'s {ours.num_rows:,} answers over the same span"
    return Report([DriftWindow(canary, *span, theirs.num_rows, judged, note)])


def _stored(registry: Registry | None, version: ModelVersion | None, required: bool = True) -> Any:
    if registry is None or version is None:
        return None
    found = registry.reference(f"{version.name}/{version.version}")
    if found is None and required:
        raise NotFound(f"{version.name}/{version.version} has no reference profile: modelyard reference set "
                       f"{version.name}/{version.version} DATA, or give --reference FILE")  # fmt: skip
    return found.profile if found is not None else None


def _some(profile: Mapping[str, Any]) -> str:
    names = list(profile["features"])
    return ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
