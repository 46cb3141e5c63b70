"""Pipeline definition: intents, goal stages, roles and skills, validated when defined.

Every mistake is reported at definition time with the offending name and a fix: unknown
roles or skills, transitions to undefined stages, unreachable stages, no terminal stage,
duplicate names, unreachable tool goals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents import ModelPool, Role
from orchestrator.compound.ladder import Compound, Member, Team
from orchestrator.definition.automaton import StageMachine
from orchestrator.errors import DefinitionError, OrchestratorError
from orchestrator.protocols import Judge
from orchestrator.routing.capability import check_requirement
from orchestrator.tools.toolgraph import ToolGraph
from skills import Skill, SkillRegistry, default_registry

__all__ = ["Compound", "Intent", "Member", "Pipeline", "Stage", "StageView"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise DefinitionError(
            f"{kind} name {name!r} must start with a letter and use only letters, digits, - or _"
        )
    return name


def _dupes(kind: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise DefinitionError(f"two {kind}s are named {n!r}; {kind} names must be unique")
        seen.add(n)


@dataclass(frozen=True, slots=True, init=False)
class Intent:
    """A kind of request, recognised from example utterances."""

    label: str
    """Name of the intent."""
    examples: tuple[str, ...]
    """Example utterances (at least one)."""
    requires: Mapping[str, float]
    """Minimum model capabilities for requests of this intent, e.g. ``{"reasoning": 0.7}``."""

    def __init__(
        self, label: str, examples: Sequence[str], *, requires: Mapping[str, float] | None = None
    ) -> None:
        _check_name("intent", label)
        if (
            isinstance(examples, str)
            or not examples
            or not all(isinstance(e, str) and e.strip() for e in examples)
        ):
            raise DefinitionError(
                f"intent {label!r} needs a list of non-empty example utterances, "
                'e.g. Intent("refund", examples=["I want my money back"])'
            )
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "examples", tuple(examples))
        object.__setattr__(self, "requires", check_requirement(f"intent {label!r}", requires or {}))


@dataclass(frozen=True, kw_only=True, slots=True)
class StageView:
    """What a stage's ``route`` and ``check`` functions see of the run so far."""

    query: str
    """The user's request."""
    intent: str
    """The routed intent (or ``unknown``)."""
    stage: str
    """The stage being left."""
    answer: str
    """This stage's answer text (protocol lines removed)."""
    facts: Mapping[str, Any]
    """Every fact known so far (skill results by ``produces`` name)."""
    trail: tuple[str, ...]
    """Stages visited, in order, including this one."""


@dataclass(frozen=True, slots=True, init=False)
class Stage:
    """A goal stage: who works on it, what they may call, and where the run may go next."""

    name: str
    """Unique stage name."""
    roles: tuple[str, ...]
    """Roles that may handle this stage; the policy picks one (and its model)."""
    next: tuple[str, ...]
    """Stages allowed after this one, in order of preference."""
    start: bool
    """Whether runs begin here (default: the first stage)."""
    terminal: bool
    """Whether reaching this stage ends the run."""
    skills: tuple[Any, ...]
    """Skills (objects or names) callable in this stage, narrowed by the role's own list."""
    goal: str | None
    """A fact this stage must produce by running its tools along the cheapest path."""
    escalate_to: str | None
    """Next stage to take when no tool path reaches the goal (must be in ``next``)."""
    demote_to: tuple[str, ...]
    """Lesser goals to fall back to when no tool path reaches ``goal``; one model call
    chooses among those still reachable (or none) before the stage escalates."""
    tool_edges: tuple[tuple[str, str], ...]
    """Extra (from, to) edges of the stage's tool graph, beyond what skills take and make."""
    route: Callable[[StageView], str] | None
    """Developer's choice of next stage; checked against ``next`` like any request."""
    check: Callable[[StageView], bool] | None
    """Verifier of this stage's answer, used by the judge."""
    failure: bool
    """A terminal stage that counts as a failed run (e.g. a hand-off to a human)."""
    requires: Mapping[str, float]
    """Minimum model capabilities for work on this stage, e.g. ``{"tool_use": 0.6}``."""
    team: Team | None
    """Several agents working on this stage (``Member`` DAG), run fine or merged into fewer
    calls by the compound controller; the model the policy assigns plays them all."""

    def __init__(
        self,
        name: str,
        *,
        roles: Sequence[str] = (),
        next: Sequence[str] = (),
        start: bool = False,
        terminal: bool = False,
        skills: Sequence[Any] = (),
        goal: str | None = None,
        escalate_to: str | None = None,
        demote_to: Sequence[str] = (),
        tool_edges: Sequence[tuple[str, str]] = (),
        route: Callable[[StageView], str] | None = None,
        check: Callable[[StageView], bool] | None = None,
        failure: bool = False,
        requires: Mapping[str, float] | None = None,
        team: Sequence[Member | str] = (),
    ) -> None:
        _check_name("stage", name)
        if isinstance(team, str):
            raise DefinitionError(f"stage {name!r}: team takes a list of Member(...) or role names")
        crew = Team(name, team) if team else None
        if crew is not None and terminal:
            raise DefinitionError(f"stage {name!r}: a terminal stage cannot have a team")
        if crew is not None and not roles:
            roles = (crew.sink,)  # the sink's role arms choose the team's model
        if isinstance(roles, str) or isinstance(next, str):
            raise DefinitionError(
                f"stage {name!r}: roles and next take lists, e.g. roles=['triager']"
            )
        if escalate_to is not None and escalate_to not in next:
            raise DefinitionError(
                f"stage {name!r} escalates to {escalate_to!r}, which is not among its next "
                f"stages {list(next)}; add it to next=[...]"
            )
        if isinstance(demote_to, str):
            raise DefinitionError(f"stage {name!r}: demote_to takes a list of goal names")
        if (demote_to or tool_edges) and goal is None:
            raise DefinitionError(
                f"stage {name!r}: demote_to and tool_edges need a goal=...; without a goal "
                "the stage runs no tool graph"
            )
        if goal is not None and goal in demote_to:
            raise DefinitionError(f"stage {name!r}: goal {goal!r} cannot also be a demotion")
        edges = []
        for e in tool_edges:
            if not (
                isinstance(e, tuple | list) and len(e) == 2 and all(isinstance(x, str) for x in e)
            ):
                raise DefinitionError(
                    f"stage {name!r}: tool_edges takes (from_skill, to_skill) name pairs, got {e!r}"
                )
            edges.append((e[0], e[1]))
        if failure and not terminal:
            raise DefinitionError(f"stage {name!r}: failure=True only applies to terminal stages")
        for attr, value in (("route", route), ("check", check)):
            if value is not None and not callable(value):
                raise DefinitionError(f"stage {name!r}: {attr} must be a function of StageView")
        values = {
            "name": name,
            "roles": tuple(roles),
            "next": tuple(next),
            "start": start,
            "terminal": terminal,
            "skills": tuple(skills),
            "goal": goal,
            "escalate_to": escalate_to,
            "demote_to": tuple(demote_to),
            "tool_edges": tuple(edges),
            "route": route,
            "check": check,
            "failure": failure,
            "requires": check_requirement(f"stage {name!r}", requires or {}),
            "team": crew,
        }
        for k, v in values.items():
            object.__setattr__(self, k, v)


class Pipeline:
    """A complete, validated multi-agent pipeline definition."""

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
    ) -> None:
        self.name = _check_name("pipeline", name)
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
        self.stages = {s.name: s for s in stages}
        self.roles = {r.name: r for r in roles}
        self.intents = {i.label: i.examples for i in intents}
        self.intent_requires = {i.label: i.requires for i in intents if i.requires}
        self.sample_query = sample_query
        self.pool = pool
        self.judge = judge
        self.budget_usd = budget_usd
        self.max_steps = max_steps
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
        self.registry = self._resolve_skills(skills)
        self.permitted = self._permissions()
        self.demotions: dict[tuple[str, str], dict[str, ToolGraph]] = {}
        """(stage, role) -> lesser goal -> its tool graph."""
        self.tool_graphs = self._tool_graphs()

    def _resolve_skills(self, extra: Sequence[Skill]) -> SkillRegistry:
        """Every skill the pipeline mentions, objects first, then names from the registry."""
        registry = SkillRegistry()
        refs: list[tuple[str, Any]] = [(f"pipeline {self.name!r}", s) for s in extra]
        refs += [(f"stage {s.name!r}", k) for s in self.stages.values() for k in s.skills]
        refs += [(f"role {r.name!r}", k) for r in self.roles.values() for k in r.skills]
        for owner, ref in refs:
            if isinstance(ref, Skill):
                registry.add(ref, source=owner)
            elif not isinstance(ref, str):
                raise DefinitionError(
                    f"{owner} lists {ref!r} as a skill; pass an @skill function or a skill name "
                    "(a plain function needs the @skill decorator)"
                )
        known: SkillRegistry | None = None
        for owner, ref in refs:
            if isinstance(ref, str) and ref not in registry:
                known = known or default_registry()
                if ref not in known:
                    raise DefinitionError(
                        f"{owner} names skill {ref!r}, which is not defined: no @skill in the "
                        f"pipeline, built-in or installed plugin has that name. Known: "
                        f"{sorted({e.skill.name for e in (*known, *registry)})}"
                    )
                registry.add(known.get(ref), source="registry")
        return registry

    def _permissions(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """Skills each (stage, role) may call: the stage's list narrowed by the role's."""
        out: dict[tuple[str, str], tuple[str, ...]] = {}
        for s in self.stages.values():
            stage_skills = [getattr(k, "name", k) for k in s.skills]
            usable: set[str] = set()
            for r in s.roles:
                role_skills = set(self.roles[r].skill_names)
                out[(s.name, r)] = tuple(k for k in stage_skills if k in role_skills)
                usable.update(out[(s.name, r)])
            unusable = [k for k in stage_skills if k not in usable]
            if unusable and s.roles:
                raise DefinitionError(
                    f"stage {s.name!r} offers skill {unusable[0]!r}, but none of its roles "
                    f"{list(s.roles)} may call it; add it to a role's skills=[...]"
                )
        return out

    def _tool_graphs(self) -> dict[tuple[str, str], ToolGraph]:
        graphs: dict[tuple[str, str], ToolGraph] = {}
        produced = {"query", "intent"} | {e.skill.produces for e in self.registry}
        for s in self.stages.values():
            if s.goal is None:
                continue
            for r in s.roles:
                tools = [self.registry.get(k) for k in self.permitted[(s.name, r)]]
                where = f"stage {s.name!r} (role {r!r})"
                if not tools:
                    raise DefinitionError(
                        f"{where} has goal {s.goal!r} but no skills it may call; "
                        "give the stage and role skills that produce it"
                    )
                try:
                    graph = ToolGraph(tools, goal=s.goal, edges=s.tool_edges)
                    self.demotions[(s.name, r)] = {
                        g: ToolGraph(tools, goal=g, edges=s.tool_edges) for g in s.demote_to
                    }
                except OrchestratorError as exc:
                    raise DefinitionError(f"{where}: {exc}") from None
                # facts from outside this graph may be known by the time the stage runs
                outside = produced - {t.produces for t in tools}
                for goal, g in [(s.goal, graph), *self.demotions[(s.name, r)].items()]:
                    if g.route().plan(dict.fromkeys(outside)) is None:
                        raise DefinitionError(
                            f"{where}: goal {goal!r} is unreachable; no chain of its skills "
                            "can start from the query and the facts other skills produce"
                        )
                graphs[(s.name, r)] = graph
        return graphs

    def sample(self) -> str:
        """The built-in sample input (a fresh one per call when ``sample_query`` is a function)."""
        return self.sample_query() if callable(self.sample_query) else self.sample_query

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, stages={list(self.stages)}, roles={list(self.roles)})"
