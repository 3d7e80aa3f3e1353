"""How many replicas a model needs: a policy on in-flight requests over the capacity its performance card measured
(policy.py, pure, the clock passed in), and a simulator that replays a load trace through it beside Kubernetes'
HPA on CPU and Knative's KPA (simulate.py; traces/ holds a day and a spike)."""
