"""Escalation when no tool path reaches a stage's goal, with goal demotion.

The tool runner has rerouted around every failed tool and found no path left. If the
stage's role has lesser goals (``demote_to``) whose tool paths are still open, one short
model call chooses among them (or none), and the chosen goal's path runs. Whatever
happens is recorded as an ``escalate`` decision naming the failed tools; when no goal is
reached the visit goes to the stage's ``escalate_to`` stage, or the run fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from agents.prompts import build_escalation, parse_goal
from orchestrator.errors import ModelCallError
from orchestrator.execution.modelcall import ModelCaller
from orchestrator.execution.run import Visit
from orchestrator.execution.toolrunner import ToolRunner
from orchestrator.tools import ToolGraph
from orchestrator.types import Candidate, Decision, ModelReply

__all__ = ["Escalated", "escalate", "failed_tools_text"]


class Escalated(NamedTuple):
    """How an escalation ended."""

    reached: bool
    """Whether a lesser goal was chosen and reached."""
    reply: ModelReply | None
    """The reply of the model call that chose it (None: no call was made)."""


def failed_tools_text(failed: Mapping[str, str]) -> str:
    """``tool (why), ...`` of a visit's failed tools, or ``none``."""
    return ", ".join(f"{t} ({why})" for t, why in failed.items()) or "none"


def escalate(
    visit: Visit,
    failed: dict[str, str],
    *,
    fallbacks: Mapping[str, ToolGraph],
    tools: ToolRunner,
    caller: ModelCaller,
) -> Escalated:
    """No tool path reaches the stage goal (``failed``: the tools that failed, and why):
    record the escalation; when lesser goals (``fallbacks``: goal -> its tool graph) are
    still reachable, one call to the visit's model chooses one (or none) and its path
    runs."""
    stage, facts, ctx, span = visit.stage, visit.facts, visit.ctx, visit.span
    inputs = visit.inputs()
    penalties = tools.health.penalties()
    options: list[tuple[str, float]] = []
    for goal, g in fallbacks.items():
        route = g.route(penalties)
        for tool, why in failed.items():
            route.fail(tool, why)
        if goal in facts:
            options.append((goal, 0.0))
        elif (plan := route.plan(inputs)) is not None:
            options.append((goal, plan.cost))
    options.sort(key=lambda o: (o[1], o[0]))
    head = f"no tool path reaches goal {stage.goal!r}; failed tools: {failed_tools_text(failed)}"
    fallback = stage.escalate_to or ""
    if not options:
        more = "; no fallback goal is reachable either" if fallbacks else ""
        ctx.record(
            span,
            Decision(kind="escalate", stage=stage.name, chosen=fallback, reason=head + more),
        )
        return Escalated(False, None)
    messages = build_escalation(
        stage=stage.name,
        goal=stage.goal or "",
        failed=failed,
        options=options,
        query=visit.request["query"],
    )
    ctx.control_calls += 1
    reply = None
    try:
        reply = caller.call(visit, visit.model, messages, 32, purpose="escalation")[0]
        choice = parse_goal(reply.text, [g for g, _ in options])
        why = f"the model chose {choice!r}" if choice else "the model chose none"
    except ModelCallError as exc:
        choice, why = None, f"the escalation call failed ({exc})"
    ctx.record(
        span,
        Decision(
            kind="escalate",
            stage=stage.name,
            chosen=f"goal:{choice}" if choice else fallback,
            reason=f"{head}; one model call on the reachable fallback goals: {why}",
            candidates=tuple(Candidate(name=g, score=-c) for g, c in options),
            goal=choice,
        ),
    )
    if choice is None:
        return Escalated(False, reply)
    if tools.run_to_goal(visit, fallbacks[choice], failed):
        return Escalated(True, reply)
    ctx.record(
        span,
        Decision(
            kind="escalate",
            stage=stage.name,
            chosen=fallback,
            reason=(
                f"fallback goal {choice!r} failed too; failed tools: {failed_tools_text(failed)}"
            ),
        ),
    )
    return Escalated(False, reply)
