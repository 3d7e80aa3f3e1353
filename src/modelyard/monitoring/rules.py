"""The monitor's policy as Prometheus alerting rules, for users who alert through Alertmanager: the same floor is
the server's (its `modelyard_feature_drift` gauge already applies it), and "k of m windows" becomes a `for:` of k
windows, Prometheus' own way of not paging on one noisy scrape."""

from __future__ import annotations

import yaml

from modelyard.monitoring.alerts import MonitorPolicy


def _duration(seconds: float) -> str:
    return f"{int(seconds // 60)}m" if seconds >= 60 and seconds % 60 == 0 else f"{int(seconds)}s"


def alert_rules(policy: MonitorPolicy, model: str | None = None) -> str:
    selector = f'{{model="{model}"}}' if model else ""
    hold = _duration(policy.k * policy.every_s)
    rules = {
        "groups": [
            {
                "name": "modelyard-monitoring",
                "rules": [
                    {
                        "alert": "ModelyardFeatureDrift",
                        "expr": f"max by (model, version, feature) (modelyard_feature_drift{selector}) == 1",
                        "for": hold,
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "{{ $labels.model }}/{{ $labels.version }}: {{ $labels.feature }} drifted",
                            "description": f"PSI above {policy.floor} and significant against the version's "
                            "reference; modelyard drift {{ $labels.model }}/{{ $labels.version }} shows the evidence",
                        },
                    },
                    {
                        "alert": "ModelyardInputViolations",
                        "expr": "sum by (model, version, feature, rule) "
                        f"(rate(modelyard_input_violations_total{selector}[{_duration(policy.every_s)}])) > 0",
                        "for": hold,
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "{{ $labels.model }}/{{ $labels.version }}: inputs break {{ $labels.rule }} "
                            "on {{ $labels.feature }}",
                        },
                    },
                ],
            }
        ]
    }
    return yaml.safe_dump(rules, sort_keys=False, width=120)
