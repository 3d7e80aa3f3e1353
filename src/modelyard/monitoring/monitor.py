"""The monitor: every `every_s`, the last window of what an alias answered, judged against its version's reference;
the persistence policy (alerts.py) decides whether that pages anyone, and an alert is POSTed to the webhook and
recorded in the registry, delivered or not. The clock and the poster are passed in, so that a test runs it tick by
tick against a real webhook on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import NotFound
from modelyard.monitoring.alerts import Alert, MonitorPolicy, Persistence, Seen
from modelyard.monitoring.run import drift_report
from modelyard.registry import Registry
from modelyard.uri import parse_ref

Post = Callable[[str, Mapping[str, Any]], tuple[bool, str]]  # (url, payload) -> (delivered, status)


def post_json(url: str, payload: Mapping[str, Any]) -> tuple[bool, str]:
    import httpx

    try:
        response = httpx.post(url, json=payload, timeout=10)
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return response.is_success, f"HTTP {response.status_code}"


@dataclass
class Monitor:
    registry: Registry
    ref: str  # fraud@production
    policy: MonitorPolicy
    clock: Callable[[], float] = time.time
    post: Post = post_json
    persistence: Persistence = field(init=False)

    def __post_init__(self) -> None:
        self.persistence = Persistence(self.policy)

    def step(self) -> tuple[str, str]:
        """One window judged: (`alert` | `drift` | `fine` | `unknown` | `idle`, a line saying why)."""
        now = self.clock()
        try:
            report = drift_report(self.registry, self.ref, since=now - self.policy.every_s, floor=self.policy.floor)
        except NotFound as exc:
            return "idle", str(exc)
        window = report.windows[-1]
        drifting = tuple((f.name, f.effect or 0.0) for f in window.features if f.drift)
        seen = Seen(now, window.version, window.drift, drifting, window.rows)
        alert = self.persistence.observe(seen)
        if alert is not None:
            return "alert", self._raise(alert)
        state = {True: "drift", False: "fine", None: "unknown"}[window.drift]
        said = ", ".join(f"{n} (PSI {e:.2f})" for n, e in drifting) or window.note or f"{window.rows} rows"
        return state, f"version {window.version}: {said}"

    def _raise(self, alert: Alert) -> str:
        name = parse_ref(self.ref).name
        payload = {
            "model": name,
            "ref": self.ref,
            "version": alert.version,
            "kind": "drift",
            "features": [{"name": n, "psi": e} for n, e in alert.features],
            "windows": [_window(w) for w in alert.windows],
            "evidence": f"modelyard drift {self.ref} --since {int(self.policy.every_s)}s",
        }
        delivered, status = self.post(self.policy.webhook, payload) if self.policy.webhook else (False, "no webhook")
        record = self.registry.record_alert(name, alert.version, "drift", payload, delivered, status)
        features = ", ".join(n for n, _ in alert.features)
        return f"alert #{record.id}: version {alert.version} drifts in {features} ({status})"


def _window(w: Seen) -> dict[str, Any]:
    return {"at": w.at, "version": w.version, "drift": w.drift, "rows": w.rows, "features": [n for n, _ in w.drifting]}
