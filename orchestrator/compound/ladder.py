"""The merge ladder: a team's members run in fewer LLM calls, and how.

A team's members form one group that can be merged: they share the stage's request,
facts and context, and every member's inputs are available inside the group. A group runs
in one of four modes, the escalation ladder from most merged to per-agent dispatch:

- ``standard``: one merged call, one validated section per member;
- ``two-phase``: two merged calls, split along the topology near the middle (the second
  sees the first's answers its members depend on);
- ``sequential``: merged calls of two members each, in topological order (one each in a
  team of three or fewer);
- ``fine``: one call per member.

Every call, merged or not, sees only the answers of the members it depends on
(topology-aware context), and its prompt puts the static part first (cache-aligned).
Which mode a group runs in is the ``QualityGate``'s choice (``gate.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.compound.team import Team
from orchestrator.errors import InputError
from orchestrator.types import Candidate, Decision

__all__ = [
    "LADDER",
    "Caller",
    "GroupOutput",
    "TeamOutcome",
    "chunks",
    "estimate_input_tokens",
    "run_team",
]

LADDER = ("standard", "two-phase", "sequential", "fine")
"""Execution modes of a group, most merged first; a failing mode steps one to the right."""


def chunks(team: Team, mode: str) -> list[tuple[str, ...]]:
    """The team's members split into the calls of ``mode``, in topological order."""
    order = team.order
    if mode == "standard" or len(order) == 1:
        return [order]
    if mode == "fine":
        return [(n,) for n in order]
    if mode == "two-phase":
        # split at the layer boundary nearest the middle (a single layer: in halves)
        cuts, at = [], 0
        for layer in team.layers[:-1]:
            at += len(layer)
            cuts.append(at)
        half = len(order) / 2
        cut = min(cuts, key=lambda c: (abs(c - half), c)) if cuts else len(order) // 2
        return [order[:cut], order[cut:]]
    if mode == "sequential":  # pairs; a team of 3 or fewer has no pairing below two-phase
        size = 2 if len(order) >= 4 else 1
        return [order[i : i + size] for i in range(0, len(order), size)]
    raise InputError(f"unknown compound mode {mode!r}; modes are {list(LADDER)}")


def estimate_input_tokens(
    team: Team,
    mode: str,
    *,
    instructions: Mapping[str, int],
    shared: int,
    outputs: Mapping[str, int],
    overhead: int = 60,
) -> tuple[int, int]:
    """(calls, input tokens) ``mode`` would take: each call pays its members' instructions,
    the shared request/facts/context, the protocol, and the answers it depends on from
    outside the call (``outputs``: expected answer tokens per member)."""
    total = 0
    parts = chunks(team, mode)
    for part in parts:
        inside = set(part)
        needed = {d for n in part for d in team.deps[n] if d not in inside}
        total += sum(instructions[n] for n in part) + shared + overhead
        total += sum(outputs.get(d, 0) for d in needed)
    return len(parts), total


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupOutput:
    """What a group judge sees: one group's answers in one run."""

    stage: str
    """The team's stage."""
    group: str
    """The group's name (``stage:member+member...``)."""
    mode: str
    """The mode the group ran in."""
    model: str
    """The model that answered."""
    query: str
    """The user's request."""
    instructions: Mapping[str, str]
    """Each member's role instructions."""
    sections: Mapping[str, str]
    """Each member's answer."""
    facts: Mapping[str, Any]
    """The facts the members were shown."""


Caller = Callable[[Sequence[str], Any, int], tuple[Any, str]]
"""(members of the call, messages, max_tokens) -> (reply, model that answered)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TeamOutcome:
    """What one run of a team produced."""

    sections: dict[str, str]
    """Each member's answer (protocol lines removed)."""
    sink_reply: str
    """The raw reply text that holds the sink's answer (its NEXT line included)."""
    replies: list[Any]
    """Every answering call's reply, for accounting."""
    model: str
    """The model that answered last (a failover may change it mid-team)."""
    fallbacks: list[Decision]
    """``compound`` decisions for merged calls whose sections failed validation."""
    invalid: tuple[str, ...]
    """Members whose merged section failed validation (they were re-run one call each)."""


def run_team(
    team: Team,
    mode: str,
    *,
    stage: str,
    prompts: Callable[[Sequence[str], Mapping[str, str], bool], Any],
    max_tokens: Mapping[str, int],
    call: Caller,
    parse_sections: Callable[[str, Sequence[str]], tuple[dict[str, str], dict[str, str]]],
    parse_answer: Callable[[str], str],
) -> TeamOutcome:
    """Run ``team`` in ``mode``: each call sees only the answers its members depend on.

    ``prompts(members, dependency_answers, last)`` builds one call's messages (merged when
    several members); ``last`` marks the call holding the sink, the one that may name the
    next stage. A merged reply is validated section by section; members whose section is
    missing or invalid are re-run one call each (traced as a fallback), never passed on.
    """
    sections: dict[str, str] = {}
    replies: list[Any] = []
    fallbacks: list[Decision] = []
    invalid: list[str] = []
    sink_reply = ""
    model = ""

    def one(part: Sequence[str]) -> None:
        nonlocal sink_reply, model
        needed = {d: sections[d] for n in part for d in team.deps[n] if d not in part}
        last = team.sink in part
        messages = prompts(part, needed, last)
        budget = sum(max_tokens[n] for n in part)
        reply, model = call(part, messages, budget)
        replies.append(reply)
        if last:
            sink_reply = reply.text
        if len(part) == 1:
            sections[part[0]] = parse_answer(reply.text)
            return
        valid, problems = parse_sections(reply.text, part)
        sections.update(valid)
        if problems:
            fallbacks.append(
                Decision(
                    kind="compound",
                    stage=stage,
                    chosen="fine",
                    reason=(
                        f"merged call of {'+'.join(part)} ({mode}) returned invalid sections: "
                        + "; ".join(f"{n}: {why}" for n, why in problems.items())
                        + "; running those members one call each"
                    ),
                    candidates=tuple(Candidate(name=n, excluded_by=w) for n, w in problems.items()),
                )
            )
            invalid.extend(problems)
            for n in part:  # in topological order: a re-run member sees its re-run deps
                if n in problems:
                    one((n,))

    for part in chunks(team, mode):
        one(part)
    return TeamOutcome(
        sections=sections,
        sink_reply=sink_reply,
        replies=replies,
        model=model,
        fallbacks=fallbacks,
        invalid=tuple(invalid),
    )
