"""The traffic log: a sample of each model version's requests and responses, in Parquet under the artifact store,
for what judges a model on real traffic (the validation gate, drift).

The server records (`TrafficLog`, off the request path: a byte-bounded buffer and a writer thread); anyone reads a
window back (`read_window`, `arrays`)."""

from modelyard.traffic.log import TrafficLog
from modelyard.traffic.reader import Window, arrays, list_files, read_window
from modelyard.traffic.sampling import Sampler

__all__ = ["Sampler", "TrafficLog", "Window", "arrays", "list_files", "read_window"]
