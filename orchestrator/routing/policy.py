"""The assignment policy: which (role, model) arm handles a stage, learned by LinUCB.

Order of a decision: hard constraints remove arms (the stage's roles only; models whose
estimated call cost exceeds the remaining budget), then the rest are ranked by LinUCB's
upper confidence bound plus the intent's pheromone level, weighted and scaled by the
arm's uncertainty left for this context: the intent's specialist guides the choice while
the bandit knows little, and fades as the bandit's own evidence accumulates, so a table
built by frequent use never outvotes well-measured means. At the end of a run
its reward (quality - cost_weight * cost) is credited to every arm the run used, each with
the context it was chosen in, and the intent's pheromone table evaporates and, if the run
passed the quality gate, gets a deposit on those arms.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any, NamedTuple

import numpy as np

from orchestrator.errors import BudgetExhausted, NoEligibleArm
from orchestrator.routing.eligibility import Exclusion
from orchestrator.routing.linucb import LinUCB
from orchestrator.routing.pheromone import PheromoneTable
from orchestrator.types import Arm, Decision, LazyCandidates, LazyText

__all__ = [
    "PHEROMONE_WEIGHT",
    "Assignment",
    "AssignmentPolicy",
    "RunCredit",
    "StageScores",
    "arm_name",
    "arm_scores",
    "reward",
]

PHEROMONE_WEIGHT = 0.5
"""How much the intent's pheromone level adds to an arm's score while the bandit knows
nothing of the arm (it fades with the arm's uncertainty left); the runtime's and ``orch
eval routing``'s "ours" both use it."""


StageScores = tuple[list[float], list[float], list[float], list[float]]
"""Per arm of one stage, in candidate order: LinUCB's estimated reward (mean), its
exploration bonus, the intent's pheromone level, and the arm's uncertainty left for this
context (1: nothing learned, to 0). A plain tuple: a run builds one per stage."""


def arm_scores(
    mean: Sequence[float],
    bonus: Sequence[float],
    pheromone: Sequence[float],
    left: Sequence[float],
    weight: float = PHEROMONE_WEIGHT,
) -> list[float]:
    """Each arm's score, the one the policy ranks by: mean + bonus + weight x pheromone
    level x uncertainty left. The intent's specialist guides the choice while the bandit
    knows little and fades as the bandit's own evidence accumulates."""
    return [m + b + weight * u * t for m, b, t, u in zip(mean, bonus, pheromone, left, strict=True)]


_WHY = "highest score %.3f (mean %.3f + bonus %.3f + pheromone %s x %.3f x uncertainty left %.2f)"
_WHY_VS = _WHY + " vs %s %.3f"


def arm_name(role: str, model: str) -> str:
    """The arm key of a (role, model) pair."""
    return f"{role}@{model}"


def reward(quality: float, cost_usd: float, cost_weight: float) -> float:
    """Reward of a run: quality minus the cost-weighted spend (USD)."""
    return quality - cost_weight * cost_usd


class RunCredit(NamedTuple):
    """What one finished run credits: the (arm name, context) pairs it used, its reward
    value, its intent and its judged quality (the pheromone gate)."""

    used: Sequence[tuple[str, Sequence[float]]]
    value: float
    intent: str = ""
    quality: float = 0.0
    run_id: str = ""
    """The run credited (a store credits a run id once, however often it is retried)."""


class Assignment(NamedTuple):
    """The arm chosen for one stage visit (a NamedTuple: made per visit, cheaply)."""

    role: str
    """Role that handles the stage."""
    model: str
    """Pool model that plays the role."""
    decision: Decision
    """The ``assign`` decision, with every candidate's scores."""


class AssignmentPolicy:
    """LinUCB over (role, model) arms with per-stage candidate sets."""

    def __init__(
        self,
        bandit: LinUCB,
        stage_arms: Mapping[str, Sequence[tuple[str, str]]],
        *,
        pheromone: PheromoneTable | None = None,
        pheromone_weight: float = PHEROMONE_WEIGHT,
    ):
        self.lock = threading.Lock()
        """Held by a decision while it reads the policy and by an update while it writes."""
        self.pheromone_weight = pheromone_weight
        self._w_text = f"{pheromone_weight:g}"
        self._stage_arms = {s: [Arm(*a) for a in p] for s, p in stage_arms.items()}
        self.adopt(bandit, pheromone or PheromoneTable())

    def adopt(self, bandit: LinUCB, pheromone: PheromoneTable) -> None:
        """Use ``bandit`` and ``pheromone`` from now on (e.g. state reloaded from disk)."""
        self.bandit = bandit
        self.pheromone = pheromone
        self._stage: dict[str, tuple[list[Arm], list[str], list[int] | slice]] = {}
        for stage, pairs in self._stage_arms.items():
            names = [a.name for a in pairs]
            idx = bandit.ensure_arms(names)
            contiguous = idx == list(range(idx[0], idx[0] + len(idx))) if idx else False
            # arms of a stage are usually adjacent: score just that block of the bandit
            self._stage[stage] = (
                list(pairs),
                names,
                slice(idx[0], idx[-1] + 1) if contiguous else idx,
            )
        self.pheromone.ensure_arms(bandit.arms)
        self._plans: dict[tuple[object, ...], Any] = {}
        self._unexcluded = {s: (None,) * len(names) for s, (_, names, _) in self._stage.items()}
        """Per stage, the candidates' excluded_by column when no constraint excluded any."""
        # pheromone arms may be ordered differently (state saved before arms were added)
        self._pher_index = [self.pheromone.arms.index(a) for a in bandit.arms]
        self._pher_of: dict[str, slice | np.ndarray] = {}
        for stage, (_, names, _) in self._stage.items():
            at = [self.pheromone.arms.index(n) for n in names]
            adjacent = at == list(range(at[0], at[0] + len(at))) if at else False
            self._pher_of[stage] = (
                slice(at[0], at[-1] + 1) if adjacent else np.asarray(at, dtype=np.intp)
            )

    def candidates(self, stage: str) -> list[Arm]:
        """The (role, model) arms a stage may assign."""
        return self._stage[stage][0]

    def assign(
        self,
        stage: str,
        x: np.ndarray | None,
        *,
        intent: str = "",
        excluded: Mapping[str, Exclusion] | None = None,
        scored: StageScores | None = None,
    ) -> Assignment:
        """Choose the arm with the highest score among those no constraint excluded.

        ``excluded`` maps arm names to the constraint that removed them; ``scored`` gives
        the stage's scores when ``score_stages`` already computed them. Raises
        BudgetExhausted / NoEligibleArm when every arm is excluded.
        """
        pairs, names, idx = self._stage[stage]
        w = self.pheromone_weight
        if scored is None:
            if x is None:
                raise ValueError("assign needs the context x unless the stage was scored")
            mean, bonus, left = self._ucb(x, idx)
            tau = self.pheromone.levels(intent)[self._pher_of[stage]].tolist()
        else:
            mean, bonus, tau, left = scored
        ucb = arm_scores(mean, bonus, tau, left, w)
        if not excluded:  # every arm is eligible: plain list searches
            top = max(ucb)
            best = ucb.index(top)
            explore = best != mean.index(max(mean))
            runner_up: int | None = None
            if len(ucb) > 1:  # the best of the others: the best set aside for a moment
                ucb[best] = -math.inf
                runner_up = ucb.index(max(ucb))
                ucb[best] = top
            cands = LazyCandidates(names, ucb, mean, bonus, self._unexcluded[stage], tau)
        else:
            allowed = [i for i, name in enumerate(names) if name not in excluded]
            if not allowed:
                why = "; ".join(f"{k}: {v}" for k, v in excluded.items())
                if all(v.kind == "budget" for v in excluded.values()):
                    raise BudgetExhausted(
                        f"stage {stage!r}: every candidate was excluded ({why}); raise the "
                        "budget or add a cheaper model to the roles of this stage"
                    )
                raise NoEligibleArm(
                    f"stage {stage!r}: every candidate was excluded ({why}); add a model that "
                    "meets the requirement to the pool and the stage's roles, or lower it"
                )
            # the first of equals wins: deterministic
            best = max(allowed, key=ucb.__getitem__)
            explore = best != max(allowed, key=mean.__getitem__)
            runner_up = max((i for i in allowed if i != best), key=ucb.__getitem__, default=None)
            shown = [None if n in excluded else u for n, u in zip(names, ucb, strict=True)]
            excluded_by = [str(excluded[n]) if n in excluded else None for n in names]
            cands = LazyCandidates(names, shown, mean, bonus, excluded_by, tau)
        arm = pairs[best]
        # formatted only if read (a trace, --json): most decisions' reasons never are
        reason = (
            LazyText(_WHY, ucb[best], mean[best], bonus[best], self._w_text, tau[best], left[best])
            if runner_up is None
            else LazyText(
                _WHY_VS,
                ucb[best],
                mean[best],
                bonus[best],
                self._w_text,
                tau[best],
                left[best],
                names[runner_up],
                ucb[runner_up],
            )
        )
        decision = Decision(
            kind="assign",
            stage=stage,
            chosen=names[best],
            reason=reason,
            candidates=cands,
            explore=explore,
            arm=arm,
        )
        return Assignment(role=arm.role, model=arm.model, decision=decision)

    def score_stages(
        self, stages: Sequence[str], c: np.ndarray, hot: Sequence[int], intent: str
    ) -> dict[str, StageScores]:
        """(mean, bonus, pheromone, uncertainty left) of every arm of several stages,
        stage ``stages[j]`` in context ``c + e_hot[j]`` (``c`` is 0 at ``hot[j]``), scored
        together up front (a run's first visits): one pass over the bandit instead of one
        between every two graph steps."""
        key = (*stages, *hot)
        plan = self._plans.get(key, False)
        if plan is False:
            plan = self._plans[key] = self._plan(stages, hot)
        levels = self.pheromone.levels(intent).tolist()
        out: dict[str, StageScores] = {}
        if plan is None:  # arms shared between stages or scattered: stage by stage
            for stage, h in zip(stages, hot, strict=True):
                entry = self._stage.get(stage)
                if entry is not None:
                    x = c.copy()
                    x[h] = 1.0
                    mean, bonus, left = self._ucb(x, entry[2])
                    out[stage] = (mean, bonus, self._levels_of(levels, stage), left)
            return out
        lo, hi, hot_of_arm, spans = plan
        mean, bonus, left = self.bandit.ucb_one_hot(c, lo, hi, hot_of_arm)
        for stage, a, b in spans:
            tau = self._levels_of(levels, stage)
            out[stage] = (mean[a:b], bonus[a:b], tau, left[a:b])
        return out

    def _plan(
        self, stages: Sequence[str], hot: Sequence[int]
    ) -> tuple[int, int, np.ndarray, list[tuple[str, int, int]]] | None:
        """How ``score_stages`` scores ``stages`` in one pass: the block ``lo:hi`` of
        adjacent arms that holds their arms, each arm's one-hot feature, and each stage's
        part of the block; None when their arms are not disjoint runs of adjacent arms."""
        found = [
            (s, h, self._stage[s][2]) for s, h in zip(stages, hot, strict=True) if s in self._stage
        ]
        slices = [(s, h, sl) for s, h, sl in found if isinstance(sl, slice)]
        if not found or len(slices) < len(found):
            return None
        lo = min(sl.start for _, _, sl in slices)
        hi = max(sl.stop for _, _, sl in slices)
        hot_of_arm = np.full(hi - lo, -1, dtype=np.intp)
        spans = []
        for stage, h, sl in slices:
            a, b = sl.start - lo, sl.stop - lo
            if (hot_of_arm[a:b] >= 0).any():
                return None  # an arm in two stages needs two contexts
            hot_of_arm[a:b] = h
            spans.append((stage, a, b))
        hot_of_arm[hot_of_arm < 0] = hot[0]  # arms of no stage here: scored, unused
        return lo, hi, hot_of_arm, spans

    def _levels_of(self, levels: list[float], stage: str) -> list[float]:
        at = self._pher_of[stage]
        return levels[at] if isinstance(at, slice) else [levels[i] for i in at]

    def _ucb(
        self, x: np.ndarray, idx: slice | list[int]
    ) -> tuple[list[float], list[float], list[float]]:
        """(mean, bonus, uncertainty left) lists of a stage's arms: one block of adjacent
        arms on the fast path, else every arm scored and the stage's picked out."""
        if isinstance(idx, slice):
            return self.bandit.ucb_lists(x, idx.start, idx.stop)
        s = self.bandit.scores(x)
        return s.mean[idx].tolist(), s.bonus[idx].tolist(), s.left[idx].tolist()

    def credit(
        self,
        used: Iterable[tuple[str, Sequence[float]]],
        value: float,
        *,
        intent: str = "",
        quality: float = 0.0,
    ) -> int:
        """Credit ``value`` to each (arm name, context) the run used; returns updates made.

        The intent's pheromone table evaporates and gets a deposit on the used arms when
        ``quality`` passes its gate.
        """
        return self.credit_runs([RunCredit(list(used), value, intent, quality)])

    def credit_runs(self, runs: Sequence[RunCredit]) -> int:
        """Credit several finished runs in one batched bandit update (equal to crediting
        them one by one, in order); returns the updates made. Runs with a non-finite
        value are skipped."""
        arms: list[int] = []
        xs: list[Sequence[float]] = []
        values: list[float] = []
        index = self.bandit.index
        for run in runs:
            if not math.isfinite(run.value) or not run.used:
                continue
            used = [index(name) for name, _ in run.used]
            arms += used
            xs += [x for _, x in run.used]
            values += [run.value] * len(used)
            self.pheromone.update(
                run.intent, [self._pher_index[a] for a in used], run.quality, run.value
            )
        if arms:
            d = self.bandit.dim
            if {len(x) for x in xs} != {d}:
                raise ValueError(f"credited contexts must have {d} features each")
            # contexts are lists of floats (they travel in the graph's state); one flat
            # pass over them is cheaper than numpy working out their nesting
            flat = np.fromiter(chain.from_iterable(xs), dtype=float, count=len(xs) * d)
            self.bandit.update_many(arms, flat.reshape(len(xs), d), values)
        return len(arms)

    def credit_recorded(
        self, used: Sequence[tuple[str, Sequence[float]]], values: Sequence[float]
    ) -> int:
        """Credit each (arm name, context) its own reward value in one batched bandit
        update: recorded outcomes (a warm start), not runs of this runtime, so the
        pheromone tables are left as they are. Returns the updates made."""
        if not used:
            return 0
        index = self.bandit.index
        self.bandit.update_many(
            [index(name) for name, _ in used],
            np.asarray([x for _, x in used], dtype=float),
            np.asarray(values, dtype=float),
        )
        return len(used)
