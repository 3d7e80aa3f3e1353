"""Check decoded inputs against a model's signature before they reach the queue, naming what is wrong.

The signature is compiled once per loaded model into plain tuples, so the per-request check is a few dictionary
lookups and comparisons.
"""

from __future__ import annotations

from modelyard.errors import InvalidArgument
from modelyard.protocol.types import InferInput
from modelyard.signature import Signature


def batch_key(inputs: list[InferInput]) -> tuple[object, ...]:
    """Requests may share a batch only when every input agrees on everything but the batch axis."""
    return tuple((i.name, i.datatype, i.shape[1:]) for i in inputs)


class InputChecker:
    def __init__(self, signature: Signature, max_batch_size: int) -> None:
        self.specs = {s.name: (s.datatype, s.shape) for s in signature.inputs}
        self.names = ", ".join(self.specs)
        self.max_batch_size = max_batch_size

    def check(self, inputs: list[InferInput]) -> int:
        """Validate and return the number of rows (the batch-axis size; 1 for models without a batch axis)."""
        specs = self.specs
        for index, item in enumerate(inputs):
            spec = specs.get(item.name)
            if spec is None:
                raise InvalidArgument(
                    f"inputs[{index}] {item.name!r}: the model has no such input (it takes: {self.names})"
                )
            datatype, shape = spec
            if item.datatype != datatype:
                raise InvalidArgument(
                    f"inputs[{index}] {item.name!r}: datatype {item.datatype} does not match the model's {datatype}"
                )
            if item.shape != shape and (
                len(item.shape) != len(shape) or any(w != -1 and g != w for g, w in zip(item.shape, shape, strict=True))
            ):
                raise InvalidArgument(
                    f"inputs[{index}] {item.name!r}: shape {list(item.shape)} does not fit the model's {list(shape)}"
                )
        if len(inputs) != len(specs):
            given = [i.name for i in inputs]
            missing = [n for n in specs if n not in given]
            if missing:
                raise InvalidArgument(f"inputs: missing {', '.join(map(repr, missing))}")
            raise InvalidArgument("inputs: an input name is given twice")
        if self.max_batch_size <= 0:
            return 1
        count = inputs[0].shape[0]
        for item in inputs:
            if item.shape[0] != count:
                rows = sorted({i.shape[0] for i in inputs})
                raise InvalidArgument(f"inputs: every input must have the same batch size (axis 0), got {rows}")
        if count > self.max_batch_size:
            raise InvalidArgument(
                f"inputs: batch size {count} is over the model's max_batch_size {self.max_batch_size}"
            )
        if count == 0:
            raise InvalidArgument("inputs: batch size 0 (empty input)")
        return count
