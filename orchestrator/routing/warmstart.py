"""Warm start: recorded outcomes of real models credited to the policy before it has runs
of its own (``orch policy warm``, ``Runtime.warm_start``).

A routing set records several models answering the same queries. Each record of a model
on a query is credited to every arm of a stage that pairs a role with that model, as the
run that asked this query would have been credited: the reward is the recorded quality
minus the cost weight x the recorded cost, in the context the stage's first visit would
have had. A pool model matches the records of the recorded model its profile names
(``model``, as a replay entry does) or of its own name. Only the bandit learns: the
pheromone tables remember the runtime's own runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from agents import ModelPool, RoutingSet
from orchestrator.errors import InputError
from orchestrator.routing.features import FeatureBuilder
from orchestrator.routing.intent import IntentRouter
from orchestrator.routing.policy import reward
from orchestrator.types import Arm

__all__ = ["WarmStart", "recorded_credits", "warm_stage"]


@dataclass(frozen=True, kw_only=True, slots=True)
class WarmStart:
    """What ``Runtime.warm_start`` credited from a set of recorded outcomes."""

    stage: str
    """The stage whose arms were credited."""
    queries: int
    """Recorded queries read."""
    arms: dict[str, int]
    """Credits per arm (``role@model``)."""
    unmatched: tuple[str, ...]
    """The stage's pool models the set has no records of (their arms were not credited)."""

    @property
    def credits(self) -> int:
        """Credits made in all (one per recorded outcome and role that may use its model)."""
        return sum(self.arms.values())


def warm_stage(pipeline: str, worked: Sequence[str], stage: str | None) -> str:
    """The stage a warm start credits: ``stage``, or the only one of the pipeline's stages
    with roles (``worked``) when it is None. InputError when that does not name one."""
    if stage is None:
        if len(worked) != 1:
            raise InputError(
                f"pipeline {pipeline!r} has {len(worked)} stages with roles ({', '.join(worked)});"
                " say which stage's answers the recorded outcomes stand for (--stage NAME)"
            )
        return worked[0]
    if stage not in worked:
        raise InputError(
            f"pipeline {pipeline!r} has no stage {stage!r} with roles; its stages with roles: "
            f"{', '.join(worked)}"
        )
    return stage


def recorded_credits(
    data: RoutingSet,
    *,
    stage: str,
    pairs: Sequence[Arm],
    pool: ModelPool,
    router: IntentRouter,
    features: FeatureBuilder,
    cost_weight: float,
) -> tuple[list[tuple[str, list[float]]], list[float], WarmStart]:
    """The (arm name, context) pairs and reward values that ``data`` credits to the
    (role, model) ``pairs`` of ``stage``, and what that amounts to. InputError when the
    set has no records of any of the stage's models."""
    models = sorted({m for _, m in pairs})
    column: dict[str, int] = {}
    for m in models:
        profile = pool.profile(m)
        recorded = next((k for k in (profile.model, m) if k in data.models), None)
        if recorded is not None:
            column[m] = data.models.index(recorded)
    if not column:
        raise InputError(
            f"routing set {data.name!r} has no records of the models of stage {stage!r} "
            f"({', '.join(models)}); it recorded {', '.join(data.models)}. Give a pool entry "
            "a recorded model as its model (or name)"
        )
    arms = [(a.name, column[a.model]) for a in pairs if a.model in column]
    used: list[tuple[str, list[float]]] = []
    values: list[float] = []
    for i, query in enumerate(data.prompts):
        intent = router.classify(query)
        base = features.base(query=query, intent=intent.label, confidence=intent.confidence)
        x = features.stage_list(base, stage=stage)
        for arm, j in arms:
            quality = float(data.quality[i, j])
            if not math.isnan(quality):  # NaN: the model has no record of this query
                used.append((arm, x))
                values.append(reward(quality, float(data.cost[i, j]), cost_weight))
    per_arm = {arm: 0 for arm, _ in arms}
    for arm, _ in used:
        per_arm[arm] += 1
    report = WarmStart(
        stage=stage,
        queries=len(data.prompts),
        arms=per_arm,
        unmatched=tuple(m for m in models if m not in column),
    )
    return used, values, report
