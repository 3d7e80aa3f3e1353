"""The experimental path in the server: a candidate version beside production, shadowed or answering a share.

- **shadow**: a share of production's requests also goes to the candidate, after production's answer has gone
  out, to the candidate's own process at the lowest priority (`server/shadow/`), through a pipe bounded in bytes
  and a bounded number of pending calls (past either a shadow call is dropped and counted, never slowing
  production); both answers go to the traffic log under one request id, the candidate's with the alias `shadow`,
  which `modelyard validate --shadow` pairs.
- **canary**: a share of requests is answered by the candidate, sticky by the hash of a request parameter; the
  response names the version that answered. `CanaryGuard` withdraws the canary by itself when its error rate
  exceeds production's beyond the policy.

An experiment applies to requests for the model without a version, by name or by the baseline's alias.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from modelyard.protocol.types import InferRequest
from modelyard.server.models.manager import ModelManager
from modelyard.server.models.served import ServedModel
from modelyard.server.shadow import ShadowProcess
from modelyard.server.shadow.process import Answer
from modelyard.traffic.sampling import Sampler

log = logging.getLogger("modelyard.server")


class _PairIds:
    """Request ids for the shadow's pairs, unique across workers and restarts: a random prefix per process (drawn
    again in a forked worker) and a counter. A `uuid4` for every request under a shadow (a `getrandom` call and a
    UUID object) was 6.6 % of the event loop's samples at W1 c=16 (docs/measurements.md, "Shadow and canary")."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self.prefix, self.counter = uuid.uuid4().hex[:16], itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}-{next(self.counter):x}"


pair_id = _PairIds()


@dataclass
class CanaryGuard:
    """Pure: counts each arm's outcomes and says when the canary must go. It goes once it has `min_requests`
    and its error rate exceeds production's by more than `max_excess`."""

    min_requests: int = 50
    max_excess: float = 0.05
    counts: dict[str, list[int]] = field(default_factory=lambda: {"baseline": [0, 0], "candidate": [0, 0]})

    def observe(self, arm: str, failed: bool) -> None:
        self.counts[arm][0] += 1
        self.counts[arm][1] += int(failed)

    def rate(self, arm: str) -> float:
        n, failed = self.counts[arm]
        return failed / n if n else 0.0

    def withdraw(self) -> bool:
        n = self.counts["candidate"][0]
        return n >= self.min_requests and self.rate("candidate") > self.rate("baseline") + self.max_excess


@dataclass
class Experiment:
    name: str
    alias: str  # the baseline's alias (production)
    candidate: str  # the candidate's version
    mode: str  # shadow | canary
    sampler: Sampler
    guard: CanaryGuard = field(default_factory=CanaryGuard)
    active: bool = True
    shadow: ShadowProcess | None = None  # a shadow's candidate, in its own process

    def applies(self, alias: str, version: str | None) -> bool:
        """A request for the model by name or by the baseline's alias: the baseline's, the canary's share aside.
        (By name alone it would be the newest version loaded: the candidate, once a canary is withdrawn.)"""
        return version is None and alias in ("", self.alias)


class Experiments:
    def __init__(self, experiments: list[Experiment], manager: ModelManager) -> None:
        self.by_name = {e.name: e for e in experiments}
        self.manager = manager

    @property
    def shadows(self) -> list[ShadowProcess]:
        return [e.shadow for e in self.by_name.values() if e.shadow is not None]

    async def start(self) -> None:
        """Start each shadow's process, loading their candidates side by side."""
        await asyncio.gather(*(shadow.start(self.manager.drain_timeout_s) for shadow in self.shadows))

    async def drain(self) -> None:
        """Let each shadow's candidate finish the calls it was sent (and log them) before the server stops."""
        await asyncio.gather(*(shadow.close(self.manager.drain_timeout_s) for shadow in self.shadows))

    def snapshot(self) -> dict[str, Any]:
        """The shadows' candidates, keyed `name/version` like the versions this worker loaded itself."""
        return {shadow.key: shadow.snapshot() for shadow in self.shadows}

    def route(self, name: str, version: str | None, request: InferRequest) -> tuple[ServedModel, Experiment | None]:
        """The model that answers, and the experiment it ran under (None: none applies, or a shadow does not take
        this request)."""
        base, _, alias = name.partition("@")
        experiment = self.by_name.get(base)
        if experiment is None or not experiment.applies(alias, version):
            return self.manager.get(name, version), None
        if experiment.mode == "canary" and experiment.active and experiment.sampler.keep(request.parameters):
            return self.manager.get(base, experiment.candidate), experiment
        baseline = self.manager.get(f"{base}@{experiment.alias}")
        shadowed = experiment.shadow is not None and experiment.sampler.keep(request.parameters)
        if experiment.mode == "shadow" and not shadowed:
            return baseline, None  # not shadowed: the data plane's common path, nothing to count or record
        return baseline, experiment

    def answered(self, experiment: Experiment, model: ServedModel, failed: bool) -> None:
        """A canary's outcome counted; the canary withdrawn when its guard says so."""
        if experiment.mode != "canary":
            return
        experiment.guard.observe("candidate" if model.version == experiment.candidate else "baseline", failed)
        if experiment.active and experiment.guard.withdraw():
            experiment.active = False
            guard = experiment.guard
            log.warning("canary %s/%s withdrawn: error rate %.3f against production's %.3f", experiment.name,
                        experiment.candidate, guard.rate("candidate"), guard.rate("baseline"))  # fmt: skip

    def shadow(self, experiment: Experiment, request: InferRequest, answer: Answer | None) -> None:
        """After production answered: the candidate too, in its process, later, if its bounds allow (`route` drew
        the share). `answer`: production's, for the candidate's process to log as the pair's other half (None:
        this worker's traffic log sampled the request and logs it)."""
        if experiment.shadow is not None:
            experiment.shadow.offer(request, answer)
