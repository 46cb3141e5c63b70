"""Which arms a stage visit may be offered: one step that applies every hard constraint.

A stage's arms are its roles paired with their models (every pool model for a role that
names none). At a visit an arm is excluded, with an ``Exclusion`` naming the constraint,
when its model falls short of the visit's capability requirement (the strictest of its
intent's, stage's and role's: HyDRA), when its expected call cost exceeds what is left of
the run's budget (a ``budget`` decision says so), or when its model's circuit breaker is
open. The policy ranks the arms left. The arms are checked against the pool when the
runtime is built: a role naming a model the pool lacks, or a stage no pool model is
capable of, fails then with the fix.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from agents import ModelPool
from orchestrator.definition import Pipeline
from orchestrator.errors import PoolConfigError
from orchestrator.routing.budget import Budget
from orchestrator.routing.capability import best_for, combine, shortfall
from orchestrator.types import Arm, Candidate, Decision

__all__ = ["Eligibility", "Exclusion", "ExclusionKind", "UnpricedModelWarning"]

ExclusionKind = Literal["capability", "budget", "health", "failover", "resumed"]


class UnpricedModelWarning(UserWarning):
    """A model the pipeline may use has no price: its cost is unknown and counted as $0."""


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Why an arm may not be offered at a visit."""

    kind: ExclusionKind
    """The constraint: ``capability``, ``budget``, ``health`` (an open circuit breaker),
    ``failover`` (left out while a failed call is retried) or ``resumed`` (a resumed visit
    keeps the arm it had chosen before the run stopped)."""
    why: str
    """The details, e.g. ``reasoning 0.45 < 0.70``."""

    def __str__(self) -> str:
        return f"{self.kind}: {self.why}"


class Eligibility:
    """The arms of a pipeline's stages and the constraints that exclude them at a visit."""

    def __init__(
        self,
        pipeline: Pipeline,
        pool: ModelPool,
        budget: Budget,
        *,
        only_model: str | None = None,
    ) -> None:
        self.budget = budget
        self.arms = _stage_arms(pipeline, pool, only_model)
        """Stage -> its (role, model) arms, for every stage with roles."""
        self.models = {s: sorted({a.model for a in arms}) for s, arms in self.arms.items()}
        """Stage -> the pool models its arms use."""
        self._names = {s: [a.name for a in arms] for s, arms in self.arms.items()}
        self._pool = pool
        self._intent_req = pipeline.intent_requires
        self._static_req = {
            (s.name, r): combine(s.requires, pipeline.roles[r].requires)
            for s in pipeline.stages.values()
            for r in s.roles
        }
        self._expected = {
            a.name: Budget.expected_cost(
                pool.profile(a.model).input_price or 0.0,
                pool.profile(a.model).output_price or 0.0,
                pipeline.roles[a.role].context_tokens,
                pipeline.roles[a.role].max_output_tokens,
            )
            for arms in self.arms.values()
            for a in arms
        }
        """Arm name -> the upper estimate of one call's cost before the query's own tokens
        ($0 for a model of unknown price, which a budget therefore cannot exclude: warned
        below)."""
        self._per_input_token = {
            a.name: (pool.profile(a.model).input_price or 0.0) / 1e6
            for arms in self.arms.values()
            for a in arms
        }
        """Arm name -> USD per input token (a long query costs its tokens in every call)."""
        self.unpriced = sorted(
            {m for models in self.models.values() for m in models if pool.profile(m).price_unknown}
        )
        """Models the stages may use whose price the pool does not give."""
        for m in self.unpriced:
            limit = " and the run's budget cannot limit them" if budget.limit_usd else ""
            warnings.warn(
                f"model {m!r} has no price in the pool: its calls count as $0.000000{limit}; "
                "give input_price and output_price (USD per million tokens) in the pool file",
                UnpricedModelWarning,
                stacklevel=3,
            )
        self._capable: dict[tuple[str, str], dict[str, Exclusion]] = {}
        for stage, arms in self.arms.items():
            if len(self.capability(stage, "")) == len(arms):
                req = self._static_req[(stage, arms[0].role)]
                best = best_for(((p.name, p.capabilities) for p in pool), req)
                raise PoolConfigError(
                    f"stage {stage!r} requires {req} and no candidate model meets it; the "
                    f"closest in the pool is {best}. Add a capable model to the pool and the "
                    "roles, or lower the requirement"
                )

    def capability(self, stage: str, intent: str) -> Mapping[str, Exclusion]:
        """Arms of ``stage`` whose model falls short of the requirement of a visit for
        ``intent`` (computed once per stage and intent)."""
        key = (stage, intent)
        cached = self._capable.get(key)
        if cached is None:
            cached = {}
            intent_req = self._intent_req.get(intent, {})
            for arm in self.arms[stage]:
                req = combine(self._static_req[(stage, arm.role)], intent_req)
                gaps = shortfall(self._pool.profile(arm.model).capabilities, req) if req else None
                if gaps:
                    cached[arm.name] = Exclusion("capability", gaps)
            self._capable[key] = cached
        return cached

    def exclusions(
        self,
        stage: str,
        intent: str,
        *,
        spent: float,
        down: Mapping[str, str],
        query_tokens: int = 0,
    ) -> tuple[Mapping[str, Exclusion], Decision | None]:
        """Every arm of ``stage`` a visit for ``intent`` may not be offered, after ``spent``
        USD of the run and with the models in ``down`` (model -> why its circuit is open),
        and the ``budget`` decision when the budget excluded some (a call's expected cost
        counts the query's ``query_tokens``: it is in every prompt)."""
        excluded: Mapping[str, Exclusion] | None = self._capable.get((stage, intent))
        if excluded is None:
            excluded = self.capability(stage, intent)
        decision = None
        limit = self.budget.limit_usd
        if limit is not None:
            by_budget, decision = self._over_budget(stage, spent, limit, query_tokens)
            excluded = {**by_budget, **excluded}
        if down:
            excluded = {
                **excluded,
                **{
                    a.name: Exclusion("health", down[a.model])
                    for a in self.arms[stage]
                    if a.model in down and a.name not in excluded
                },
            }
        return excluded, decision

    def _over_budget(
        self, stage: str, spent: float, limit: float, query_tokens: int
    ) -> tuple[dict[str, Exclusion], Decision | None]:
        """Arms whose expected cost exceeds what is left of ``limit``, and the ``budget``
        decision if any."""
        left = limit - spent
        names = self._names[stage]
        expected = self._expected
        if query_tokens:
            per_token = self._per_input_token
            expected = {a: expected[a] + query_tokens * per_token[a] for a in names}
        out = {
            a: Exclusion("budget", f"expected ${expected[a]:.6f} > ${max(left, 0):.6f} left")
            for a in names
            if expected[a] > left
        }
        if not out:
            return {}, None
        decision = Decision(
            kind="budget",
            stage=stage,
            chosen=",".join(a for a in names if a not in out),
            reason=f"${max(left, 0):.6f} of ${limit:.6f} left; {len(out)} arm(s) excluded",
            candidates=tuple(
                Candidate(
                    name=a,
                    score=-expected[a],
                    excluded_by=str(out[a]) if a in out else None,
                )
                for a in names
            ),
        )
        return out, decision


def _stage_arms(
    pipeline: Pipeline, pool: ModelPool, only_model: str | None
) -> dict[str, list[Arm]]:
    """Each stage's (role, model) arms; PoolConfigError for a model the pool lacks."""
    arms: dict[str, list[Arm]] = {}
    for stage in pipeline.stages.values():
        if not stage.roles:
            continue
        pairs = []
        for r in stage.roles:
            role = pipeline.roles[r]
            models = [only_model] if only_model else list(role.models or pool.names())
            for m in models:
                if m not in pool:
                    raise PoolConfigError(
                        f"role {r!r} names model {m!r}, which the pool does not define; the "
                        f"pool has {pool.names()}. Add it to your pool file (--pool) or "
                        "change the role's models"
                    )
                pairs.append(Arm(r, m))
        arms[stage.name] = pairs
    return arms
