import numpy as np
import pytest
from pydantic import ValidationError

from modelyard.errors import InvalidPackage
from modelyard.signature import Signature, TensorSpec, check_fits


def sig(inputs: list[tuple[str, str, tuple[int, ...]]], outputs: list[tuple[str, str, tuple[int, ...]]]) -> Signature:
    def specs(items: list[tuple[str, str, tuple[int, ...]]]) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(name=n, datatype=d, shape=s) for n, d, s in items)  # type: ignore[arg-type]

    return Signature(inputs=specs(inputs), outputs=specs(outputs))


MODEL = sig([("x", "FP32", (-1, 4)), ("ids", "INT64", (-1, 3))], [("y", "FP32", (-1, 2)), ("z", "INT64", (-1,))])


def test_identical_signature_fits() -> None:
    check_fits(MODEL, MODEL)


def test_narrowing_a_variable_dimension_fits_and_outputs_may_be_a_subset() -> None:
    check_fits(sig([("x", "FP32", (8, 4)), ("ids", "INT64", (-1, 3))], [("y", "FP32", (-1, 2))]), MODEL)


@pytest.mark.parametrize(
    ("declared", "field"),
    [
        (sig([("q", "FP32", (-1, 4)), ("ids", "INT64", (-1, 3))], []), r"signature\.inputs\[0\]\.name"),
        (sig([("x", "INT64", (-1, 4)), ("ids", "INT64", (-1, 3))], []), r"signature\.inputs\[0\]\.datatype"),
        (sig([("x", "FP32", (-1, 4, 1)), ("ids", "INT64", (-1, 3))], []), r"signature\.inputs\[0\]\.shape"),
        (sig([("x", "FP32", (-1, 5)), ("ids", "INT64", (-1, 3))], []), r"signature\.inputs\[0\]\.shape\[1\]"),
        (sig([("x", "FP32", (-1, 4))], []), r"signature\.inputs: the model also needs 'ids'"),
        (
            sig([("x", "FP32", (-1, 4)), ("ids", "INT64", (-1, 3))], [("w", "FP32", (-1,))]),
            r"outputs\[0\]\.name",
        ),
    ],
)
def test_contradictions_name_the_field(declared: Signature, field: str) -> None:
    with pytest.raises(InvalidPackage, match=field):
        check_fits(declared, MODEL)


def test_signature_of_arrays_marks_the_batch_axis_variable() -> None:
    s = Signature.of_arrays({"x": np.zeros((2, 3), np.float32)}, {"label": np.array(["a", "b"], dtype=object)})
    assert s.inputs[0] == TensorSpec(name="x", datatype="FP32", shape=(-1, 3))
    assert s.outputs[0] == TensorSpec(name="label", datatype="BYTES", shape=(-1,))


def test_duplicate_names_and_bad_dims_are_refused() -> None:
    with pytest.raises(ValidationError, match="unique"):
        sig([("x", "FP32", (1,)), ("x", "FP32", (1,))], [])
    with pytest.raises(ValidationError, match="-1"):
        TensorSpec(name="x", datatype="FP32", shape=(-2,))
