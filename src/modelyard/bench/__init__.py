"""`modelyard bench` and `modelyard profile`: a load generator light enough not to be the bottleneck (`loadgen`), the
open-loop pacer, measured windows and the stability rule (`stats`, pure), what the server says about a run
(`probe`), and the sweep that picks a serving configuration under a latency budget (`profile`)."""
