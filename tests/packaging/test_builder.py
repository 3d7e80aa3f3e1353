from pathlib import Path

import numpy as np
import pytest
import yaml

from modelyard.errors import InvalidArgument, InvalidPackage, MissingDependency
from modelyard.manifest import read_manifest
from modelyard.packaging import build_package, validate_package
from modelyard.runtimes import load_runtime

PYTHON_MODEL = """
import numpy as np

class Doubler:
    thread_safe = True

    def load(self):
        self.factor = 2

    def predict(self, inputs):
        return {"doubled": inputs["x"] * self.factor, "total": inputs["x"].sum(axis=1)}
"""


def test_onnx_signature_is_read_from_the_graph(mlp_path: Path, tmp_path: Path) -> None:
    manifest = build_package(mlp_path, tmp_path / "pkg", name="mlp")
    assert manifest.format == "onnx"
    assert manifest.trusted_only is False
    assert [(s.name, s.datatype, s.shape) for s in manifest.signature.inputs] == [("x", "FP32", (-1, 4))]
    assert [(s.name, s.datatype, s.shape) for s in manifest.signature.outputs] == [("y", "FP32", (-1, 2))]
    assert manifest.max_batch_size == 64
    assert read_manifest(tmp_path / "pkg") == manifest
    runtime = load_runtime(tmp_path / "pkg", manifest)
    x = np.ones((3, 4), np.float32)
    assert runtime.predict({"x": x})["y"].shape == (3, 2)


def test_sklearn_needs_an_example_and_gets_predict_and_proba(
    sklearn_model: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, example = sklearn_model
    with pytest.raises(InvalidPackage, match="example"):
        build_package(path, tmp_path / "no-example")
    assert not (tmp_path / "no-example").exists()
    manifest = build_package(path, tmp_path / "pkg", example=example)
    assert manifest.trusted_only is True
    assert {s.name: s.shape for s in manifest.signature.outputs} == {
        "predict": (-1,),
        "predict_proba": (-1, 2),
    }
    assert manifest.signature.inputs[0].shape == (-1, example.shape[1])
    assert validate_package(tmp_path / "pkg") == manifest


def test_python_class_package_runs_its_code(tmp_path: Path) -> None:
    source = tmp_path / "doubler.py"
    source.write_text(PYTHON_MODEL)
    example = {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    manifest = build_package(source, tmp_path / "pkg", python_class="Doubler", example=example)
    assert manifest.python_class == "doubler:Doubler"
    assert manifest.trusted_only is True
    assert manifest.max_batch_size == 0
    assert (tmp_path / "pkg" / "code" / "doubler.py").is_file()
    out = load_runtime(tmp_path / "pkg", manifest).predict(example)
    np.testing.assert_array_equal(out["doubled"], example["x"] * 2)
    assert {s.name for s in manifest.signature.outputs} == {"doubled", "total"}


def test_corrupt_onnx_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07this is not a model")
    with pytest.raises(InvalidPackage, match="cannot load"):
        build_package(bad, tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()


def test_corrupt_pickle_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"garbage")
    with pytest.raises(InvalidPackage, match="unpickle"):
        build_package(bad, tmp_path / "pkg", example=np.zeros((1, 2)))


def test_unknown_suffix_and_non_empty_out_are_refused(mlp_path: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="format"):
        build_package(tmp_path / "model.h5", tmp_path / "pkg")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(InvalidArgument, match="not empty"):
        build_package(mlp_path, tmp_path / "full")
    assert (tmp_path / "full" / "x").read_text() == "keep me"


def test_torchscript_without_torch_says_how_to_install(tmp_path: Path) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("torch is installed")
    (tmp_path / "m.pt").write_bytes(b"whatever")
    with pytest.raises(MissingDependency, match=r"modelyard\[torch\]"):
        build_package(tmp_path / "m.pt", tmp_path / "pkg", example=np.zeros((1, 2), np.float32))


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda m: m["signature"]["inputs"][0].update(name="features"), r"signature\.inputs\[0\]\.name"),
        (lambda m: m["signature"]["inputs"][0].update(datatype="INT64"), r"signature\.inputs\[0\]\.datatype"),
        (lambda m: m["signature"]["inputs"][0].update(shape=[-1, 4, 1]), r"signature\.inputs\[0\]\.shape"),
        (
            lambda m: m["signature"]["outputs"][0].update(shape=[-1, 3]),
            r"signature\.outputs\[0\]\.shape\[1\]",
        ),
        (lambda m: m.update(artifact="missing.onnx"), "artifact"),
    ],
)
def test_manifest_contradicting_its_artifact_is_refused(mlp_path: Path, tmp_path: Path, edit, field) -> None:  # type: ignore[no-untyped-def]
    build_package(mlp_path, tmp_path / "pkg")
    path = tmp_path / "pkg" / "modelyard.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InvalidPackage, match=field):
        validate_package(tmp_path / "pkg")


def test_sklearn_manifest_with_wrong_feature_count_is_refused(
    sklearn_model: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, example = sklearn_model
    build_package(path, tmp_path / "pkg", example=example)
    (tmp_path / "pkg" / "example.npz").unlink()
    manifest_path = tmp_path / "pkg" / "modelyard.yaml"
    data = yaml.safe_load(manifest_path.read_text())
    del data["example"]
    data["signature"]["inputs"][0]["shape"] = [-1, example.shape[1] + 3]
    manifest_path.write_text(yaml.safe_dump(data))
    with pytest.raises(InvalidPackage, match="example: the model failed"):
        validate_package(tmp_path / "pkg")
