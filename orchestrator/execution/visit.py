"""One stage visit, as named steps: assign, reach the goal, build the context, answer,
apply the tool calls, choose the next stage.

Each step reads and extends one ``Visit``: assigning picks the (role, model) arm among
those every constraint allows and opens the visit's ``invoke_agent`` span; reaching the
goal runs the cheapest tool chain (rerouting, then escalating when no path is left);
building the context hands the role what its budget allows; answering is one model call,
or the stage's team; the model's ``CALL:`` lines run the skills the role may call; the
dispatcher checks every request to move against the stage automaton. The visit's record
is what the graph checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agents import build_messages, parse_reply
from agents.prompts import ParsedReply
from orchestrator.definition import Pipeline, Stage, StageView
from orchestrator.errors import GoalUnreachable, RunError
from orchestrator.execution.breaker import BreakerBoard
from orchestrator.execution.dispatcher import Dispatcher, MoveRequest
from orchestrator.execution.escalation import escalate, failed_tools_text
from orchestrator.execution.journal import MISSING, CallJournal
from orchestrator.execution.modelcall import ModelCaller
from orchestrator.execution.records import (
    NO_SPEND,
    Record,
    StageRecord,
    facts_of,
    request_of,
    spend_of,
    stage_record,
)
from orchestrator.execution.rolememory import RoleMemory
from orchestrator.execution.run import RoleAt, RunContext, Visit
from orchestrator.execution.team import TeamRunner
from orchestrator.execution.toolrunner import ToolRunner
from orchestrator.routing import (
    Assignment,
    AssignmentPolicy,
    Budget,
    Eligibility,
    Exclusion,
    FeatureBuilder,
)
from orchestrator.routing.policy import StageScores
from orchestrator.tools import ToolGraph
from orchestrator.tracing import RunTracer
from orchestrator.types import Arm, Candidate, Decision, ModelReply, estimate_tokens

__all__ = ["StageVisitor"]


class StageVisitor:
    """Runs the stage visits of one runtime's runs; see the module docstring."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        eligibility: Eligibility,
        policy: AssignmentPolicy,
        features: FeatureBuilder,
        budget: Budget,
        breakers: BreakerBoard,
        tools: ToolRunner,
        caller: ModelCaller,
        teams: TeamRunner,
        memory: RoleMemory,
        dispatcher: Dispatcher,
        tracer: RunTracer,
    ) -> None:
        self.pipeline = pipeline
        self.eligibility = eligibility
        self.policy = policy
        self.features = features
        self.budget = budget
        self.breakers = breakers
        self.tools = tools
        self.caller = caller
        self.teams = teams
        self.memory = memory
        self.dispatcher = dispatcher
        self.tracer = tracer
        self._role_at = {
            (s.name, r): RoleAt(
                role=pipeline.roles[r],
                permitted=pipeline.permitted[(s.name, r)],
                tool_graph=pipeline.tool_graphs.get((s.name, r)),
                skills=[
                    f"{k}({', '.join(pipeline.registry.get(k).params)})"
                    for k in pipeline.permitted[(s.name, r)]
                ],
                allowed_next=pipeline.machine.next_of(s.name),
            )
            for s in pipeline.stages.values()
            for r in s.roles
        }
        """What a stage visit by a role needs that is fixed by the definition."""

    def __call__(
        self, stage: Stage, outputs: Sequence[Record], ctx: RunContext
    ) -> tuple[StageRecord, str | None]:
        """A visit of ``stage`` after the run's records ``outputs``: its record and the
        next stage the dispatcher chose (None: the run ends)."""
        if not stage.roles:  # a terminal stage nobody works on: the run ends here
            facts = facts_of(outputs)
            return stage_record("end", stage.name, "", "", "", facts, NO_SPEND), None
        visit = self._assign(stage, outputs, ctx)
        try:
            graph = visit.at.tool_graph
            if graph is not None and not self._reach_goal(visit, graph):
                return self._escalation(visit)
            lines = self.memory.context(visit)
            parsed, replies, recorded, team = self._answer(visit, lines)
            blocked = self._apply_tool_calls(visit, parsed) if parsed.calls else 0
            nxt, view, refused = self._choose_next(visit, parsed)
            fields = {
                "check": None if stage.check is None else _check(stage, view),
                "blocked_requests": blocked + refused,
                "recorded_quality": recorded,
                "arm": f"{visit.role}@{visit.model}",
                "x": visit.x,
                **spend_of(replies),
                **team,
            }
            record = stage_record(
                "answer", stage.name, visit.role, parsed.answer, visit.model, visit.facts, fields
            )
            return record, nxt
        except RunError as exc:
            RunTracer.fail(visit.span, str(exc))
            raise
        finally:
            visit.span.end()

    # ------------------------------------------------------------------ the steps

    def _assign(self, stage: Stage, outputs: Sequence[Record], ctx: RunContext) -> Visit:
        """Choose the visit's arm among those no constraint excludes (a first visit was
        chosen when the run started, unless a breaker opened since) and open its span."""
        done: Sequence[StageRecord] = outputs[1:]  # type: ignore[assignment]  # the visits
        limited = self.budget.limit_usd is not None
        spent = sum(o["cost"] for o in done) if limited else 0.0
        visits = 0
        for o in done:
            if o["stage"] == stage.name:
                visits += 1
        first = None if visits else ctx.first_visits.get(stage.name)
        scored: StageScores | None = None
        assignment: Assignment | None = None
        if first is not None:
            scored, assignment, x = first
        else:
            x = self.features.stage_list(
                ctx.features,
                stage=stage.name,
                visits=visits,
                budget_left=self.budget.left_fraction(spent),
            )
        down = self.breakers.blocked(self.eligibility.models[stage.name])
        excluded, budget = self.eligibility.exclusions(
            stage.name,
            ctx.intent.label,
            spent=spent,
            down=down,
            query_tokens=estimate_tokens(ctx.query) if limited else 0,
        )
        if budget is not None:
            ctx.record(ctx.root, budget)
        if down or assignment is None:  # not chosen at run start, or a breaker opened since
            with self.policy.lock:
                assignment = self.policy.assign(
                    stage.name,
                    None if scored is not None else np.array(x),
                    intent=ctx.intent.label,
                    excluded=excluded,
                    scored=scored,
                )
        key = f"{ctx.run_id}:{stage.name}:{visits}"  # the visit's, the same on a resume
        if ctx.journal is not None:
            assignment = self._as_before(ctx, ctx.journal, key, stage.name, x, assignment)
        span = self.tracer.agent(
            ctx.root, role=assignment.role, stage=stage.name, model=assignment.model
        )
        ctx.record(span, assignment.decision)
        return Visit(  # positionally, in field order: a visit is made at every step
            stage,
            assignment.role,
            self._role_at[(stage.name, assignment.role)],
            assignment.model,
            x,
            excluded,
            key,
            ctx,
            span,
            request_of(outputs),
            done,
            dict(facts_of(outputs)),
        )

    def _as_before(
        self,
        ctx: RunContext,
        journal: CallJournal,
        key: str,
        stage: str,
        x: list[float],
        assignment: Assignment,
    ) -> Assignment:
        """A resumed visit keeps the arm its recorded calls were made with (the journal's
        records of the visit say which); a visit with none chooses afresh."""
        recorded = journal.first(ctx.run_id, f"{key}:")
        if recorded is MISSING:
            return assignment
        arm = Arm(*recorded["arm"])
        if arm == (assignment.role, assignment.model):
            return assignment
        why = Exclusion("resumed", f"the visit had chosen {arm.name} before the run stopped")
        others = {a.name: why for a in self.policy.candidates(stage) if a != arm}
        with self.policy.lock:
            return self.policy.assign(stage, np.array(x), intent=ctx.intent.label, excluded=others)

    def _reach_goal(self, visit: Visit, graph: ToolGraph) -> bool:
        """Run the tools toward the stage's goal on its tool ``graph``, escalating (a
        lesser goal chosen by one model call) when no path is left; whether the stage may
        answer."""
        failed: dict[str, str] = {}
        if self.tools.run_to_goal(visit, graph, failed):
            return True
        stage = visit.stage
        fallbacks = self.pipeline.demotions.get((stage.name, visit.role), {})
        reached, reply = escalate(
            visit, failed, fallbacks=fallbacks, tools=self.tools, caller=self.caller
        )
        if reply is not None:
            visit.control = (*visit.control, reply)
        if reached:
            return True
        if stage.escalate_to is None:
            raise GoalUnreachable(
                f"stage {stage.name!r}: no tool path reaches goal {stage.goal!r} "
                f"(failed: {failed_tools_text(failed)}); give the stage escalate_to=... "
                "or another skill that produces it"
            )
        return False

    def _escalation(self, visit: Visit) -> tuple[StageRecord, str | None]:
        """No goal reached: no answer, straight to the stage's escalation stage."""
        stage = visit.stage
        nxt, decisions, _ = self.dispatcher.next_stage(
            stage.name, [("escalation", "escalation", stage.escalate_to)]
        )
        for d in decisions:
            visit.ctx.record(visit.span, d)
        fields = {**spend_of(visit.control), "arm": f"{visit.role}@{visit.model}", "x": visit.x}
        record = stage_record(
            "escalation", stage.name, visit.role, "", visit.model, visit.facts, fields
        )
        return record, nxt

    def _answer(
        self, visit: Visit, lines: Sequence[str]
    ) -> tuple[ParsedReply, list[ModelReply], float | None, dict[str, Any]]:
        """The stage's answer: one model call, or its team; then written to the scope's
        memory. Returns the parsed answer, the answering replies (control-plane replies
        included), the quality recorded with a replayed answer, and a team's fields."""
        stage, role = visit.stage, visit.at.role
        team: dict[str, Any] = {}
        recorded = None
        if stage.team is not None:
            answer = self.teams.run(visit, lines)
            parsed, replies, visit.model, team = answer
        else:
            messages = build_messages(
                role_name=role.name,
                instructions=role.instructions,
                stage=stage.name,
                query=visit.request["query"],
                intent=visit.request["intent"],
                facts=visit.facts,
                context=lines,
                skills=visit.at.skills,
                allowed_next=visit.at.allowed_next,
            )
            reply, visit.model = self.caller.call(
                visit, visit.model, messages, role.max_output_tokens
            )
            parsed = parse_reply(reply.text)
            replies, recorded = [reply], reply.quality
        if visit.request["scope"] is not None and parsed.answer:
            self.memory.remember(visit, parsed.answer)
        return parsed, [*replies, *visit.control] if visit.control else replies, recorded, team

    def _apply_tool_calls(self, visit: Visit, parsed: ParsedReply) -> int:
        """Run the skills the model's ``CALL:`` lines ask for, if the role may call them
        and the call's arguments agree with what the run knows; returns how many were
        refused or failed."""
        blocked = 0
        for call in parsed.calls:
            block = self.dispatcher.skill_block(
                visit.stage.name, visit.role, call.skill, visit.at.permitted
            )
            known = visit.inputs()
            if block is None:
                block = _forged(visit, call.skill, call.args, known)
            if block is not None:
                visit.ctx.record(visit.span, block)
                blocked += 1
                continue
            ok, value = self.tools.call(visit, call.skill, {**known, **call.args})
            if ok:
                visit.facts[self.pipeline.registry.get(call.skill).produces] = value
            else:
                blocked += 1
        return blocked

    def _choose_next(
        self, visit: Visit, parsed: ParsedReply
    ) -> tuple[str | None, StageView | None, int]:
        """The next stage: the stage's ``route``, else the model's ``NEXT:``, as the
        automaton allows. Returns it, what the stage's functions saw, and how many of the
        model's requests were refused."""
        stage = visit.stage
        view = None
        if stage.route is not None or stage.check is not None:  # only they look at it
            view = StageView(
                query=visit.request["query"],
                intent=visit.request["intent"],
                stage=stage.name,
                answer=parsed.answer,
                facts=visit.facts,
                trail=(*(o["stage"] for o in visit.done), stage.name),
            )
        requests: list[MoveRequest] = []
        if stage.route is not None:
            asked = _user_call(stage, "route", stage.route, view)
            requests.append(("route", f"route of stage {stage.name!r}", asked))
        requests.append(("model", f"model {visit.model!r}", parsed.next_stage))
        nxt, decisions, refused = self.dispatcher.next_stage(stage.name, requests)
        for d in decisions:
            visit.ctx.record(visit.span, d)
        return nxt, view, refused.count("model")


def _forged(
    visit: Visit, skill: str, args: Mapping[str, Any], known: Mapping[str, Any]
) -> Decision | None:
    """A ``guard_block`` if a model's call arguments contradict what the run knows (the
    query, the intent, the facts its tools found): a model's word never overrides a fact,
    so a precondition always judges the values the tools produced."""
    forged = sorted(k for k, v in args.items() if k in known and known[k] != v)
    if not forged:
        return None
    return Decision(
        kind="guard_block",
        stage=visit.stage.name,
        chosen="",
        reason=(
            f"model {visit.model!r} called {skill!r} with {', '.join(forged)} differing from "
            "what the run knows; the call was blocked (a model's arguments never override "
            "the query, the intent or facts the tools found)"
        ),
        candidates=(Candidate(name=skill, excluded_by="arguments contradict known facts"),),
    )


def _check(stage: Stage, view: StageView | None) -> bool | None:
    """The stage's ``check`` verdict on its answer (None without a check)."""
    if stage.check is None or view is None:
        return None
    return bool(_user_call(stage, "check", stage.check, view))


def _user_call(stage: Stage, what: str, fn: Any, view: StageView | None) -> Any:
    """Call a stage's route/check function; its exception becomes a clear run failure."""
    try:
        return fn(view)
    except Exception as exc:
        raise RunError(
            f"stage {stage.name!r}: its {what} function raised {type(exc).__name__}: {exc}; "
            "fix it in the pipeline file"
        ) from exc
