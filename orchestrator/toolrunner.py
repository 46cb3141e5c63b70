"""Executes tool chains: the cheapest path to a stage goal, rerouted around failures.

Every failure ends as a recorded decision: a ``guard_block`` when a contract refused the
call or its result, then a ``reroute`` onto the next cheapest path, or an ``escalate`` when
no path is left. Nothing fails silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Span

from orchestrator.errors import PostconditionFailed, PreconditionFailed, SkillFailed
from orchestrator.pipeline import Stage
from orchestrator.run import RunContext
from orchestrator.toolgraph import Route, ToolGraph
from orchestrator.tracing import ATTR, RunTracer
from orchestrator.types import Candidate, Decision
from skills import SkillRegistry

__all__ = ["ToolRunner"]


class ToolRunner:
    """Runs skills under their contracts and tool chains along the tool graph."""

    def __init__(self, registry: SkillRegistry, tracer: RunTracer) -> None:
        self.registry = registry
        self.tracer = tracer

    def run_to_goal(
        self,
        stage: Stage,
        graph: ToolGraph,
        request: Mapping[str, Any],
        facts: dict[str, Any],
        ctx: RunContext,
        span: Span,
    ) -> bool:
        """Run the cheapest tool chain to the stage goal, rerouting on failure.

        Adds results to ``facts``; returns whether the goal was reached.
        """
        goal = graph.goal
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
        route = graph.route()
        inputs = {"query": request["query"], "intent": request["intent"], **facts}
        done: list[str] = []
        plan = route.plan(inputs)
        if plan is None:
            self._escalate(stage, route, ctx, span)
            return False
        ctx.record(
            span,
            Decision(
                kind="tool_path",
                stage=stage.name,
                chosen="->".join(plan[0]),
                reason=f"cheapest path to {goal!r}, cost {plan[1]:.4f}",
                candidates=tuple(
                    Candidate(name=t, score=-graph.weight[t]) for t in sorted(graph.tools)
                ),
            ),
        )
        while True:
            for tool in plan[0]:
                ok, value = self.call(stage.name, tool, inputs, ctx, span)
                if ok:
                    produced = graph.tools[tool].produces
                    inputs[produced] = facts[produced] = value
                    done.append(tool)
                    continue
                route.fail(tool, str(value))
                plan = route.plan(inputs, done=done)
                if plan is None:
                    self._escalate(stage, route, ctx, span)
                    return False
                ctx.record(
                    span,
                    Decision(
                        kind="reroute",
                        stage=stage.name,
                        chosen="->".join(plan[0]),
                        reason=f"{tool!r} failed ({value}); its edges now weigh infinity; "
                        f"new path costs {plan[1]:.4f}",
                        candidates=(Candidate(name=tool, excluded_by="failed"),),
                    ),
                )
                break
            else:
                return True

    def _escalate(self, stage: Stage, route: Route, ctx: RunContext, span: Span) -> None:
        failed = ", ".join(f"{t} ({why})" for t, why in route.failed.items()) or "none"
        ctx.record(
            span,
            Decision(
                kind="escalate",
                stage=stage.name,
                chosen=stage.escalate_to or "",
                reason=f"no tool path reaches goal {stage.goal!r}; failed tools: {failed}",
                candidates=tuple(Candidate(name=t, excluded_by="failed") for t in route.failed),
            ),
        )

    @staticmethod
    def failed_text(ctx: RunContext, stage: str) -> str:
        for d in reversed(ctx.decisions):
            if d.kind == "escalate" and d.stage == stage:
                return d.reason.split("failed tools: ", 1)[-1]
        return "none"

    def call(
        self, stage: str, name: str, inputs: Mapping[str, Any], ctx: RunContext, span: Span
    ) -> tuple[bool, Any]:
        """Run one skill under its contract; a broken contract is recorded, never passed on."""
        skill = self.registry.get(name)
        tspan = self.tracer.tool(span, tool=name, call_id=uuid.uuid4().hex[:8])
        try:
            try:
                result = skill.invoke(inputs)
            except (PreconditionFailed, PostconditionFailed) as exc:
                what = "call" if isinstance(exc, PreconditionFailed) else "result"
                ctx.record(
                    tspan,
                    Decision(
                        kind="guard_block",
                        stage=stage,
                        chosen="",
                        reason=f"{exc}; the {what} was blocked",
                        candidates=(Candidate(name=name, excluded_by=type(exc).__name__),),
                    ),
                )
                RunTracer.fail(tspan, str(exc))
                return False, exc.detail
            except SkillFailed as exc:
                RunTracer.fail(tspan, str(exc))
                return False, exc.detail
            except Exception as exc:  # a skill's own bug or outage is a tool failure
                RunTracer.fail(tspan, f"{type(exc).__name__}: {exc}")
                return False, f"raised {type(exc).__name__}: {exc}"
            if tspan.is_recording():
                tspan.set_attribute(ATTR.TOOL_OUTCOME, "ok")
            return True, result
        finally:
            tspan.end()
