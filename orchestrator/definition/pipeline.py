"""The pipeline: stages, roles, intents and skills, validated together when defined.

Every mistake is reported at definition time with the offending name and a fix: unknown
roles or skills, transitions to undefined stages, unreachable stages, no terminal stage,
duplicate names, unreachable tool goals. The skills, the permissions and the tool graphs
are computed by ``resolve``, explicitly, from the definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from agents import ModelPool, Role
from orchestrator.compound import Compound
from orchestrator.definition.automaton import StageMachine
from orchestrator.definition.resolve import permissions, resolve_skills, tool_graphs
from orchestrator.definition.values import Intent, SpendCap, Stage, check_name
from orchestrator.errors import DefinitionError
from orchestrator.protocols import Judge
from skills import Skill

__all__ = ["Pipeline"]


def _dupes(kind: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise DefinitionError(f"two {kind}s are named {n!r}; {kind} names must be unique")
        seen.add(n)


def _rate(value: object) -> bool:
    """Whether ``value`` is a (runs > 0, seconds > 0) pair."""
    if not isinstance(value, tuple) or len(value) != 2:
        return False
    runs, seconds = value
    return (
        isinstance(runs, int)
        and runs >= 1
        and isinstance(seconds, int | float)
        and math.isfinite(seconds)
        and seconds > 0
    )


class Pipeline:
    """A complete, validated multi-agent pipeline definition.

    Runs begin at the stage marked ``start=True``, or at the first stage of ``stages`` when
    none is (more than one is an error).
    """

    def __init__(
        self,
        name: str,
        *,
        stages: Sequence[Stage],
        roles: Sequence[Role],
        intents: Sequence[Intent] = (),
        skills: Sequence[Skill] = (),
        sample_query: str | Callable[[], str] = "",
        pool: ModelPool | None = None,
        judge: Judge | None = None,
        budget_usd: float | None = None,
        max_steps: int = 25,
        min_intent_confidence: float = 0.2,
        compound: Compound | None = None,
        concurrency: int | None = None,
        rate_limit: tuple[int, float] | None = None,
        spend_cap: SpendCap | None = None,
    ) -> None:
        self.name = check_name("pipeline", name)
        where = f"pipeline {name!r}"
        if not stages:
            raise DefinitionError(f"{where} has no stages; define at least a start and a terminal")
        for kind, items in (("stage", stages), ("role", roles), ("intent", intents)):
            cls = {"stage": Stage, "role": Role, "intent": Intent}[kind]
            for item in items:
                if not isinstance(item, cls):
                    raise DefinitionError(
                        f"{where}: {kind}s must be {cls.__name__} objects, got {item!r}"
                    )
        _dupes("stage", [s.name for s in stages])
        _dupes("role", [r.name for r in roles])
        _dupes("intent", [i.label for i in intents])
        if budget_usd is not None and not (math.isfinite(budget_usd) and budget_usd > 0):
            raise DefinitionError(f"{where}: budget_usd must be > 0 (or None for no budget)")
        if max_steps < 1:
            raise DefinitionError(f"{where}: max_steps must be >= 1")
        if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
            raise DefinitionError(
                f"{where}: concurrency must be a whole number >= 1 (None: no limit), "
                f"not {concurrency!r}"
            )
        if rate_limit is not None and not _rate(rate_limit):
            raise DefinitionError(
                f"{where}: rate_limit must be (runs, seconds), e.g. (60, 60.0) for 60 runs a "
                f"minute, not {rate_limit!r}"
            )
        self.stages = {s.name: s for s in stages}
        self.roles = {r.name: r for r in roles}
        self.intents = {i.label: i.examples for i in intents}
        self.intent_requires = {i.label: i.requires for i in intents if i.requires}
        self.sample_query = sample_query
        self.pool = pool
        self.judge = judge
        self.budget_usd = budget_usd
        self.max_steps = max_steps
        self.concurrency = concurrency
        """Most runs of this pipeline executing at once, over every worker (None: each
        worker's own ``--concurrency`` is the only limit)."""
        self.rate_limit = rate_limit
        if spend_cap is not None and not isinstance(spend_cap, SpendCap):
            raise DefinitionError(
                f"{where}: spend_cap must be a SpendCap(usd, per='day'), not {spend_cap!r}"
            )
        self.spend_cap = spend_cap
        """Spend of all runs of this pipeline per window, held across workers (None: only
        each run's own ``budget_usd``)."""
        """At most this many runs started per this many seconds over every worker, e.g.
        to stay under an LLM provider's quota (None: no limit)."""
        self.min_intent_confidence = min_intent_confidence
        if compound is not None and not isinstance(compound, Compound):
            raise DefinitionError(f"{where}: compound must be a Compound(...), got {compound!r}")
        self.compound = compound or Compound()
        """How the stages' teams may be merged into fewer model calls."""

        starts = [s.name for s in stages if s.start]
        if len(starts) > 1:
            raise DefinitionError(f"{where} marks several start stages {starts}; mark only one")
        self.machine = StageMachine(
            {s.name: s.next for s in stages},
            start=starts[0] if starts else stages[0].name,
            terminals=[s.name for s in stages if s.terminal],
        )
        for s in stages:
            for r in s.roles:
                if r not in self.roles:
                    raise DefinitionError(
                        f"stage {s.name!r} names role {r!r}, which is not defined; defined roles "
                        f"are {sorted(self.roles)}. Add Role({r!r}, ...) to roles=[...]"
                    )
            for member in s.team.order if s.team else ():
                role = self.roles.get(member)
                if role is None:
                    raise DefinitionError(
                        f"stage {s.name!r} has team member {member!r}, which is not a defined "
                        f"role; defined roles are {sorted(self.roles)}. Add Role({member!r}, ...)"
                    )
                if role.skills:
                    raise DefinitionError(
                        f"team member {member!r} of stage {s.name!r} lists skills; members "
                        "answer from the stage's facts. Give the stage a goal and skills (their "
                        "results reach every member), or make the role a stage of its own"
                    )
            if not s.roles and not s.terminal:
                raise DefinitionError(
                    f"stage {s.name!r} has no roles; only terminal stages may have none"
                )
        self.registry = resolve_skills(name, self.stages, self.roles, skills)
        """Every skill the pipeline's stages and roles name."""
        self.permitted = permissions(self.stages, self.roles)
        """(stage, role) -> the skills the role may call at the stage."""
        graphs = tool_graphs(self.stages, self.registry, self.permitted)
        self.tool_graphs = graphs.goals
        """(stage, role) -> the tool graph toward the stage's goal."""
        self.demotions = graphs.demotions
        """(stage, role) -> lesser goal -> its tool graph."""

    def sample(self) -> str:
        """The built-in sample input (a fresh one per call when ``sample_query`` is a function)."""
        return self.sample_query() if callable(self.sample_query) else self.sample_query

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, stages={list(self.stages)}, roles={list(self.roles)})"
