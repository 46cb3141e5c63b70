"""A run's records: what its one checkpointed channel holds, in order.

The first record is the run's request (kind ``request``); then one record per stage visit:
an ``answer``, an ``escalation`` (no tool path reached the goal; no answer), or ``end``
(a terminal stage nobody works on). The records are plain dicts in the checkpoint, so
checkpoints and trace files written by earlier versions stay readable; the TypedDicts say
which keys each kind holds. The request, the trail of stages and the facts known are read
from the records (``request_of``, ``trail_of``, ``facts_of``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

from memory import make_item
from orchestrator.types import ModelReply

__all__ = [
    "NO_SPEND",
    "Record",
    "RequestRecord",
    "Spend",
    "StageRecord",
    "facts_of",
    "request_of",
    "request_record",
    "spend_of",
    "stage_record",
    "trail_of",
]


class RequestRecord(TypedDict):
    """The first record of a run: what it was asked."""

    kind: Literal["request"]
    query: str
    """The user's request."""
    intent: str
    """The routed intent (or ``unknown``)."""
    confidence: float
    """The intent router's confidence."""
    scope: str | None
    """Whose long-term memory the run reads and extends (None: none)."""


class Spend(TypedDict):
    """What a visit's answering model calls cost (failed-over tries are not paid)."""

    calls: int
    """Answering model calls."""
    cost: float
    """USD."""
    input_tokens: int
    output_tokens: int


class StageRecord(Spend):
    """One stage visit: a memory item (stage, role, text, tokens, line), its outcome and
    accounting, and the facts known after it."""

    stage: str
    """The stage visited."""
    role: str
    """The role that worked on it ('' for a terminal stage nobody works on)."""
    text: str
    """The answer ('' for an escalation or an end)."""
    tokens: int
    """Tokens of the answer (for the context budgets of later roles)."""
    line: str
    """``stage/role: text``, the answer as a context line."""
    kind: Literal["answer", "escalation", "end"]
    """An answer, an escalation (no tool path reached the goal), or the end of the run."""
    model: str
    """The model that answered last ('' when none was called)."""
    facts: dict[str, Any]
    """Every fact known after the visit (skill results by ``produces`` name)."""
    arm: NotRequired[str]
    """The ``role@model`` arm credited for the visit (answers and escalations)."""
    x: NotRequired[list[float]]
    """The context vector the arm was chosen in."""
    check: NotRequired[bool | None]
    """The stage's ``check`` verdict on the answer (None without a check)."""
    blocked_requests: NotRequired[int]
    """Requests of the model that a guard refused (skill calls, stage moves)."""
    recorded_quality: NotRequired[float | None]
    """The quality a replayed answer was recorded with (None: not known)."""
    team: NotRequired[dict[str, str]]
    """A team stage's answer of each member."""
    compound_mode: NotRequired[str]
    """The mode a team stage ran in."""
    group_quality: NotRequired[float | None]
    """The group judge's score of the team's answers (None: the judge failed)."""


Record = RequestRecord | StageRecord


def request_record(query: str, intent: str, confidence: float, scope: str | None) -> RequestRecord:
    """The first record of a run's ``outputs``: what it was asked."""
    return {
        "kind": "request",
        "query": query,
        "intent": intent,
        "confidence": confidence,
        "scope": scope,
    }


def stage_record(
    kind: Literal["answer", "escalation", "end"],
    stage: str,
    role: str,
    text: str,
    model: str,
    facts: dict[str, Any],
    fields: Mapping[str, Any],
) -> StageRecord:
    """A stage visit's record: the memory item of ``text``, then ``kind``, ``model``,
    ``facts`` and ``fields`` (accounting, arm, checks), in that order."""
    record = make_item(stage=stage, role=role, text=text)
    record["kind"] = kind
    record["model"] = model
    record["facts"] = facts
    record.update(fields)
    return record  # type: ignore[return-value]  # the keys StageRecord names


def spend_of(replies: Sequence[ModelReply]) -> Spend:
    """Cost and tokens of a visit's answering calls."""
    if len(replies) == 1:
        r = replies[0]
        return {
            "calls": 1,
            "cost": r.cost_usd,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
        }
    return {
        "calls": len(replies),
        "cost": sum(r.cost_usd for r in replies),
        "input_tokens": sum(r.input_tokens for r in replies),
        "output_tokens": sum(r.output_tokens for r in replies),
    }


NO_SPEND: Spend = {"calls": 0, "cost": 0.0, "input_tokens": 0, "output_tokens": 0}
"""What a visit without a model call spent."""


def request_of(outputs: Sequence[Mapping[str, Any]]) -> RequestRecord:
    """A run's request (query, intent, confidence, scope), from its records."""
    return outputs[0]  # type: ignore[return-value]  # the first record is the request


def trail_of(outputs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The stages a run visited, in order, from its records."""
    return [o["stage"] for o in outputs[1:]]


def facts_of(outputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The facts a run knows after its visits (the last visit's), from its records."""
    return outputs[-1]["facts"] if len(outputs) > 1 else {}
