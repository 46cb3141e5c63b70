"""Run-start pre-scoring: a run's first visit of each stage, scored and chosen up front.

With no budget, the context of a stage's first visit is known when the run starts: the
run's query and intent, the whole budget left, no earlier visit. The contexts of all
stages differ only in the stage's one-hot feature, so one product over the bandit's block
of arms scores them all (``AssignmentPolicy.score_stages``); their arms are chosen then
too. A visit chooses again only when a circuit breaker opened since; a stage visited
again, or a run under a budget, is scored when it is visited.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from orchestrator.errors import RunError
from orchestrator.routing.eligibility import Eligibility
from orchestrator.routing.features import FeatureBuilder
from orchestrator.routing.policy import Assignment, AssignmentPolicy, StageScores

__all__ = ["FirstVisit", "first_visits"]


class FirstVisit(NamedTuple):
    """A stage's first visit in a run, as scored when the run started."""

    scores: StageScores
    """Its arms' scores."""
    assignment: Assignment | None
    """The arm chosen; None when no arm was eligible (the visit reports it)."""
    x: list[float]
    """Its context vector."""


def first_visits(
    stages: Sequence[str],
    base: list[float],
    intent: str,
    *,
    policy: AssignmentPolicy,
    eligibility: Eligibility,
    features: FeatureBuilder,
) -> dict[str, FirstVisit]:
    """The first visits of ``stages`` in a run whose run-constant context is ``base``."""
    c, hot = features.first_visits(base, stages)
    out: dict[str, FirstVisit] = {}
    with policy.lock:
        scored = policy.score_stages(stages, c, hot, intent)
        for stage, scores in scored.items():
            try:
                chosen: Assignment | None = policy.assign(
                    stage,
                    None,
                    intent=intent,
                    excluded=eligibility.capability(stage, intent),
                    scored=scores,
                )
            except RunError:  # no eligible arm: the visit itself reports it
                chosen = None
            out[stage] = FirstVisit(scores, chosen, features.stage_list(base, stage=stage))
    return out
