"""`--engine ray` on a local Ray instance (127.0.0.1): the same parts and output as the local engine, each part
committed by the actor that scored it, and a job the local engine started is finished by Ray (one protocol)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelyard import batch
from modelyard.batch import inputs as batch_inputs
from modelyard.registry import Registry
from modelyard.settings import Settings
from tests.batch.conftest import features, write_parquet

ray = pytest.importorskip("ray")


def test_the_pool_comes_from_concurrency_else_the_card_else_the_cpus() -> None:
    from modelyard.batch.ray_engine import pool

    card = {"config": {"intra_op_threads": 2, "instances": 1}}
    assert pool(card, 0, 8.0) == (4, 2)  # the card's threads per actor, as many as 8 CPUs feed
    assert pool(card, 3, 8.0) == (3, 2)
    assert pool(None, 0, 6.0) == (6, 1)
    assert pool({"config": {}}, 0, 1.0) == (1, 1)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    from modelyard.batch.ray_engine import start

    start(ray)
    yield
    ray.shutdown()


@pytest.mark.e2e
def test_ray_gives_the_local_engines_output_and_finishes_its_jobs(
    local_ray: None, picky: Path, tmp_path: Path, settings: Settings, registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(batch_inputs, "PART_ROWS", 500)
    x = np.abs(features(2000))
    x[[10, 1500], 0] = -1.0  # rejected rows, split out on the actors as on this machine
    source = write_parquet(tmp_path / "in.parquet", x, row_group=500)
    local = batch.run(str(picky), [str(source)], str(tmp_path / "local"), keep=["id"], batch_size=128,
                      settings=settings, registry=registry)  # fmt: skip
    assert local.parts == 4
    on_ray = batch.run(str(picky), [str(source)], str(tmp_path / "ray"), keep=["id"], batch_size=128,
                       engine="ray", concurrency=2, settings=settings, registry=registry)  # fmt: skip
    assert (on_ray.rows, on_ray.scored, on_ray.errors, on_ray.parts) == (2000, 1998, 2, 4)
    assert batch.results(str(tmp_path / "ray")).equals(batch.results(str(tmp_path / "local")))
    assert batch.errors(str(tmp_path / "ray"))["row"].to_pylist() == [10, 1500]
    assert registry.job(on_ray.job).engine == "ray"

    # a job begun on this machine (two parts done, then stopped) is finished on Ray, and equals the whole
    out = tmp_path / "handed-over"
    from modelyard.batch import output

    real_commit = output.OutputFolder.commit

    def stop_at_part_2(self: output.OutputFolder, index: int, *args: object) -> None:
        if index == 2:
            raise KeyboardInterrupt
        real_commit(self, index, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(output.OutputFolder, "commit", stop_at_part_2)
    with pytest.raises(KeyboardInterrupt):
        batch.run(str(picky), [str(source)], str(out), keep=["id"], batch_size=128, settings=settings,
                  registry=registry)  # fmt: skip
    monkeypatch.setattr(output.OutputFolder, "commit", real_commit)
    finished = batch.run(str(picky), [str(source)], str(out), keep=["id"], batch_size=128, engine="ray",
                         settings=settings, registry=registry)  # fmt: skip
    assert (finished.resumed, finished.this_run) == (2, 1000)
    assert batch.results(str(out)).equals(batch.results(str(tmp_path / "local")))
