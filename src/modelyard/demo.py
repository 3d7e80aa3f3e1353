"""The demo: example models made on the spot, registered, with aliases set. Idempotent, so `make demo` can rerun."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelyard import examples
from modelyard.errors import MissingDependency, NotFound
from modelyard.registry import Registry
from modelyard.registry.entities import ModelVersion


@dataclass(frozen=True, slots=True)
class DemoModel:
    name: str
    description: str
    aliases: dict[str, int]


DEMO_MODELS = (
    DemoModel("tabular", "MLP 32 → 256 → 256 → 1 on FP32 rows (workload W1)", {"production": 1, "staging": 2}),
    DemoModel("image", "Small CNN on 3×64×64 images, 10 logits (workload W2)", {"production": 1}),
    DemoModel("churn", "scikit-learn StandardScaler + LogisticRegression", {"production": 1}),
)


def _exists(registry: Registry, name: str) -> bool:
    try:
        registry.model(name)
    except NotFound:
        return False
    return True


def _register_versions(registry: Registry, model: DemoModel, folder: Path) -> list[ModelVersion]:
    lineage = {"dataset": "synthetic", "script": "modelyard.examples"}
    if model.name == "tabular":
        return [
            registry.register(
                examples.mlp_onnx(folder / f"tabular-{seed}.onnx", seed=seed),
                name="tabular",
                description=model.description,
                metrics={"val_loss": 0.31 - 0.02 * seed},
                params={"seed": str(seed)},
                tags={"team": "risk"},
                lineage={**lineage, "seed": str(seed)},
            )
            for seed in (0, 1)
        ]
    if model.name == "image":
        path = examples.cnn_onnx(folder / "image.onnx")
        return [registry.register(path, name="image", description=model.description, lineage=lineage)]
    path, example = examples.sklearn_pipeline(folder / "churn.joblib")
    return [
        registry.register(
            path,
            name="churn",
            example=example,
            description=model.description,
            params={"C": "1.0"},
            tags={"team": "growth"},
            lineage=lineage,
        )
    ]


def prepare_demo(registry: Registry, folder: Path) -> list[str]:
    """Register the demo models that are not registered yet; return what was done, one line each."""
    folder.mkdir(parents=True, exist_ok=True)
    done = []
    for model in DEMO_MODELS:
        if _exists(registry, model.name):
            done.append(f"{model.name}: already registered")
            continue
        try:
            versions = _register_versions(registry, model, folder)
        except MissingDependency as exc:
            done.append(f"{model.name}: skipped ({exc})")
            continue
        for alias, version in model.aliases.items():
            registry.set_alias(model.name, alias, version, reason="demo setup")
        done.append(f"{model.name}: registered {', '.join(v.uri for v in versions)}")
    return done
