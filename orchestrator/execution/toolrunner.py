"""Executes tool chains: the cheapest path to a stage goal, rerouted around failures.

Every failure ends as a recorded decision: a ``guard_block`` when a contract refused the
call or its result, then a ``reroute`` onto the next cheapest path, or, when no path is
left, an ``escalate`` recorded by the escalation step. Nothing fails silently. Every call's outcome
feeds the tool health, which weighs the next plans.
"""

from __future__ import annotations

import contextvars
import math
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, NamedTuple

from orchestrator.errors import (
    PostconditionFailed,
    PreconditionFailed,
    SkillFailed,
    ToolRateLimited,
    ToolTimeout,
)
from orchestrator.execution.journal import MISSING
from orchestrator.execution.run import Visit
from orchestrator.protocols import SKILL_CALL_KEY
from orchestrator.redaction import redact
from orchestrator.tools import ToolGraph, ToolHealth
from orchestrator.tracing import ATTR, RunTracer
from orchestrator.types import Candidate, Decision
from skills import Skill, SkillRegistry

__all__ = ["ToolResult", "ToolRunner", "invoke_skill"]


class ToolResult(NamedTuple):
    """One skill call's outcome."""

    ok: bool
    """Whether the skill ran and its result passed its contract."""
    value: Any
    """The result, or why the call failed."""


class ToolRunner:
    """Runs skills under their contracts and tool chains along the tool graph."""

    def __init__(self, registry: SkillRegistry, tracer: RunTracer, health: ToolHealth) -> None:
        self.registry = registry
        self.tracer = tracer
        self.health = health

    def run_to_goal(self, visit: Visit, graph: ToolGraph, failed: dict[str, str]) -> bool:
        """Run the cheapest tool chain to ``graph.goal``, rerouting on failure.

        Adds results to the visit's facts; tools in ``failed`` (this visit's failures,
        updated here) are never planned. Returns whether the goal was reached; when it was
        not, the caller escalates.
        """
        goal = graph.goal
        stage, facts, ctx, span = visit.stage, visit.facts, visit.ctx, visit.span
        if goal in facts:
            ctx.record(
                span,
                Decision(
                    kind="tool_path",
                    stage=stage.name,
                    chosen="",
                    reason=f"goal {goal!r} already known from an earlier visit; no tool rerun",
                ),
            )
            return True
        penalties = self.health.penalties()
        route = graph.route(penalties)
        for tool, why in failed.items():
            route.fail(tool, why)
        inputs = visit.inputs()
        done: list[str] = []
        plan = route.plan(inputs)
        if plan is None:
            return False
        unhealthy = [
            f"{t} +{penalties[t]:.2f} ({self.health.describe(t)})"
            for t in sorted(penalties)
            if t in graph.tools
        ]
        ctx.record(
            span,
            Decision(
                kind="tool_path",
                stage=stage.name,
                chosen="->".join(plan.tools),
                reason=f"cheapest path to {goal!r}, cost {plan.cost:.4f}"
                + (f"; health penalties: {', '.join(unhealthy)}" if unhealthy else ""),
                candidates=tuple(
                    Candidate(name=t, score=-route.edge_weight(t), excluded_by=failed.get(t))
                    for t in sorted(graph.tools)
                ),
            ),
        )
        while True:
            for tool in plan.tools:
                ok, value = self.call(visit, tool, inputs)
                if ok:
                    produced = graph.tools[tool].produces
                    inputs[produced] = facts[produced] = value
                    done.append(tool)
                    continue
                failed[tool] = str(value)
                route.fail(tool, str(value))
                plan = route.plan(inputs, done=done)
                if plan is None:
                    return False
                ctx.record(
                    span,
                    Decision(
                        kind="reroute",
                        stage=stage.name,
                        chosen="->".join(plan.tools),
                        reason=f"{tool!r} failed ({value}); its edges now weigh infinity; "
                        f"new path costs {plan.cost:.4f}",
                        candidates=(Candidate(name=tool, excluded_by="failed"),),
                    ),
                )
                break
            else:
                return True

    def call(self, visit: Visit, name: str, inputs: Mapping[str, Any]) -> ToolResult:
        """Run one skill of ``visit`` with ``inputs`` under its contract; a broken contract
        is recorded, never passed on. With a journal (a durable run), a call the run made
        before it was resumed is not made again: its recorded outcome is returned; a new
        call's outcome is recorded before the run moves on.

        Every outcome is reported to the tool health (ok, error, timeout, rate-limited).
        """
        key = visit.call_key(name)
        journal = visit.ctx.journal
        if journal is not None:
            recorded = journal.get(visit.ctx.run_id, key)
            if recorded is not MISSING:
                return self._replayed(
                    visit, name, recorded["ok"], recorded["value"], recorded["outcome"]
                )
        result, outcome = self._run(visit, name, inputs, key)
        if journal is not None:
            journal.put(
                visit.ctx.run_id,
                key,
                {"ok": result.ok, "value": result.value, "outcome": outcome, "arm": visit.arm()},
            )
        return result

    def _replayed(self, visit: Visit, name: str, ok: bool, value: Any, outcome: str) -> ToolResult:
        """A call the run made before it was resumed: its recorded outcome, traced as such."""
        tspan = self.tracer.tool(visit.span, tool=name, call_id="replayed")
        if tspan.is_recording():
            tspan.set_attribute(ATTR.TOOL_REPLAYED, True)
            if ok:
                tspan.set_attribute(ATTR.TOOL_OUTCOME, "ok")
        if not ok:
            RunTracer.fail(tspan, str(value))
        if outcome == "contract":  # the guard that blocked it, recorded again
            visit.ctx.record(
                tspan,
                Decision(
                    kind="guard_block",
                    stage=visit.stage.name,
                    chosen="",
                    reason=f"skill {name!r}: {value}; the call was blocked (recorded before the "
                    "run was resumed)",
                    candidates=(Candidate(name=name, excluded_by="contract"),),
                ),
            )
        tspan.end()
        return ToolResult(ok, value)

    def _run(
        self, visit: Visit, name: str, inputs: Mapping[str, Any], key: str
    ) -> tuple[ToolResult, str]:
        """Run the skill now: its result, and its outcome for the tool health (``ok``,
        ``error``, ``timeout``, ``rate_limited`` or ``contract``)."""
        skill = self.registry.get(name)
        tspan = self.tracer.tool(visit.span, tool=name, call_id=uuid.uuid4().hex[:8])
        outcome, retry_after = "error", None
        token = SKILL_CALL_KEY.set(key)  # the skill's idempotency key, also in its thread
        try:
            try:
                result = invoke_skill(skill, inputs)
            except (PreconditionFailed, PostconditionFailed) as exc:
                what = "call" if isinstance(exc, PreconditionFailed) else "result"
                visit.ctx.record(
                    tspan,
                    Decision(
                        kind="guard_block",
                        stage=visit.stage.name,
                        chosen="",
                        reason=redact(f"{exc}; the {what} was blocked"),
                        candidates=(Candidate(name=name, excluded_by=type(exc).__name__),),
                    ),
                )
                RunTracer.fail(tspan, redact(str(exc)))
                outcome = "contract"
                return ToolResult(False, redact(exc.detail)), outcome
            except ToolTimeout as exc:
                RunTracer.fail(tspan, str(exc))
                outcome = "timeout"
                return ToolResult(False, exc.detail), outcome
            except ToolRateLimited as exc:
                why = redact(f"rate-limited: {exc.detail}")
                RunTracer.fail(tspan, why)
                outcome, retry_after = "rate_limited", exc.retry_after_s
                return ToolResult(False, why), outcome
            except SkillFailed as exc:
                RunTracer.fail(tspan, redact(str(exc)))
                return ToolResult(False, redact(exc.detail)), outcome
            except Exception as exc:  # a skill's own bug or outage is a tool failure
                why = redact(f"{type(exc).__name__}: {exc}")
                RunTracer.fail(tspan, why)
                return ToolResult(False, f"raised {why}"), outcome
            outcome = "ok"
            if tspan.is_recording():
                tspan.set_attribute(ATTR.TOOL_OUTCOME, "ok")
            return ToolResult(True, result), outcome
        finally:
            SKILL_CALL_KEY.reset(token)
            if outcome != "contract":  # a refused call says nothing of the service's health
                self.health.record(name, outcome, retry_after_s=retry_after)
            tspan.end()


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def invoke_skill(skill: Skill, inputs: Mapping[str, Any]) -> Any:
    """Run ``skill`` on a worker thread (in the caller's context variables) under its
    ``timeout_s``; an overrunning call is abandoned (its late result ignored), since Python
    cannot stop a running thread. A skill with no timeout (``math.inf``) runs here."""
    timeout = skill.timeout_s
    if math.isinf(timeout):
        return skill.invoke(inputs)
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="orchestrator-tool")
    future = _executor.submit(contextvars.copy_context().run, skill.invoke, dict(inputs))
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        future.cancel()
        raise ToolTimeout(skill.name, f"no result within {timeout:g}s") from None
