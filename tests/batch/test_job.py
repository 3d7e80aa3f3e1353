"""Batch jobs in this process, on real ONNX Runtime and a real registry (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from modelyard import batch
from modelyard.batch import inputs as batch_inputs
from modelyard.errors import InvalidArgument, ModelExecutionError
from modelyard.registry import Registry
from modelyard.settings import Settings
from tests.batch.conftest import features, tensor_table, write_parquet


def raw(model: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_scores_every_row_in_input_order_with_kept_columns(
    mlp: Path, tmp_path: Path, settings: Settings, registry: Registry
) -> None:
    x = features(5000)
    source = write_parquet(tmp_path / "in.parquet", x, row_group=700)
    summary = batch.run(str(mlp), [str(source)], str(tmp_path / "out"), keep=["id"], batch_size=300,
                        settings=settings, registry=registry)  # fmt: skip
    table = batch.results(str(tmp_path / "out"))
    assert (summary.rows, summary.scored, summary.errors, summary.status) == (5000, 5000, 0, "done")
    assert table.column_names == ["id", "y"]
    assert table["id"].to_pylist() == list(range(5000))
    y = np.stack(table["y"].to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(y, raw(mlp, x), rtol=1e-5, atol=1e-6)
    job = registry.job(summary.job)
    assert (job.status, job.rows, job.scored, job.errors, job.engine) == ("done", 5000, 5000, 0, "local")
    assert job.inputs[0]["digest"] == batch_inputs.describe(str(source)).digest
    assert job.output == str(tmp_path / "out")
    assert job.actor == "tester"
    assert [j.id for j in registry.jobs("mlp")] == [summary.job]


def test_a_finished_job_run_again_does_nothing_and_overwrite_runs_it_again(
    mlp: Path, tmp_path: Path, settings: Settings, registry: Registry
) -> None:
    source = write_parquet(tmp_path / "in.parquet", features(400))
    out = tmp_path / "out"
    batch.run(str(mlp), [str(source)], str(out), settings=settings, registry=registry)
    before = (out / "part-00000.parquet").stat().st_mtime_ns
    again = batch.run(str(mlp), [str(source)], str(out), settings=settings, registry=registry)
    assert again.status == "already done"
    assert again.rows == 400
    assert (out / "part-00000.parquet").stat().st_mtime_ns == before
    redone = batch.run(str(mlp), [str(source)], str(out), overwrite=True, settings=settings, registry=registry)
    assert redone.status == "done"
    assert (out / "part-00000.parquet").stat().st_mtime_ns != before


def test_resumes_only_the_parts_not_done(mlp: Path, tmp_path: Path, settings: Settings, registry: Registry,
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Parts done by a run that then stopped are kept (their files untouched); the rest are done, once."""
    x = features(3000)
    source = write_parquet(tmp_path / "in.parquet", x, row_group=500)
    monkeypatch.setattr(batch_inputs, "PART_ROWS", 1000)
    out = tmp_path / "out"
    whole = batch.run(str(mlp), [str(source)], str(tmp_path / "whole"), keep=["id"], settings=settings,
                      registry=registry)  # fmt: skip
    assert whole.parts == 3
    from modelyard.batch import output

    real_commit = output.OutputFolder.commit

    def stop_after_two(self: output.OutputFolder, index: int, *args: object) -> None:
        if index == 2:
            raise KeyboardInterrupt  # as if killed while part 2 was being written
        real_commit(self, index, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(output.OutputFolder, "commit", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        batch.run(str(mlp), [str(source)], str(out), keep=["id"], settings=settings, registry=registry)
    assert sorted(p.name for p in (out / "_done").iterdir()) == ["part-00000.json", "part-00001.json"]
    assert registry.jobs()[0].status == "interrupted"
    kept = (out / "part-00000.parquet").stat().st_mtime_ns
    monkeypatch.setattr(output.OutputFolder, "commit", real_commit)
    resumed = batch.run(str(mlp), [str(source)], str(out), keep=["id"], settings=settings, registry=registry)
    assert (resumed.resumed, resumed.this_run, resumed.rows) == (2, 1000, 3000)
    assert (out / "part-00000.parquet").stat().st_mtime_ns == kept
    assert batch.results(str(out)).equals(batch.results(str(tmp_path / "whole")))
    assert not list((out / "_tmp").iterdir())


def test_rows_the_model_rejects_go_to_errors_with_their_reason(
    picky: Path, tmp_path: Path, settings: Settings, registry: Registry
) -> None:
    x = np.abs(features(1000))
    bad = [3, 500, 501, 999]
    x[bad, 1] = -1.0
    source = write_parquet(tmp_path / "in.parquet", x)
    summary = batch.run(str(picky), [str(source)], str(tmp_path / "out"), keep=["id"], batch_size=256,
                        settings=settings, registry=registry)  # fmt: skip
    assert (summary.rows, summary.scored, summary.errors) == (1000, 996, 4)
    assert "negative input is not allowed" in summary.first_error
    results, errors = batch.results(str(tmp_path / "out")), batch.errors(str(tmp_path / "out"))
    good = [i for i in range(1000) if i not in bad]
    assert results["id"].to_pylist() == good
    np.testing.assert_allclose(results["y"].to_numpy(), x[good].sum(axis=1) * 2, rtol=1e-6)
    assert errors["id"].to_pylist() == bad
    assert errors["row"].to_pylist() == bad
    assert all("negative input is not allowed" in e for e in errors["error"].to_pylist())
    assert registry.job(summary.job).errors == 4
    write_parquet(tmp_path / "negative.parquet", -np.abs(features(20)))
    with pytest.raises(InvalidArgument, match=r"the model rejects its first 8 rows: .*negative input"):
        batch.run(str(picky), [str(tmp_path / "negative.parquet")], str(tmp_path / "never"), settings=settings,
                  registry=registry)  # fmt: skip
    assert not (tmp_path / "never").exists()


def test_max_errors_stops_the_job(picky: Path, tmp_path: Path, settings: Settings, registry: Registry) -> None:
    x = np.abs(features(300))
    x[::3, 0] = -1.0  # a third of the rows, never all of the first ones (the probe)
    source = write_parquet(tmp_path / "in.parquet", x)
    with pytest.raises(ModelExecutionError, match="more than --max-errors 10"):
        batch.run(str(picky), [str(source)], str(tmp_path / "out"), max_errors=10, settings=settings,
                  registry=registry)  # fmt: skip
    assert registry.jobs()[0].status == "failed"


def test_null_inputs_are_errors_not_nans(mlp: Path, tmp_path: Path, settings: Settings, registry: Registry) -> None:
    x = features(10)
    table = pa.table({f"x_{i}": pa.array([None if (r, i) == (4, 2) else float(x[r, i]) for r in range(10)])
                      for i in range(4)})  # fmt: skip
    pq.write_table(table, tmp_path / "in.parquet")
    summary = batch.run(str(mlp), [str(tmp_path / "in.parquet")], str(tmp_path / "out"), settings=settings,
                        registry=registry)  # fmt: skip
    assert (summary.scored, summary.errors) == (9, 1)
    errors = batch.errors(str(tmp_path / "out"))
    assert errors["row"].to_pylist() == [4]
    assert errors["error"].to_pylist() == ["an input is missing (null)"]
    expected = raw(mlp, np.delete(x, 4, axis=0))
    np.testing.assert_allclose(np.stack(batch.results(str(tmp_path / "out"))["y"].to_numpy(zero_copy_only=False)),
                               expected, rtol=1e-5, atol=1e-6)  # fmt: skip


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_inputs_and_outputs(mlp: Path, tmp_path: Path, settings: Settings, registry: Registry, fmt: str) -> None:
    """A CSV of a column per element (x_0..x_3), a JSON lines file of lists; the outputs in the same format."""
    x = features(50)
    if fmt == "csv":
        source = tmp_path / "in.csv"
        pyarrow.csv.write_csv(pa.table({"key": [f"k{i}" for i in range(50)],
                                        **{f"x_{i}": x[:, i] for i in range(4)}}), source)  # fmt: skip
    else:
        source = tmp_path / "in.jsonl"
        source.write_bytes(b"".join(orjson.dumps({"key": f"k{i}", "x": row.tolist()}) + b"\n"
                                    for i, row in enumerate(x)))  # fmt: skip
    summary = batch.run(str(mlp), [str(source)], str(tmp_path / "out"), keep=["key"], format=fmt,
                        settings=settings, registry=registry)  # fmt: skip
    assert summary.rows == 50
    table = batch.results(str(tmp_path / "out"))
    assert table["key"].to_pylist() == [f"k{i}" for i in range(50)]
    y = np.column_stack([table["y_0"], table["y_1"]]) if fmt == "csv" else np.array(table["y"].to_pylist())
    np.testing.assert_allclose(y, raw(mlp, x), rtol=1e-4, atol=1e-5)


def test_npy_of_images_with_several_files(tmp_path: Path, settings: Settings, registry: Registry) -> None:
    """W2's CNN on .npy files of (rows, 3, 64, 64) images: a folder of them scores as one job, in file order."""
    from modelyard import examples

    model = examples.cnn_onnx(tmp_path / "cnn.onnx")
    images = np.random.default_rng(1).normal(size=(12, 3, 64, 64)).astype(np.float32)
    folder = tmp_path / "images"
    folder.mkdir()
    np.save(folder / "a.npy", images[:5])
    np.save(folder / "b.npy", images[5:])
    summary = batch.run(str(model), [str(folder)], str(tmp_path / "out"), settings=settings, registry=registry)
    assert (summary.rows, summary.parts) == (12, 2)
    logits = np.stack(batch.results(str(tmp_path / "out")).column(0).to_numpy(zero_copy_only=False))
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: images})[0]
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


def test_bad_input_is_refused_before_any_work(mlp: Path, tmp_path: Path, settings: Settings,
                                              registry: Registry) -> None:  # fmt: skip
    out = tmp_path / "out"

    def refused(source: Path, match: str, **options: object) -> None:
        with pytest.raises(InvalidArgument, match=match):
            batch.run(str(mlp), [str(source)], str(out), settings=settings, registry=registry, **options)  # type: ignore[arg-type]
        assert not out.exists()

    pq.write_table(pa.table({"z": [1.0]}), tmp_path / "other.parquet")
    pq.write_table(pa.table({"a": [1.0], "b": [2.0]}), tmp_path / "two.parquet")
    refused(tmp_path / "two.parquet", "a, b give 2 values per row; the model's input 'x' takes 4")
    pq.write_table(tensor_table(features(3)).append_column("s", pa.array(["a", "b", "c"])), tmp_path / "s.parquet")
    refused(tmp_path / "s.parquet", "column 's' holds string; the model's input 'x' is FP32", mapping={"s": "x"})
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    refused(tmp_path / "broken.parquet", "not a readable parquet file")
    refused(tmp_path / "missing.parquet", "no such file or folder")
    refused(tmp_path / "s.parquet", "--keep id: .* has no column 'id'", keep=["id"])
    pq.write_table(tensor_table(features(3, width=5)), tmp_path / "wide.parquet")
    refused(tmp_path / "wide.parquet", "x gives 5 values per row; the model's input 'x' takes 4")
    refused(tmp_path / "other.parquet", "no column 'q'", mapping={"q": "x"})
    assert registry.jobs() == []


def test_another_jobs_folder_is_refused(mlp: Path, tmp_path: Path, settings: Settings, registry: Registry) -> None:
    first = write_parquet(tmp_path / "a.parquet", features(20, seed=1))
    second = write_parquet(tmp_path / "b.parquet", features(20, seed=2))
    batch.run(str(mlp), [str(first)], str(tmp_path / "out"), settings=settings, registry=registry)
    marker = (tmp_path / "out" / "part-00000.parquet").read_bytes()
    with pytest.raises(InvalidArgument, match="holds another job's output"):
        batch.run(str(mlp), [str(second)], str(tmp_path / "out"), settings=settings, registry=registry)
    assert (tmp_path / "out" / "part-00000.parquet").read_bytes() == marker
