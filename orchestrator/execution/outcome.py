"""The end of a run: its totals, the judge's quality, the reward, and what it credits.

A run ends in status ``ok``, ``escalated`` (its last stage is a failure stage, e.g. a
hand-off to a person) or ``failed`` (an error stopped it). The judge scores the outcome;
the reward is quality minus the cost weight times the spend. A run that did not fail
credits its reward to every arm it used, each in the context it was chosen in (a failed
run has no outcome to learn from). The root span gets the totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from orchestrator.definition import Pipeline
from orchestrator.execution.records import Record, StageRecord, facts_of, trail_of
from orchestrator.execution.run import RunContext, RunResult
from orchestrator.protocols import Judge
from orchestrator.routing.policy import RunCredit, reward
from orchestrator.tracing import ATTR, RunTracer

__all__ = ["settle"]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Outcome:
    """What the judge sees (``protocols.RunOutcome``)."""

    status: str
    answer: str
    outputs: Sequence[StageRecord]
    facts: dict[str, Any]


def settle(
    ctx: RunContext,
    log: Sequence[Record],
    error: str | None,
    *,
    pipeline: Pipeline,
    judge: Judge,
    cost_weight: float,
) -> tuple[RunResult, RunCredit | None]:
    """The result of the run whose records are ``log`` (``error``: why it failed, if it
    did), and its credit (None for a failed run or one with no visit)."""
    records = cast("Sequence[StageRecord]", log[1:])  # the visits
    trail = tuple(trail_of(log))
    cost = 0.0
    tokens_in = tokens_out = calls = 0
    answers: list[StageRecord] = []
    for o in records:  # one pass: a run's end is on every run's path
        cost += o["cost"]
        tokens_in += o["input_tokens"]
        tokens_out += o["output_tokens"]
        calls += o.get("calls", 0)
        if o["kind"] == "answer":
            answers.append(o)
    outputs = tuple(answers)
    last = trail[-1] if trail else ""
    stage = pipeline.stages.get(last)
    status = "failed" if error else ("escalated" if stage and stage.failure else "ok")
    answer = next((o["text"] for o in reversed(outputs) if o.get("text")), "")
    facts = dict(facts_of(log))
    quality = judge.score(_Outcome(status=status, answer=answer, outputs=outputs, facts=facts))
    value = reward(quality, cost, cost_weight)
    credit = None
    if records and status != "failed":
        used = [(o["arm"], o["x"]) for o in records if "arm" in o]
        credit = RunCredit(used, value, ctx.intent.label, quality, ctx.run_id)
    root = ctx.root
    if root.is_recording():
        root.set_attributes(
            {
                ATTR.STATUS: status,
                ATTR.COST: cost,
                ATTR.QUALITY: quality,
                ATTR.REWARD: value,
                ATTR.ANSWER: answer[:2000],
                ATTR.INPUT_TOKENS: tokens_in,
                ATTR.OUTPUT_TOKENS: tokens_out,
                ATTR.CONTROL_CALLS: ctx.control_calls,
            }
        )
        if error:
            RunTracer.fail(root, error)
    result = RunResult(
        run_id=ctx.run_id,
        pipeline=pipeline.name,
        query=ctx.query,
        status=status,
        answer=answer,
        intent=ctx.intent.label,
        confidence=ctx.intent.confidence,
        trail=trail,
        cost_usd=cost,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        quality=quality,
        reward=value,
        decisions=tuple(ctx.decisions),
        control_calls=ctx.control_calls,
        llm_calls=calls,
        outputs=outputs,
        facts=facts,
        error=error,
    )
    return result, credit
