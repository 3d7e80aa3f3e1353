"""Is the candidate as good as production on the same requests? The validation gate's checks (pure, in
`checks.py`), its policy and verdict, and the replay that feeds them through the one data plane (`replay.py`)."""

from modelyard.validation.checks import Check
from modelyard.validation.policy import Policy
from modelyard.validation.verdict import Verdict, decide

__all__ = ["Check", "Policy", "Verdict", "decide"]
