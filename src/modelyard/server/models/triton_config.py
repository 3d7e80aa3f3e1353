"""Model configuration in Triton's JSON shape (`GET /v2/models/{m}/config`), which perf_analyzer and Triton tools
read to learn batching and tensor shapes."""

from __future__ import annotations

from typing import Any

from modelyard.manifest import Manifest
from modelyard.signature import TensorSpec

PLATFORMS = {"onnx": "onnxruntime_onnx", "torchscript": "pytorch_libtorch", "sklearn": "sklearn", "python": "python"}


def _tensor(spec: TensorSpec, batched: bool) -> dict[str, Any]:
    datatype = "STRING" if spec.datatype == "BYTES" else spec.datatype
    dims = list(spec.shape[1:] if batched else spec.shape)
    return {"name": spec.name, "data_type": f"TYPE_{datatype}", "dims": dims}


def model_config(name: str, version: str, manifest: Manifest) -> dict[str, Any]:
    batched = manifest.max_batch_size > 0
    config: dict[str, Any] = {
        "name": name,
        "platform": PLATFORMS[manifest.format],
        "backend": "onnxruntime" if manifest.format == "onnx" else manifest.format,
        "version_policy": {"specific": {"versions": [version]}},
        "max_batch_size": manifest.max_batch_size,
        "input": [_tensor(s, batched) for s in manifest.signature.inputs],
        "output": [_tensor(s, batched) for s in manifest.signature.outputs],
        "instance_group": [
            {
                "name": f"{name}_0",
                "count": manifest.instances.count,
                "kind": "KIND_GPU" if manifest.instances.device.startswith("cuda") else "KIND_CPU",
            }
        ],
    }
    if batched:
        config["dynamic_batching"] = {
            "preferred_batch_size": list(manifest.batching.preferred_batch_sizes),
            "max_queue_delay_microseconds": manifest.batching.max_queue_delay_us,
            "default_queue_policy": {"max_queue_size": manifest.batching.max_queue_size},
        }
    return config
