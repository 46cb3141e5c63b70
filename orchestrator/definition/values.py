"""The values a user writes: intents and goal stages, each validated when it is made.

A mistake fails here, naming the intent or stage and the fix: a malformed name, a
requirement outside 0..1, a team on a terminal stage, an escalation stage that is not
among the next stages, a demotion without a goal. What needs the whole pipeline (roles,
skills, the stage automaton) is checked by ``Pipeline``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.compound import Member, Team
from orchestrator.errors import DefinitionError

__all__ = ["Intent", "Stage", "StageView", "check_name", "check_requirement"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def check_requirement(owner: str, req: Mapping[str, float]) -> dict[str, float]:
    """Validate a requirement given in a definition; returns a plain copy."""
    out = {}
    for cap, level in dict(req).items():
        if not isinstance(cap, str) or not isinstance(level, int | float) or not 0 <= level <= 1:
            raise DefinitionError(
                f"{owner} requires {cap!r}: {level!r}; requirements map capability names to "
                "scores in 0..1, e.g. requires={'reasoning': 0.7}"
            )
        out[cap] = float(level)
    return out


def check_name(kind: str, name: object) -> str:
    """``name`` if it is a valid name of a ``kind`` (pipeline, stage, intent)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DefinitionError(
            f"{kind} name {name!r} must start with a letter and use only letters, digits, - or _"
        )
    return name


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
        check_name("intent", label)
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
        check_name("stage", name)
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


_PERIODS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0, "week": 7 * 86400.0}


@dataclass(frozen=True, slots=True)
class SpendCap:
    """At most ``usd`` spent on model calls by all runs of a pipeline per ``per_s``
    seconds (a fixed window), over every worker: e.g. ``SpendCap(5.0, per="day")``."""

    usd: float
    """The cap in USD."""
    per: str | float = "day"
    """The window: ``minute``, ``hour``, ``day``, ``week`` or a number of seconds."""

    def __post_init__(self) -> None:
        if not (isinstance(self.usd, int | float) and math.isfinite(self.usd) and self.usd > 0):
            raise DefinitionError(f"SpendCap: usd must be a number > 0, not {self.usd!r}")
        if isinstance(self.per, str):
            if self.per not in _PERIODS:
                raise DefinitionError(
                    f"SpendCap: per must be one of {sorted(_PERIODS)} or seconds, not {self.per!r}"
                )
        elif not (isinstance(self.per, int | float) and math.isfinite(self.per) and self.per > 0):
            raise DefinitionError(f"SpendCap: per must be seconds > 0, not {self.per!r}")

    @property
    def per_s(self) -> float:
        """The window in seconds."""
        return _PERIODS[self.per] if isinstance(self.per, str) else float(self.per)

    def __str__(self) -> str:
        per = self.per if isinstance(self.per, str) else f"{self.per:g} s"
        return f"${self.usd:g} per {per}"
