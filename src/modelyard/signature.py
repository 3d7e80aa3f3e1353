"""Typed model signatures and the rules for when a declared signature fits a model's real one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelyard.datatypes import Datatype, from_numpy
from modelyard.errors import InvalidPackage


class TensorSpec(BaseModel):
    """One named tensor. `-1` in `shape` is a variable dimension (the batch axis, a sequence length)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    datatype: Datatype
    shape: tuple[int, ...]

    @field_validator("shape")
    @classmethod
    def _dims(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < -1 for d in shape):
            raise ValueError("dimensions are sizes >= 0, or -1 for a variable size")
        return shape

    @classmethod
    def of_array(cls, name: str, array: np.ndarray, batch_axis: bool = True) -> TensorSpec:
        shape = tuple(int(d) for d in array.shape)
        if batch_axis and shape:
            shape = (-1, *shape[1:])
        return cls(name=name, datatype=from_numpy(array.dtype), shape=shape)  # type: ignore[arg-type]


class Signature(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @field_validator("inputs", "outputs")
    @classmethod
    def _unique(cls, specs: tuple[TensorSpec, ...]) -> tuple[TensorSpec, ...]:
        names = [s.name for s in specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tensor names must be unique, repeated: {', '.join(dupes)}")
        return specs

    @classmethod
    def of_arrays(cls, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> Signature:
        """Signature seen from one example call; axis 0 is taken to be the batch axis."""
        return cls(
            inputs=tuple(TensorSpec.of_array(k, v) for k, v in inputs.items()),
            outputs=tuple(TensorSpec.of_array(k, v) for k, v in outputs.items()),
        )

    def input(self, name: str) -> TensorSpec | None:
        return next((s for s in self.inputs if s.name == name), None)

    def output(self, name: str) -> TensorSpec | None:
        return next((s for s in self.outputs if s.name == name), None)


def check_fits(declared: Signature, actual: Signature) -> None:
    """Refuse a declared signature that the model cannot honour, naming the first wrong field.

    Every model input must be declared (a runtime cannot run with one missing); declared outputs may be a subset.
    A declared dimension may narrow a variable one but never contradict a fixed one.
    """
    _check_side("inputs", declared.inputs, actual.inputs, require_all=True)
    _check_side("outputs", declared.outputs, actual.outputs, require_all=False)


def _check_side(side: str, declared: Sequence[TensorSpec], actual: Sequence[TensorSpec], require_all: bool) -> None:
    real = {s.name: s for s in actual}
    have = ", ".join(real) or "none"
    for i, spec in enumerate(declared):
        field = f"signature.{side}[{i}]"
        model = real.get(spec.name)
        if model is None:
            raise InvalidPackage(f"{field}.name: the model has no {side[:-1]} {spec.name!r} (it has: {have})")
        if spec.datatype != model.datatype:
            raise InvalidPackage(
                f"{field}.datatype: {spec.name!r} is declared {spec.datatype} but the model uses {model.datatype}"
            )
        if len(spec.shape) != len(model.shape):
            raise InvalidPackage(
                f"{field}.shape: {spec.name!r} is declared with rank {len(spec.shape)} "
                f"{list(spec.shape)} but the model's has rank {len(model.shape)} {list(model.shape)}"
            )
        for axis, (want, got) in enumerate(zip(spec.shape, model.shape, strict=True)):
            if got != -1 and want != got:
                raise InvalidPackage(
                    f"{field}.shape[{axis}]: {spec.name!r} is declared {want} but the model fixes it to {got}"
                )
    if require_all:
        missing = [n for n in real if n not in {s.name for s in declared}]
        if missing:
            raise InvalidPackage(f"signature.{side}: the model also needs {', '.join(map(repr, missing))}")
