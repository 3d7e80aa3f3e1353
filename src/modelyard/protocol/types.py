"""Inference requests and responses as the data plane sees them: decoded tensors, no transport details.

A transport's own options (HTTP's binary outputs) stay in `parameters`, read by that transport alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(slots=True)
class InferInput:
    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray


@dataclass(slots=True)
class RequestedOutput:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)  # the transport's own, e.g. HTTP's binary_data


@dataclass(slots=True)
class InferRequest:
    inputs: list[InferInput]
    id: str | None = None
    outputs: list[RequestedOutput] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def timeout_us(self) -> int | None:
        value = self.parameters.get("timeout")
        return int(value) if isinstance(value, int | float) and value > 0 else None


@dataclass(slots=True)
class InferOutput:
    name: str
    datatype: str
    data: np.ndarray


@dataclass(slots=True)
class InferResponse:
    model_name: str
    model_version: str
    outputs: list[InferOutput]
    id: str | None = None
