"""Decision traces through the OpenTelemetry API (never the SDK: the CLI or user sets that).

Spans follow the GenAI semantic conventions: ``invoke_workflow {pipeline}``,
``invoke_agent {role}``, ``chat {model}``, ``execute_tool {tool}``. Every control-plane
decision becomes an ``orchestrator.decision`` event on the span that is already open, not
a span of its own: an SDK span costs several times what a decision does. When the workflow
span is not recording (no SDK configured), no child spans are made at all.
"""

from __future__ import annotations

from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, Status, StatusCode, set_span_in_context

from orchestrator.types import Decision, LazyCandidates

__all__ = ["ATTR", "DECISION_EVENT", "RunTracer", "decision_attributes"]

DECISION_EVENT = "orchestrator.decision"


class ATTR:
    """Attribute names: GenAI semantic conventions plus the runtime's own."""

    OPERATION = "gen_ai.operation.name"
    PROVIDER = "gen_ai.provider.name"
    REQUEST_MODEL = "gen_ai.request.model"
    RESPONSE_MODEL = "gen_ai.response.model"
    INPUT_TOKENS = "gen_ai.usage.input_tokens"
    OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
    AGENT_NAME = "gen_ai.agent.name"
    TOOL_NAME = "gen_ai.tool.name"
    TOOL_CALL_ID = "gen_ai.tool.call.id"
    WORKFLOW_NAME = "gen_ai.workflow.name"
    COST = "orchestrator.cost_usd"
    RUN_ID = "orchestrator.run_id"
    PIPELINE = "orchestrator.pipeline"
    QUERY = "orchestrator.query"
    STAGE = "orchestrator.stage"
    STATUS = "orchestrator.status"
    INTENT = "orchestrator.intent"
    ANSWER = "orchestrator.answer"
    QUALITY = "orchestrator.quality"
    REWARD = "orchestrator.reward"
    TOOL_OUTCOME = "orchestrator.tool.outcome"
    TOOL_REPLAYED = "orchestrator.tool.replayed"
    """True on a tool span whose call the run made before it was resumed (not made again)."""
    CALL_REPLAYED = "orchestrator.call.replayed"
    """True on a chat span whose reply the run received before it was resumed (not paid
    again)."""
    PURPOSE = "orchestrator.call.purpose"
    """``answer`` (an agent's work) or ``escalation`` (a control-plane model call)."""
    CONTROL_CALLS = "orchestrator.control_calls"
    D_KIND = "orchestrator.decision.kind"
    D_CHOSEN = "orchestrator.decision.chosen"
    D_REASON = "orchestrator.decision.reason"
    D_STAGE = "orchestrator.decision.stage"
    D_EXPLORE = "orchestrator.decision.explore"
    D_CANDIDATES = "orchestrator.decision.candidates"
    """JSON list of candidates, each a list in the field order of ``Candidate``:
    name, score, mean, bonus, excluded_by, pheromone (null where it has no value)."""


def decision_attributes(d: Decision) -> dict[str, Any]:
    """Event attributes of a decision; candidates travel as one compact JSON string."""
    attrs: dict[str, Any] = {ATTR.D_KIND: d.kind, ATTR.D_CHOSEN: d.chosen, ATTR.D_REASON: d.reason}
    if d.stage:
        attrs[ATTR.D_STAGE] = d.stage
    if d.explore is not None:
        attrs[ATTR.D_EXPLORE] = d.explore
    if d.candidates:
        # one string attribute: the SDK validates every element of an array attribute,
        # which costs more than encoding the candidates (each as a list of its fields)
        c = d.candidates
        rows = c.rows() if type(c) is LazyCandidates else [tuple(x) for x in c]
        attrs[ATTR.D_CANDIDATES] = orjson.dumps(rows).decode()
    return attrs


class RunTracer:
    """Opens the runtime's spans and records decisions on them."""

    def __init__(self, provider: trace.TracerProvider | None = None) -> None:
        source = provider if provider is not None else trace.get_tracer_provider()
        self._tracer = source.get_tracer("orchestrator")
        # the run-file tracer opens a child straight from its parent (no Context to build)
        self._start_child = getattr(self._tracer, "start_child", None)

    def workflow(self, pipeline: str, *, run_id: str, query: str) -> Span:
        """The root span of one run."""
        return self._tracer.start_span(
            f"invoke_workflow {pipeline}",
            attributes={
                ATTR.OPERATION: "invoke_workflow",
                ATTR.WORKFLOW_NAME: pipeline,
                ATTR.PIPELINE: pipeline,
                ATTR.RUN_ID: run_id,
                ATTR.QUERY: query,
            },
        )

    def child(self, parent: Span, name: str, attributes: dict[str, Any]) -> Span:
        """A span under ``parent``, or the invalid (no-op) span if the parent is not recording."""
        if not parent.is_recording():
            return INVALID_SPAN
        return self._open(parent, name, attributes)

    def _open(self, parent: Span, name: str, attributes: dict[str, Any]) -> Span:
        """A span under ``parent``, which records (the caller checked)."""
        start_child = self._start_child
        if start_child is not None:
            span: Span = start_child(parent, name, attributes)
            return span
        return self._tracer.start_span(
            name, context=set_span_in_context(parent), attributes=attributes
        )

    def agent(self, parent: Span, *, role: str, stage: str, model: str) -> Span:
        """``invoke_agent {role}`` for one stage visit."""
        if not parent.is_recording():  # tracing off: build nothing
            return INVALID_SPAN
        return self._open(
            parent,
            f"invoke_agent {role}",
            {
                ATTR.OPERATION: "invoke_agent",
                ATTR.AGENT_NAME: role,
                ATTR.STAGE: stage,
                ATTR.REQUEST_MODEL: model,
            },
        )

    def chat(self, parent: Span, *, model: str, purpose: str = "answer") -> Span:
        """``chat {model}`` for one model call (``purpose``: answer, or escalation for a
        control-plane call)."""
        if not parent.is_recording():
            return INVALID_SPAN
        return self._open(
            parent,
            f"chat {model}",
            {ATTR.OPERATION: "chat", ATTR.REQUEST_MODEL: model, ATTR.PURPOSE: purpose},
        )

    def tool(self, parent: Span, *, tool: str, call_id: str) -> Span:
        """``execute_tool {tool}`` for one skill call."""
        return self.child(
            parent,
            f"execute_tool {tool}",
            {ATTR.OPERATION: "execute_tool", ATTR.TOOL_NAME: tool, ATTR.TOOL_CALL_ID: call_id},
        )

    @staticmethod
    def decision(span: Span, d: Decision) -> None:
        """Record ``d`` as an ``orchestrator.decision`` event on ``span``."""
        # the run-file span keeps the decision (if it records) and writes its attributes
        # with the file
        add = getattr(span, "add_decision", None)
        if add is not None:
            add(d)
        elif span.is_recording():
            span.add_event(DECISION_EVENT, attributes=decision_attributes(d))

    @staticmethod
    def fail(span: Span, message: str) -> None:
        """Mark ``span`` as failed with ``message``."""
        if span.is_recording():
            span.set_status(Status(StatusCode.ERROR, message))
