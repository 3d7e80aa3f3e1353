"""The one data plane, called as every transport calls it: decoded requests in, decoded responses out."""

from __future__ import annotations

import numpy as np
import pytest

from modelyard.errors import InvalidArgument, ModelExecutionError, NotFound
from modelyard.protocol.types import InferInput, InferRequest, RequestedOutput
from modelyard.testing import InProcess


def row(value: float = 0.5) -> InferRequest:
    x = np.full((1, 32), value, np.float32)
    return InferRequest([InferInput("x", "FP32", x.shape, x)], id="r1")


def test_infer_by_name_alias_and_version_gives_the_same_answer(in_process: InProcess) -> None:
    dataplane = in_process.dataplane
    answers = [in_process.run(dataplane.infer(name, version, row())) for name, version in
               [("tabular", None), ("tabular@production", None), ("tabular", "1")]]  # fmt: skip
    assert {(a.model_name, a.model_version, a.id) for a in answers} == {("tabular", "1", "r1")}
    first = answers[0].outputs[0]
    assert (first.name, first.datatype, first.data.shape) == ("y", "FP32", (1, 1))
    for other in answers[1:]:
        np.testing.assert_array_equal(other.outputs[0].data, first.data)


def test_requested_outputs_are_selected_and_unknown_ones_named(in_process: InProcess) -> None:
    a = np.ones((1, 4), np.float32)
    ids = np.ones((1, 2), np.int64)
    names = np.array([[b"n"]], dtype=object)
    inputs = [InferInput("a", "FP32", a.shape, a), InferInput("ids", "INT64", ids.shape, ids),
              InferInput("names", "BYTES", names.shape, names)]  # fmt: skip
    response = in_process.run(
        in_process.dataplane.infer("mixed", None, InferRequest(inputs, outputs=[RequestedOutput("echo")]))
    )
    assert [o.name for o in response.outputs] == ["echo"]
    with pytest.raises(InvalidArgument, match="'nope'"):
        in_process.run(
            in_process.dataplane.infer("mixed", None, InferRequest(inputs, outputs=[RequestedOutput("nope")]))
        )


def test_errors_are_the_error_tree(in_process: InProcess) -> None:
    with pytest.raises(NotFound):
        in_process.run(in_process.dataplane.infer("absent", None, row()))
    x = np.array([[-1, 0, 1]], np.float32)
    with pytest.raises(ModelExecutionError, match="negative input"):
        in_process.run(in_process.dataplane.infer("flaky", None, InferRequest([InferInput("x", "FP32", x.shape, x)])))


def test_metadata_config_and_index(in_process: InProcess) -> None:
    dataplane = in_process.dataplane
    assert dataplane.ready()
    assert dataplane.model_metadata("tabular")["versions"] == ["1"]
    assert dataplane.model_config("tabular")["max_batch_size"] == 64
    assert {e["name"] for e in dataplane.repository_index()} >= {"mixed", "tabular", "flaky", "churn"}
    assert in_process.run(dataplane.load("tabular")) == ["1"]  # loaded already: nothing changes
    with pytest.raises(NotFound):
        in_process.run(dataplane.load("absent"))
