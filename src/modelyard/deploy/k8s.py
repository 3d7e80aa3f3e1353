"""Kubernetes manifests for a registered version, sized from its performance card: a Deployment running
`modelyard serve` with probes and a drain that covers its requests, a Service, a PodDisruptionBudget, a KEDA
ScaledObject (or an HPA v2) on requests in flight per replica, a KServe ClusterServingRuntime, and a Dockerfile.

Pure: the version's figures in, plain dicts and text out (cli/deploy.py writes them). The autoscalers scale on
in-flight requests, not CPU: `sum(rate(modelyard_request_duration_seconds_sum[1m]))` is the time the replicas'
requests took per second, which is the average number in flight (Little's law), and each replica is asked to carry
the card's capacity (its concurrency at the latency budget) times the target ratio.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.errors import InvalidArgument

SUPPORTED = tuple(f"1.{minor}" for minor in range(25, 38))  # what kubernetes-validate's schemas cover
HTTP_PORT, GRPC_PORT = 8000, 8001
PRE_STOP_S = 5  # endpoints are removed while the pod still answers: then SIGTERM, then the drain


@dataclass(frozen=True)
class Target:
    name: str  # the model's name made a Kubernetes name (the Deployment is `<name>-modelyard`)
    model: str  # the model's name, as its metrics label it
    ref: str  # what the pods serve: `churn@production` follows the alias
    image: str
    capacity: float  # in-flight requests a replica carries at the latency budget
    target_ratio: float = 0.7
    min_replicas: int = 1
    max_replicas: int = 10
    memory_mib: float = 512.0  # the card's, or a default
    cpus: int = 1  # threads x instances of the card's configuration
    load_s: float = 30.0  # start to ready, from the card (`profile` measures it); the startup probe allows 3x + 10 s
    drain_s: int = 30
    serve_args: tuple[str, ...] = ()
    prometheus: str = "http://prometheus-server.monitoring.svc:9090"
    k8s_version: str = "1.29"


def check_version(version: str) -> str:
    if version not in SUPPORTED:
        raise InvalidArgument(f"--k8s-version {version}: modelyard writes and validates manifests for Kubernetes "
                              f"{SUPPORTED[0]} to {SUPPORTED[-1]}")  # fmt: skip
    return version


def target_from_card(name: str, ref: str, image: str, card: Mapping[str, Any] | None, capacity: float | None,
                     **options: Any) -> Target:  # fmt: skip
    """The target of a version: its card's capacity, memory and threads, unless given."""
    card = card or {}
    capacity = capacity or card.get("concurrency")
    if not capacity:
        raise InvalidArgument(f"{ref}: no performance card to size the replicas from (run modelyard profile {ref}), "
                              "or give --capacity")  # fmt: skip
    config = card.get("config") or {}
    memory = float(card.get("memory_rss_mib") or card.get("memory_mib") or 512.0)
    cpus = max(1, int(config.get("intra_op_threads") or 1) * int(config.get("instances") or 1))
    load = float(card.get("startup_s") or Target.load_s)  # the profile's start-to-ready of that configuration
    return Target(name=_dns(name), model=name, ref=ref, image=image, capacity=float(capacity), memory_mib=memory,
                  cpus=cpus, load_s=load, serve_args=tuple(card.get("serve_args") or ()), **options)  # fmt: skip


def _dns(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not cleaned:
        raise InvalidArgument(f"{name!r}: not usable in a Kubernetes name (letters, digits, '-')")
    return cleaned[:50]


def _labels(t: Target) -> dict[str, str]:
    return {"app.kubernetes.io/name": "modelyard", "app.kubernetes.io/instance": t.name}


def _requests(t: Target) -> dict[str, str]:
    """The card's configuration's threads, and its memory with a fifth more for batches larger than it saw."""
    return {"cpu": str(t.cpus), "memory": f"{math.ceil(t.memory_mib * 1.2)}Mi"}


def deployment(t: Target) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/v2/health/ready", "port": "http"}}
    startup_periods = math.ceil((3 * t.load_s + 10) / 2)
    container = {
        "name": "modelyard",
        "image": t.image,
        "args": ["serve", t.ref, "--host", "0.0.0.0", "--http-port", str(HTTP_PORT), "--grpc-port",
                 str(GRPC_PORT), "--follow", *t.serve_args],
        "env": [
            {"name": "MODELYARD_HOME", "value": "/var/lib/modelyard"},
            {"name": "MODELYARD_REGISTRY__DATABASE_URL",
             "valueFrom": {"secretKeyRef": {"name": "modelyard-registry", "key": "database-url"}}},
            {"name": "MODELYARD_ARTIFACTS__URL",
             "valueFrom": {"secretKeyRef": {"name": "modelyard-registry", "key": "artifacts-url"}}},
            {"name": "MODELYARD_SERVER__DRAIN_TIMEOUT_S", "value": str(t.drain_s)},
        ],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                  {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"}],
        "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": startup_periods},
        "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}, "periodSeconds": 10,
                          "failureThreshold": 3},
        "lifecycle": {"preStop": {"exec": {"command": ["python", "-c", f"import time; time.sleep({PRE_STOP_S})"]}}},
        "resources": {"requests": _requests(t), "limits": {"memory": f"{math.ceil(t.memory_mib * 1.5)}Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "home", "mountPath": "/var/lib/modelyard"}, {"name": "tmp", "mountPath": "/tmp"}],
    }  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{t.name}-modelyard", "labels": _labels(t)},
        "spec": {
            "replicas": max(1, t.min_replicas),
            "selector": {"matchLabels": _labels(t)},
            "template": {
                "metadata": {"labels": _labels(t), "annotations": {"prometheus.io/scrape": "true",
                                                                   "prometheus.io/port": str(HTTP_PORT)}},
                "spec": {
                    # the pre-stop pause, then the drain, then a margin before the kubelet's SIGKILL
                    "terminationGracePeriodSeconds": PRE_STOP_S + t.drain_s + 5,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [container],
                    "volumes": [{"name": "home", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }  # fmt: skip


def service(t: Target) -> dict[str, Any]:
    ports = [
        {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"},
    ]
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{t.name}-modelyard", "labels": _labels(t)},
            "spec": {"selector": _labels(t), "ports": ports}}  # fmt: skip


def disruption_budget(t: Target) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": f"{t.name}-modelyard", "labels": _labels(t)},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(t)}}}  # fmt: skip


def in_flight_query(t: Target) -> str:
    return f'sum(rate(modelyard_request_duration_seconds_sum{{model="{t.model}"}}[1m]))'


def scaled_object(t: Target) -> dict[str, Any]:
    """KEDA on in-flight requests: KEDA divides the query by the replicas and asks each for the threshold."""
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": f"{t.name}-modelyard", "labels": _labels(t)},
            "spec": {"scaleTargetRef": {"name": f"{t.name}-modelyard"}, "minReplicaCount": t.min_replicas,
                     "maxReplicaCount": t.max_replicas, "pollingInterval": 15, "cooldownPeriod": 300,
                     "triggers": [{"type": "prometheus", "metadata": {
                         "serverAddress": t.prometheus, "query": in_flight_query(t),
                         "threshold": f"{t.capacity * t.target_ratio:g}"}}]}}  # fmt: skip


def http_scaled_object(t: Target) -> dict[str, Any]:
    """Scale to zero: the KEDA HTTP add-on's interceptor holds the first request while a replica starts (the
    startup the card measured), and scales on the requests in flight per replica, as above."""
    return {"apiVersion": "http.keda.sh/v1alpha1", "kind": "HTTPScaledObject",
            "metadata": {"name": f"{t.name}-modelyard", "labels": _labels(t)},
            "spec": {"scaleTargetRef": {"name": f"{t.name}-modelyard", "kind": "Deployment", "apiVersion": "apps/v1",
                                        "service": f"{t.name}-modelyard", "port": HTTP_PORT},
                     "replicas": {"min": 0, "max": t.max_replicas},
                     "scalingMetric": {"concurrency": {"targetValue": max(1, math.floor(t.capacity * t.target_ratio))}},
                     "scaledownPeriod": 300}}  # fmt: skip


def hpa(t: Target) -> dict[str, Any]:
    """For clusters without KEDA: an HPA v2 on the per-pod in-flight metric (the Prometheus adapter's rule in the
    README names it `modelyard_requests_in_flight`)."""
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": f"{t.name}-modelyard", "labels": _labels(t)},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{t.name}-modelyard"},
                     "minReplicas": max(1, t.min_replicas), "maxReplicas": t.max_replicas,
                     "metrics": [{"type": "Pods", "pods": {"metric": {"name": "modelyard_requests_in_flight"},
                                  "target": {"type": "AverageValue",
                                             "averageValue": f"{t.capacity * t.target_ratio:g}"}}}],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}}}  # fmt: skip


def serving_runtime(t: Target) -> dict[str, Any]:
    """KServe's ClusterServingRuntime: an InferenceService of an ONNX, scikit-learn or TorchScript model runs on
    modelyard, the model mounted at /mnt/models by KServe's storage initializer."""
    formats = [{"name": name, "version": "1", "autoSelect": True, "priority": 1} for name in ("onnx", "sklearn",
                                                                                              "pytorch")]  # fmt: skip
    return {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ClusterServingRuntime",
            "metadata": {"name": "modelyard", "labels": {"app.kubernetes.io/name": "modelyard"}},
            "spec": {"supportedModelFormats": formats, "protocolVersions": ["v2", "grpc-v2"], "multiModel": False,
                     "containers": [{"name": "kserve-container", "image": t.image,
                                     "args": ["serve", "/mnt/models", "--name", "{{.Name}}", "--host", "0.0.0.0",
                                              "--http-port", "8080", "--grpc-port", "9000"],
                                     "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                     "resources": {"requests": _requests(t)}}]}}  # fmt: skip


def dockerfile(version: str) -> str:
    return f"""# The serving image: modelyard {version} on Python 3.11, non-root, no compilers in the final stage.
FROM python:3.11-slim AS build
RUN python -m venv /opt/modelyard && /opt/modelyard/bin/pip install --no-cache-dir "modelyard[postgres,s3]=={version}"

FROM python:3.11-slim
COPY --from=build /opt/modelyard /opt/modelyard
RUN useradd --uid 10001 --create-home modelyard
ENV PATH=/opt/modelyard/bin:$PATH MODELYARD_HOME=/var/lib/modelyard
USER 10001
EXPOSE {HTTP_PORT} {GRPC_PORT}
ENTRYPOINT ["modelyard"]
CMD ["--help"]
"""


def manifests(t: Target) -> dict[str, dict[str, Any]]:
    """File name → manifest. With a minimum of 0 replicas the KEDA HTTP add-on scales (to zero), not the
    ScaledObject on Prometheus, which cannot wake a replica for a request nobody is there to count."""
    found = {"deployment.yaml": deployment(t), "service.yaml": service(t), "pdb.yaml": disruption_budget(t)}
    if t.min_replicas == 0:
        found["keda-http-scaledobject.yaml"] = http_scaled_object(t)
    else:
        found["keda-scaledobject.yaml"] = scaled_object(t)
    found["hpa.yaml"] = hpa(t)
    found["kserve-clusterservingruntime.yaml"] = serving_runtime(t)
    return found
