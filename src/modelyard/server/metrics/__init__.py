"""What the server reports: per model-version statistics (Triton's statistics extension), the snapshot files that
share them across worker processes, and the Prometheus exposition of `/metrics`."""
