"""Escalation when no tool path reaches a stage's goal, with goal demotion.

The tool runner has rerouted around every failed tool and found no path left. If the
stage's role has lesser goals (``demote_to``) whose tool paths are still open, one short
model call chooses among them (or none), and the chosen goal's path runs. Whatever
happens is recorded as an ``escalate`` decision naming the failed tools; when no goal is
reached the engine sends the run to the stage's ``escalate_to`` stage, or fails it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Span

from agents.prompts import build_escalation, parse_goal
from orchestrator.errors import ModelCallError
from orchestrator.execution.modelcall import ModelCaller
from orchestrator.execution.run import RunContext, Visit
from orchestrator.execution.toolrunner import ToolRunner
from orchestrator.tools.toolgraph import ToolGraph
from orchestrator.types import Candidate, Decision

__all__ = ["escalate", "failed_tools_text"]


def failed_tools_text(failed: Mapping[str, str]) -> str:
    """``tool (why), ...`` of a visit's failed tools, or ``none``."""
    return ", ".join(f"{t} ({why})" for t, why in failed.items()) or "none"


def escalate(
    visit: Visit,
    model: str,
    request: Mapping[str, Any],
    facts: dict[str, Any],
    failed: dict[str, str],
    ctx: RunContext,
    span: Span,
    *,
    fallbacks: Mapping[str, ToolGraph],
    tools: ToolRunner,
    caller: ModelCaller,
) -> tuple[bool, Any]:
    """No tool path reaches the stage goal: record the escalation; when lesser goals
    (``fallbacks``: goal -> its tool graph) are still reachable, one call to ``model``
    chooses one (or none) and its path runs. Returns (a goal was reached, the reply of
    that call or None)."""
    stage = visit.stage
    inputs = {"query": request["query"], "intent": request["intent"], **facts}
    penalties = tools.health.penalties()
    options: list[tuple[str, float]] = []
    for goal, g in fallbacks.items():
        route = g.route(penalties)
        for tool, why in failed.items():
            route.fail(tool, why)
        plan = (["known"], 0.0) if goal in facts else route.plan(inputs)
        if plan is not None:
            options.append((goal, plan[1]))
    options.sort(key=lambda o: (o[1], o[0]))
    head = f"no tool path reaches goal {stage.goal!r}; failed tools: {failed_tools_text(failed)}"
    fallback = stage.escalate_to or ""
    if not options:
        more = "; no fallback goal is reachable either" if fallbacks else ""
        ctx.record(
            span,
            Decision(kind="escalate", stage=stage.name, chosen=fallback, reason=head + more),
        )
        return False, None
    messages = build_escalation(
        stage=stage.name,
        goal=stage.goal or "",
        failed=failed,
        options=options,
        query=request["query"],
    )
    ctx.control_calls += 1
    reply = None
    try:
        reply, _ = caller.call(visit, model, messages, 32, ctx, span, "escalation")
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
        ),
    )
    if choice is None:
        return False, reply
    if tools.run_to_goal(stage, fallbacks[choice], request, facts, ctx, span, failed):
        return True, reply
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
    return False, reply
