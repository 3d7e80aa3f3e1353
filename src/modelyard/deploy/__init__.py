"""How do I run it on Kubernetes? Manifests for a registered version, sized from its performance card (k8s.py)."""
