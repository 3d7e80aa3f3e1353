"""What the gate asks of a candidate. The defaults are the documented policy: the flip rate's 95 % upper bound at
most 1 %, numeric outputs within the measured noise floor (plus `atol` + `rtol`·|baseline|), no new NaN/Inf and no
new errors, p99 at most 1.5x the baseline's under the same load, and enough requests to say so. With labels, the
candidate loses at most 0.01 of accuracy and of AUC and its RMSE rises at most 5 %, by the 95 % interval of a paired
test (validation/labelled.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from modelyard.policyfile import parse_model, read_yaml

if TYPE_CHECKING:
    from modelyard.registry import Registry

KIND = "gate"  # the registry's name for these policies (a model's monitor policy is another kind)


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_flip_rate: float = Field(default=0.01, ge=0, le=1, description="Upper 95 % bound of the label flip rate.")
    atol: float = Field(default=0.0, ge=0, description="Absolute tolerance on numeric outputs, beyond the noise.")
    rtol: float = Field(default=0.0, ge=0, description="Relative tolerance on numeric outputs, beyond the noise.")
    noise_factor: float = Field(default=2.0, ge=0, description="Tolerance = this x the baseline's own noise floor.")
    min_within: float = Field(default=0.999, ge=0, le=1, description="Share of numeric values within tolerance.")
    max_p99_ratio: float = Field(default=1.5, gt=0, description="Candidate p99 / baseline p99, same load.")
    min_throughput_ratio: float = Field(default=0.67, ge=0, description="Candidate / baseline requests/s, at least.")
    max_memory_ratio: float = Field(default=2.0, gt=0, description="Candidate / baseline memory to load, at most.")
    max_new_errors: int = Field(default=0, ge=0, description="Requests the candidate fails and the baseline did not.")
    max_new_nonfinite: int = Field(default=0, ge=0, description="NaN/Inf values the baseline did not produce.")
    max_accuracy_drop: float = Field(default=0.01, ge=0, le=1, description="With --labels: accuracy lost, at most.")
    max_auc_drop: float = Field(default=0.01, ge=0, le=1, description="With --labels: AUC lost, at most.")
    max_rmse_increase: float = Field(default=0.05, ge=0, description="With --labels: relative RMSE rise, at most.")
    min_requests: int = Field(default=30, ge=1, description="Fewer requests than this: inconclusive.")
    auto_promote: bool = Field(default=False, description="The gate promotes a passing candidate by itself.")
    watch_s: float = Field(default=600, ge=0, description="After the gate promotes, how long it watches production.")
    max_error_excess: float = Field(default=0.02, ge=0, le=1, description="Error rate above the previous version's.")
    min_watch_requests: int = Field(default=100, ge=1, description="Requests of the new version before judging it.")

    @classmethod
    def load(cls, path: Path) -> Policy:
        """A YAML file of the fields to change; an unknown field is refused by name."""
        return cls.parse(read_yaml(path), f"--policy {path}")

    @classmethod
    def parse(cls, fields: object, where: str) -> Policy:
        return parse_model(cls, fields, where)

    def changed(self) -> dict[str, object]:
        """The fields that differ from the documented defaults: what a stored policy keeps."""
        return self.model_dump(exclude_defaults=True)


def policy_for(registry: Registry, name: str, path: Path | None = None) -> Policy:
    """The bounds a validation of `name` uses: the file given (`--policy`), else the model's stored policy
    (`modelyard policy set`), else the defaults."""
    if path is not None:
        return Policy.load(path)
    stored = registry.policy(name, KIND)
    if stored is None:
        return Policy()
    return Policy.parse(dict(stored.fields), f"{name}'s stored policy (#{stored.id})")
