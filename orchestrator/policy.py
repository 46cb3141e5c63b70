"""The assignment policy: which (role, model) arm handles a stage, learned by LinUCB.

Order of a decision: hard constraints remove arms (the stage's roles only; models whose
estimated call cost exceeds the remaining budget), then LinUCB ranks the rest by upper
confidence bound. At the end of a run its reward (quality - cost_weight * cost) is
credited to every arm the run used, each with the context it was chosen in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from orchestrator.errors import BudgetExhausted
from orchestrator.linucb import LinUCB
from orchestrator.types import Candidate, Decision

__all__ = ["Assignment", "AssignmentPolicy", "arm_name", "reward"]


def arm_name(role: str, model: str) -> str:
    """The arm key of a (role, model) pair."""
    return f"{role}@{model}"


def reward(quality: float, cost_usd: float, cost_weight: float) -> float:
    """Reward of a run: quality minus the cost-weighted spend (USD)."""
    return quality - cost_weight * cost_usd


@dataclass(frozen=True, kw_only=True, slots=True)
class Assignment:
    """The arm chosen for one stage visit."""

    role: str
    """Role that handles the stage."""
    model: str
    """Pool model that plays the role."""
    decision: Decision
    """The ``assign`` decision, with every candidate's scores."""


class AssignmentPolicy:
    """LinUCB over (role, model) arms with per-stage candidate sets."""

    def __init__(self, bandit: LinUCB, stage_arms: Mapping[str, Sequence[tuple[str, str]]]):
        self.bandit = bandit
        self._stage: dict[str, tuple[list[tuple[str, str]], list[str], np.ndarray]] = {}
        for stage, pairs in stage_arms.items():
            names = [arm_name(r, m) for r, m in pairs]
            idx = np.asarray(bandit.ensure_arms(names), dtype=np.intp)
            self._stage[stage] = (list(pairs), names, idx)

    def candidates(self, stage: str) -> list[tuple[str, str]]:
        """The (role, model) pairs a stage may assign."""
        return self._stage[stage][0]

    def assign(
        self, stage: str, x: np.ndarray, *, excluded: Mapping[str, str] | None = None
    ) -> Assignment:
        """Choose the arm with the highest UCB among those no constraint excluded.

        ``excluded`` maps arm names to the constraint that removed them. Raises
        BudgetExhausted when every arm is excluded by the budget.
        """
        pairs, names, idx = self._stage[stage]
        scores = self.bandit.scores(x)
        mean, bonus = scores.mean[idx], scores.bonus[idx]
        ucb = mean + bonus
        excluded = excluded or {}
        best = best_mean = -1
        for i, name in enumerate(names):
            if name in excluded:
                continue
            if best < 0 or ucb[i] > ucb[best]:
                best = i
            if best_mean < 0 or mean[i] > mean[best_mean]:
                best_mean = i
        cands = tuple(
            Candidate(
                name=name,
                score=None if name in excluded else float(ucb[i]),
                detail={"mean": float(mean[i]), "bonus": float(bonus[i])},
                excluded_by=excluded.get(name),
            )
            for i, name in enumerate(names)
        )
        if best < 0:
            raise BudgetExhausted(
                f"stage {stage!r}: every candidate was excluded "
                f"({'; '.join(f'{k}: {v}' for k, v in excluded.items())}); raise the budget or "
                "add a cheaper model to the roles of this stage"
            )
        role, model = pairs[best]
        runner_up = max(
            (i for i in range(len(names)) if i != best and names[i] not in excluded),
            key=lambda i: ucb[i],
            default=None,
        )
        reason = f"highest UCB {ucb[best]:.3f} (mean {mean[best]:.3f} + bonus {bonus[best]:.3f})"
        if runner_up is not None:
            reason += f" vs {names[runner_up]} {ucb[runner_up]:.3f}"
        decision = Decision(
            kind="assign",
            stage=stage,
            chosen=names[best],
            reason=reason,
            candidates=cands,
            explore=best != best_mean,
        )
        return Assignment(role=role, model=model, decision=decision)

    def credit(self, used: Iterable[tuple[str, Sequence[float]]], value: float) -> int:
        """Credit ``value`` to each (arm name, context) the run used; returns updates made."""
        if not math.isfinite(value):
            return 0
        n = 0
        for name, x in used:
            self.bandit.update(self.bandit.index(name), np.asarray(x, dtype=float), value)
            n += 1
        return n
