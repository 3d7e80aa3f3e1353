"""`modelyard deploy k8s`: every manifest validated offline and strictly, against the schemas of each Kubernetes
version it supports (kubernetes-validate) and the custom resources against their CRDs (kept in tests/deploy/crds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from modelyard import examples
from modelyard.deploy.k8s import SUPPORTED
from modelyard.registry import Registry
from modelyard.settings import Settings
from modelyard.testing import assert_one_line_error, run_cli

kubernetes_validate = pytest.importorskip("kubernetes_validate")
CRDS = Path(__file__).parent / "crds"
CARD = {"concurrency": 32, "throughput_rps": 900.0, "memory_rss_mib": 300.0, "p99_budget_ms": 20, "startup_s": 4.0,
        "config": {"max_batch_size": 16, "max_queue_delay_us": 500, "instances": 1, "intra_op_threads": 2},
        "serve_args": ["--max-batch-size", "16", "--instances", "1"]}  # fmt: skip


def _strict(schema: Any) -> Any:
    """A CRD's schema as the API server's strict field validation applies it: no field it does not declare."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if schema.get("type") == "object" and "properties" in schema and \
                not schema.get("x-kubernetes-preserve-unknown-fields"):  # fmt: skip
            schema.setdefault("additionalProperties", False)
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _crd_schema(file: str, version: str) -> dict[str, Any]:
    crd = yaml.safe_load((CRDS / file).read_text())
    found = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    schema: dict[str, Any] = _strict(found["schema"]["openAPIV3Schema"])
    return schema


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    with Registry.from_settings(Settings(home=home)) as registry:
        registry.register(examples.mlp_onnx(tmp_path / "fraud.onnx"), name="fraud")
        registry.register(examples.mlp_onnx(tmp_path / "plain.onnx"), name="plain")
        registry.set_alias("fraud", "production", 1)
        registry.set_perf_card("fraud/1", CARD)
    return home


@pytest.mark.e2e
def test_the_manifests_validate_strictly_on_every_supported_version(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    proc = run_cli(home, "deploy", "k8s", "fraud@production", "--output", str(out), "--replicas", "1..6")
    assert "a replica carries 32 in flight" in proc.stdout
    docs = {p.name: yaml.safe_load(p.read_text()) for p in out.glob("*.yaml")}
    assert set(docs) == {"deployment.yaml", "service.yaml", "pdb.yaml", "hpa.yaml", "keda-scaledobject.yaml",
                         "kserve-clusterservingruntime.yaml"}  # fmt: skip
    for version in SUPPORTED:
        for name in ("deployment.yaml", "service.yaml", "pdb.yaml", "hpa.yaml"):
            kubernetes_validate.validate(docs[name], f"{version}.0", strict=True)
    jsonschema.validate(docs["keda-scaledobject.yaml"], _crd_schema("keda.sh_scaledobjects.yaml", "v1alpha1"))
    jsonschema.validate(docs["kserve-clusterservingruntime.yaml"],
                        _crd_schema("serving.kserve.io_clusterservingruntimes.yaml", "v1alpha1"))  # fmt: skip
    # the card sized them
    pod = docs["deployment.yaml"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "360Mi"}
    assert container["args"][:2] == ["serve", "fraud@production"]
    assert "--max-batch-size" in container["args"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"] >= 3 * 4.0 + 10
    assert pod["terminationGracePeriodSeconds"] > 30  # the drain fits in the grace period
    trigger = docs["keda-scaledobject.yaml"]["spec"]["triggers"][0]["metadata"]
    assert trigger["threshold"] == "22.4"  # 32 in flight x 0.7
    assert 'model="fraud"' in trigger["query"]
    assert docs["hpa.yaml"]["spec"]["maxReplicas"] == 6
    runtime = docs["kserve-clusterservingruntime.yaml"]["spec"]
    assert runtime["protocolVersions"] == ["v2", "grpc-v2"]
    assert runtime["containers"][0]["name"] == "kserve-container"
    dockerfile = (out / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile
    assert "gcc" not in dockerfile


@pytest.mark.e2e
def test_from_zero_the_keda_http_add_on_scales(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    run_cli(home, "deploy", "k8s", "fraud@production", "--output", str(out), "--replicas", "0..4")
    assert not (out / "keda-scaledobject.yaml").exists()  # Prometheus cannot wake a replica for a request
    http = yaml.safe_load((out / "keda-http-scaledobject.yaml").read_text())
    jsonschema.validate(http, _crd_schema("http.keda.sh_httpscaledobjects.yaml", "v1alpha1"))
    assert http["spec"]["replicas"] == {"min": 0, "max": 4}
    assert http["spec"]["scalingMetric"]["concurrency"]["targetValue"] == 22  # 32 in flight x 0.7
    assert http["spec"]["scaleTargetRef"]["service"] == "fraud-modelyard"


def test_a_bad_manifest_is_caught_by_the_validation(home: Path, tmp_path: Path) -> None:
    """The check can fail: a field the schema does not have, in the Deployment and in the KEDA resource."""
    from modelyard.deploy.k8s import Target, deployment, scaled_object

    target = Target(name="fraud", model="fraud", ref="fraud@production", image="modelyard:x", capacity=8)
    wrong = deployment(target)
    wrong["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, "1.29.0", strict=True)
    keda = scaled_object(target)
    keda["spec"]["minReplicas"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(keda, _crd_schema("keda.sh_scaledobjects.yaml", "v1alpha1"))


@pytest.mark.e2e
def test_bad_input_is_one_line(home: Path, tmp_path: Path) -> None:
    for args, text in [
        (("fraud@production", "--k8s-version", "1.12"), "--k8s-version 1.12"),
        (("plain/1",), "no performance card"),
        (("fraud@production", "--replicas", "3..1"), "--replicas 3..1"),
    ]:
        proc = run_cli(home, "deploy", "k8s", *args, "--output", str(tmp_path / "never"), ok=False)
        assert_one_line_error(proc, 2, text)
    assert not (tmp_path / "never").exists()
