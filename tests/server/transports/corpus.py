"""Bad requests and the error each must get, shared by the in-process REST tests and the real server's."""

from __future__ import annotations

import numpy as np


def body(name: str, datatype: str, shape: list[int], **extra: object) -> dict[str, object]:
    count = int(np.prod(shape))
    return {"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": [1] * count}], **extra}


# (path under /v2/models/, body, status, text the error must contain)
BAD_REQUESTS: list[tuple[str, dict[str, object], int, str]] = [
    ("mixed/infer", body("zz", "FP32", [1, 4]), 400, "'zz'"),
    ("tabular/infer", body("x", "INT64", [1, 32]), 400, "datatype INT64"),
    ("tabular/infer", body("x", "FP32", [1, 31]), 400, "shape [1, 31]"),
    ("tabular/infer", body("x", "FP32", [65, 32]), 400, "max_batch_size"),
    ("tabular/infer", body("x", "FP32", [1, 32], outputs=[{"name": "nope"}]), 400, "'nope'"),
    ("mixed/infer", body("a", "FP32", [1, 4]), 400, "missing 'ids', 'names'"),
    ("tabular/infer", body("x", "FLOAT", [1, 32]), 400, "inputs[0] 'x'.datatype"),
    ("tabular/infer", {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, None]}]}, 400,
     "null is not a number"),
    ("tabular/infer", body("x", "FP32", [1] * 65), 400, "65 dimensions"),
    ("absent/infer", {"inputs": []}, 404, "not loaded"),
    ("flaky/infer", {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [-1, 0, 1]}]}, 500,
     "negative input"),
]  # fmt: skip
