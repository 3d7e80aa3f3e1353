"""Has the data moved? Features from tensors, reference profiles in one bounded pass, and drift tests that mean
something at any sample size. Pure: arrays and profiles in, verdicts out; the server and the CLI call it."""

from modelyard.drift.compare import FeatureDrift, compare
from modelyard.drift.features import features
from modelyard.drift.profile import ProfileBuilder, build

__all__ = ["FeatureDrift", "ProfileBuilder", "build", "compare", "features"]
