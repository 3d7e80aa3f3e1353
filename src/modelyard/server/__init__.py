"""The inference server: one DataPlane (`dataplane.py`) behind the Open Inference Protocol transports.

Rooms: `transports/` (REST, the HTTP protocol, gRPC), `models/` (what is loaded), `batching/`, `metrics/`,
`repository/` (what to serve; the registry follower), `process/` (handoff, launcher, workers, supervisor),
`shadow/` (a shadow's candidate in a process of its own; `experiments.py` routes shadows and canaries).
`worker_app.py` builds one worker's app from the spec. docs/architecture.md draws how they fit.
"""
