"""The inference server: one DataPlane behind the Open Inference Protocol transports, dynamic batching, instances."""
