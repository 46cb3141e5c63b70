"""Values of one run: the run-scoped context handed to every node, the state of one stage
visit that its steps share, and the result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from opentelemetry.trace import Span

from agents import Role
from orchestrator.definition import Stage
from orchestrator.execution.journal import CallJournal
from orchestrator.execution.records import RequestRecord, StageRecord
from orchestrator.routing import Exclusion, FirstVisit, IntentResult
from orchestrator.tools import ToolGraph
from orchestrator.tracing import RunTracer
from orchestrator.types import Decision, ModelReply

__all__ = ["RoleAt", "RunContext", "RunResult", "StageDone", "Visit"]


class StageDone(NamedTuple):
    """A stage visit that finished, as ``Runtime.run(progress=...)`` reports it."""

    stage: str
    """The stage."""
    visit: int
    """Which step of the run it was (1 for the first)."""
    role: str | None
    """The role that worked on it (None for a terminal stage nobody works on)."""
    model: str | None
    """The model that answered (None when no model was called)."""
    cost_usd: float
    """What the visit's model calls cost."""


@dataclass(kw_only=True, slots=True)
class RunContext:
    """Run-scoped control-plane objects, handed to every node by LangGraph."""

    run_id: str
    query: str
    root: Span
    intent: IntentResult
    features: list[float]
    """The run-constant part of the context vector (query and intent)."""
    first_visits: dict[str, FirstVisit] = field(default_factory=dict)
    """Stage -> its first visit, scored in one pass and chosen when the run starts (with no
    budget, the first visits' contexts are known)."""
    decisions: list[Decision] = field(default_factory=list)
    control_calls: int = 0
    """Model calls the control plane made (escalation choices), not agents' answers."""
    journal: CallJournal | None = None
    """Where the run's calls are recorded, so that a resumed run does not make them again
    (None: the runtime has no checkpointer)."""
    traced: bool = field(init=False)
    """Whether the run's root span records (its children do exactly when it does)."""

    def __post_init__(self) -> None:
        self.traced = self.root.is_recording()

    def record(self, span: Span, decision: Decision) -> None:
        """Keep ``decision`` for the result and emit it as an event on ``span``."""
        self.decisions.append(decision)
        if self.traced:
            RunTracer.decision(span, decision)


class RoleAt(NamedTuple):
    """A role working at a stage: what the definition fixes for every such visit."""

    role: Role
    permitted: Sequence[str]
    """Skills the role may call at the stage."""
    tool_graph: ToolGraph | None
    """The stage's tool graph for the role (None: the stage has no goal)."""
    skills: list[str]
    """``name(arg, ...)`` of each permitted skill, for the prompt."""
    allowed_next: Sequence[str]
    """The stages allowed after this one."""


@dataclass(slots=True)
class Visit:
    """One stage visit as it runs: made when its arm is assigned and handed to each step
    (tools, escalation, memory, model calls, the team). Positional fields: one is made at
    every step, and keyword arguments cost more than the rest of its making."""

    stage: Stage
    """The stage visited."""
    role: str
    """The assigned role."""
    at: RoleAt
    """The assigned role, and what it may do at this stage."""
    model: str
    """The assigned model (a model call that fails over answers with another)."""
    x: list[float]
    """The context vector the arm was chosen in."""
    excluded: Mapping[str, Exclusion]
    """Arms a constraint excluded, with the constraint."""
    key: str
    """Idempotency key of the visit's model call (run, stage, visit number)."""
    ctx: RunContext
    """The run's context."""
    span: Span
    """The visit's ``invoke_agent`` span."""
    request: RequestRecord
    """What the run was asked."""
    done: Sequence[StageRecord]
    """The run's visits before this one."""
    facts: dict[str, Any]
    """The facts known: those of the visits before, then what this one's tools produce."""
    control: tuple[ModelReply, ...] = ()
    """Replies of the control plane's model calls in this visit (an escalation's choice)."""
    tool_calls: dict[str, int] | None = None
    """Calls made so far of each skill in this visit (they number the calls' keys)."""

    def arm(self) -> list[str]:
        """The visit's (role, model) as a journal records it."""
        return [self.role, self.model]

    def call_key(self, skill: str) -> str:
        """The key of this visit's next call of ``skill``: run, stage, visit number, skill
        and how many calls of it the visit made before. The same for the same call on every
        retry of the visit: the journal's key, and a side-effecting skill's idempotency key."""
        counts = self.tool_calls
        if counts is None:
            counts = self.tool_calls = {}
        n = counts[skill] = counts.get(skill, 0) + 1
        return f"{self.key}:{skill}#{n}"

    def inputs(self) -> dict[str, Any]:
        """What the run knows, and a skill is called with: the request's query and intent,
        then the facts known."""
        request = self.request
        return {"query": request["query"], "intent": request["intent"], **self.facts}


@dataclass(frozen=True, kw_only=True, slots=True)
class RunResult:
    """Everything a finished (or failed) run produced."""

    run_id: str
    """Identifier of the run; also names its trace."""
    pipeline: str
    """Pipeline name."""
    query: str
    """The request."""
    status: str
    """``ok``, ``failed`` (an error stopped it) or ``escalated`` (ended in a failure stage)."""
    answer: str
    """The final answer text."""
    intent: str
    """Routed intent."""
    confidence: float
    """Intent confidence."""
    trail: tuple[str, ...]
    """Stages visited in order."""
    cost_usd: float
    """Total model spend."""
    input_tokens: int
    """Total prompt tokens."""
    output_tokens: int
    """Total completion tokens."""
    quality: float
    """Judge's score of the outcome."""
    reward: float
    """quality - cost_weight * cost, credited to the policy."""
    decisions: tuple[Decision, ...]
    """Every decision, in order."""
    outputs: tuple[StageRecord, ...]
    """Each stage's answer record: role, model, text and the facts it was shown."""
    facts: dict[str, Any]
    """Facts produced by skills."""
    error: str | None = None
    """Why the run failed, if it did."""
    control_calls: int = 0
    """Model calls the control plane made (escalation choices); agents' calls not counted."""
    llm_calls: int = 0
    """Every model call that answered (agents' and the control plane's; failed-over tries
    and group-judge calls not counted)."""

    def summary(self) -> str:
        """One line: intent, stage path, assignments, tool paths, blocks."""
        path = list(self.trail)
        if self.status == "failed":  # the stage it failed in did not finish: name it
            at = next((d.stage for d in reversed(self.decisions) if d.stage), "")
            if at and (not path or path[-1] != at):
                path.append(f"{at}(failed)")
        parts = [f"intent={self.intent}({self.confidence:.2f})", "->".join(path) or "-"]
        assigns = []
        for d in self.decisions:
            if d.kind != "assign" or d.arm is None:
                continue
            role, model = d.arm
            scored = {c.name: c.score for c in d.candidates if c.score is not None}
            rivals = sorted(((v, k) for k, v in scored.items() if k != d.chosen), reverse=True)
            detail = f"score {scored[d.chosen]:.2f}"
            if rivals:
                detail += f" vs {rivals[0][1]} {rivals[0][0]:.2f}"
            assigns.append(f"{role}={model}({detail})")
        if assigns:
            parts.append("assign: " + " ".join(assigns))
        tools = [
            d.chosen for d in self.decisions if d.kind in ("tool_path", "reroute") and d.chosen
        ]
        if tools:
            parts.append("tools: " + " | ".join(tools))
        modes: dict[str, str] = {}
        for d in self.decisions:  # the mode each team ran in (its first compound decision)
            if d.kind == "compound":
                modes.setdefault(d.stage, d.chosen)
        if modes:
            parts.append("compound: " + " ".join(f"{s}={m}" for s, m in modes.items()))
        blocks = sum(1 for d in self.decisions if d.kind == "guard_block")
        if blocks:
            parts.append(f"blocked: {blocks}")
        escal = sum(1 for d in self.decisions if d.kind == "escalate")
        if escal:
            parts.append(f"escalated: {escal}")
        return "  ".join(parts)
