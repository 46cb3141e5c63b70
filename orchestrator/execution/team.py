"""A team stage's visit: its members run fine or merged, as the quality gate allows.

``compound.py`` holds the mechanism (team DAG, ladder, opportunity estimate, gate,
``run_team``); this module applies it to one stage visit of a running pipeline: it
estimates what each mode would save from the visit's own prompt sizes, lets the gate
choose the mode (a ``compound`` decision), runs the members through the visit's model
caller (each call under its own agent span, failing over like any model call), has the
group judge grade what the mode delivered and feeds that grade back to the gate. The
sink member's answer is the stage's answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from agents import ModelPool, build_messages, parse_reply
from agents.group_judge import ModelGroupJudge
from agents.prompts import (
    ParsedReply,
    build_team_messages,
    next_of_sections,
    parse_sections,
    team_schema,
)
from orchestrator.compound import (
    LADDER,
    Compound,
    GroupOutput,
    QualityGate,
    estimate_input_tokens,
    run_team,
)
from orchestrator.definition import Pipeline
from orchestrator.errors import ModelCallError, PoolConfigError, RunError
from orchestrator.execution.judges import SectionJudge
from orchestrator.execution.modelcall import ModelCaller
from orchestrator.execution.run import Visit
from orchestrator.tracing import RunTracer
from orchestrator.types import Decision, ModelReply, estimate_tokens

__all__ = ["TeamAnswer", "TeamRunner"]


class TeamAnswer(NamedTuple):
    """What a team stage's visit answered."""

    parsed: ParsedReply
    """The sink member's answer and the next stage it asked for."""
    replies: list[ModelReply]
    """Every answering call's reply, for accounting."""
    model: str
    """The model that answered last (a failover may change it mid-team)."""
    fields: dict[str, Any]
    """What the stage record adds: each member's answer, the mode, the group's quality."""


class TeamRunner:
    """Runs the team stages of one pipeline; holds their quality gate.

    ``gate_path`` (None: in memory only) is where the gate's state is loaded from now and
    saved to by ``save``.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        compound: Compound,
        *,
        pool: ModelPool,
        tracer: RunTracer,
        caller: ModelCaller,
        gate_path: Path | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.tracer = tracer
        self.caller = caller
        self.gate = QualityGate(compound)
        """Rolling-mean quality per (model, group, mode): decides each team's mode."""
        self.gate_path = gate_path
        if gate_path is not None:
            self.gate.load(gate_path)
        if isinstance(compound.judge, str):  # an LLM judge from the pool
            if compound.judge not in pool:
                raise PoolConfigError(
                    f"Compound(judge={compound.judge!r}) names a model the pool does not "
                    f"define; the pool has {pool.names()}"
                )
            self.judge: Any = ModelGroupJudge(pool.adapter(compound.judge))
        else:
            self.judge = compound.judge or SectionJudge()
        self._answer_tokens: dict[str, float] = {}
        """Running mean of each member's answer tokens (for the opportunity estimate)."""

    def unsaved(self) -> bool:
        """Whether the gate learned something that ``save`` would persist."""
        return self.gate_path is not None and self.gate.changed

    def save(self) -> None:
        """Persist the gate's state to ``gate_path`` (atomically)."""
        if self.gate_path is not None:
            self.gate.save(self.gate_path)

    def run(self, visit: Visit, lines: Sequence[str]) -> TeamAnswer:
        """The visit's team members, fine or merged as the quality gate allows, each seeing
        the context ``lines``; the sink's answer is the stage's."""
        p = self.pipeline
        stage, model, request, facts = visit.stage, visit.model, visit.request, visit.facts
        ctx, span = visit.ctx, visit.span
        team = stage.team
        if team is None:
            raise ValueError(f"stage {stage.name!r} has no team")
        roles = {n: p.roles[n] for n in team.order}
        group = f"{stage.name}:{'+'.join(team.order)}"
        # the opportunity: calls and input tokens each mode saves against fine
        shared = estimate_tokens(request["query"]) + sum(estimate_tokens(t) for t in lines)
        shared += sum(estimate_tokens(f"{k}: {v}") for k, v in facts.items())
        sizes = {n: estimate_tokens(r.instructions) + 12 for n, r in roles.items()}
        outs = {n: self._answer_tokens.get(n, r.max_output_tokens / 4) for n, r in roles.items()}
        est = {
            m: estimate_input_tokens(
                team,
                m,
                instructions=sizes,
                shared=shared,
                outputs={k: int(v) for k, v in outs.items()},
            )
            for m in LADDER
            if m in self.gate.policy.modes
        }
        fine_calls, fine_tokens = est["fine"]
        savings = {m: (fine_calls - c, fine_tokens - t) for m, (c, t) in est.items()}
        choice = self.gate.choose(model, group, stage=stage.name, savings=savings)
        ctx.record(span, choice.decision)
        mode = choice.mode
        allowed_next = p.machine.next_of(stage.name)

        def prompts(part: Sequence[str], needed: Mapping[str, str], last: bool) -> Any:
            context = (*lines, *(f"{d} wrote: {t}" for d, t in needed.items()))
            nxt = allowed_next if last else ()
            if len(part) == 1:
                r = roles[part[0]]
                return build_messages(
                    role_name=r.name,
                    instructions=r.instructions,
                    stage=stage.name,
                    query=request["query"],
                    intent=request["intent"],
                    facts=facts,
                    context=context,
                    skills=(),
                    allowed_next=nxt,
                )
            return build_team_messages(
                members=[(n, roles[n].instructions) for n in part],
                stage=stage.name,
                query=request["query"],
                intent=request["intent"],
                facts=facts,
                context=context,
                allowed_next=nxt,
            )

        current = [model]

        def call(part: Sequence[str], messages: Any, budget: int) -> tuple[Any, str]:
            names = "+".join(part)
            merged = len(part) > 1  # its sections asked for under a schema, where served
            schema = (
                team_schema(part, allowed_next if team.sink in part else ()) if merged else None
            )
            sub = self.tracer.agent(span, role=names, stage=stage.name, model=current[0])
            try:
                reply, answered = self.caller.call(
                    visit,
                    current[0],
                    messages,
                    budget,
                    purpose=f"compound:{mode}" if len(part) > 1 else "answer",
                    span=sub,
                    key=f"{visit.key}:{names}",
                    response_format=schema,
                )
                nxt = next_of_sections(reply.text) if merged else None
                if nxt is not None:  # the schema's NEXT, as the reply protocol's line
                    reply = replace(reply, text=f"{reply.text}\nNEXT: {nxt}")
            except RunError as exc:
                RunTracer.fail(sub, str(exc))
                raise
            finally:
                sub.end()
            current[0] = answered
            return reply, answered

        out = run_team(
            team,
            mode,
            stage=stage.name,
            prompts=prompts,
            max_tokens={n: r.max_output_tokens for n, r in roles.items()},
            call=call,
            parse_sections=parse_sections,
            parse_answer=lambda text: parse_reply(text).answer,
        )
        for d in out.fallbacks:
            ctx.record(span, d)
        for n, text in out.sections.items():
            before = self._answer_tokens.get(n)
            now = estimate_tokens(text)
            self._answer_tokens[n] = now if before is None else 0.8 * before + 0.2 * now
        # the gate judges what the mode delivered: a section that failed validation is empty
        delivered = {n: ("" if n in out.invalid else t) for n, t in out.sections.items()}
        view = GroupOutput(
            stage=stage.name,
            group=group,
            mode=mode,
            model=out.model,
            query=request["query"],
            instructions={n: r.instructions for n, r in roles.items()},
            sections=delivered,
            facts=facts,
        )
        quality: float | None
        try:
            quality = min(max(float(self.judge.score(view)), 0.0), 1.0)
        except ModelCallError as exc:
            quality = None
            ctx.record(
                span,
                Decision(
                    kind="compound",
                    stage=stage.name,
                    chosen=mode,
                    reason=f"the group judge failed ({exc}); this run is not observed",
                ),
            )
        if quality is not None:
            switch = self.gate.observe(
                out.model,
                group,
                mode,
                quality,
                stage=stage.name,
                invalid_share=len(out.invalid) / len(team),
            )
            if switch is not None:
                ctx.record(span, switch)
        parsed = ParsedReply(
            answer=out.sections[team.sink],
            next_stage=parse_reply(out.sink_reply).next_stage,
            calls=(),
        )
        fields = {"team": out.sections, "compound_mode": mode, "group_quality": quality}
        return TeamAnswer(parsed, out.replies, out.model, fields)
