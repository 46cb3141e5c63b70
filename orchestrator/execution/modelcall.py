"""A stage visit's model calls: each under a ``chat {model}`` span, behind the models'
circuit breakers, failing over to the next best arm of the visit's role on an endpoint
fault.

A failover is recorded as a ``reroute`` decision (which model failed, why, and where the
call went) followed by the new ``assign`` decision; the retried call keeps the visit's
idempotency key, so an endpoint that did answer before failing does not bill twice.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
from opentelemetry.trace import Span

from agents import ModelPool
from orchestrator.definition import SpendCap
from orchestrator.errors import (
    BudgetExhausted,
    ModelCallError,
    ModelUnavailable,
    NoEligibleArm,
    OrchestratorError,
    RunError,
)
from orchestrator.execution.breaker import BreakerBoard
from orchestrator.execution.journal import MISSING
from orchestrator.execution.run import Visit
from orchestrator.protocols import CALL_KEY
from orchestrator.redaction import redact
from orchestrator.routing import Assignment, AssignmentPolicy, Budget, Exclusion
from orchestrator.routing.spendcap import SpendLedger
from orchestrator.tracing import ATTR, RunTracer
from orchestrator.types import Candidate, Decision, ModelReply

__all__ = ["ModelCaller"]


class ModelCaller:
    """Calls the pool's models for stage visits; see the module docstring."""

    def __init__(
        self,
        pool: ModelPool,
        breakers: BreakerBoard,
        policy: AssignmentPolicy,
        tracer: RunTracer,
        *,
        pipeline: str = "",
        cap: SpendCap | None = None,
        ledger: SpendLedger | None = None,
    ) -> None:
        self.pool = pool
        self.breakers = breakers
        self.policy = policy
        self.tracer = tracer
        self.pipeline = pipeline
        self.cap = cap
        """The pipeline's spend cap over every run and worker (None: none)."""
        self.ledger = ledger
        """Where the cap's window spend is reserved and settled."""

    def call(
        self,
        visit: Visit,
        model: str,
        messages: Any,
        max_tokens: int,
        *,
        purpose: str = "answer",
        span: Span | None = None,
        key: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> tuple[ModelReply, str]:
        """One call of ``visit`` to ``model``, under ``span`` (default: the visit's) with
        idempotency key ``key`` (default: the visit's): the reply, and the model that gave
        it (another than asked after a failover). ``response_format`` (OpenAI's) is passed
        to adapters that constrain their decoding (``structured_output``); others get the
        prompt alone.

        On an endpoint fault the model's breaker records it and the call is retried on the
        next best arm of the same role (the role's tool work is done) under the same
        idempotency key. Only the answering call is paid for and credited. With a journal (a
        durable run), a call answered before the run was resumed is not made (nor paid)
        again: its recorded reply is returned."""
        span = visit.span if span is None else span
        key = visit.key if key is None else key
        journal = visit.ctx.journal
        if journal is not None:
            recorded = journal.get(visit.ctx.run_id, f"{key}:{purpose}")
            if recorded is not MISSING:
                return self._replayed(recorded, span, purpose)
        reply, answered = self._call(
            visit, model, messages, max_tokens, purpose, span, key, response_format
        )
        if journal is not None:
            record = {"reply": asdict(reply), "model": answered, "arm": [visit.role, answered]}
            journal.put(visit.ctx.run_id, f"{key}:{purpose}", record)
        return reply, answered

    def _replayed(
        self, recorded: dict[str, Any], span: Span, purpose: str
    ) -> tuple[ModelReply, str]:
        """A reply the run received before it was resumed, traced as such."""
        reply = ModelReply(**recorded["reply"])
        chat = self.tracer.chat(span, model=recorded["model"], purpose=purpose)
        if chat.is_recording():
            chat.set_attributes(
                {
                    ATTR.CALL_REPLAYED: True,
                    ATTR.RESPONSE_MODEL: reply.model,
                    ATTR.INPUT_TOKENS: reply.input_tokens,
                    ATTR.OUTPUT_TOKENS: reply.output_tokens,
                    ATTR.COST: reply.cost_usd,
                }
            )
        chat.end()
        return reply, recorded["model"]

    def _call(
        self,
        visit: Visit,
        model: str,
        messages: Any,
        max_tokens: int,
        purpose: str,
        span: Span,
        key: str,
        response_format: dict[str, Any] | None = None,
    ) -> tuple[ModelReply, str]:
        """The call, failing over as ``call`` says."""
        token = CALL_KEY.set(key)
        failed: dict[str, ModelUnavailable] = {}
        try:
            while True:
                self.breakers.taken(model)
                try:
                    reply = self._paid_chat(
                        visit, model, messages, max_tokens, span, purpose, response_format
                    )
                except ModelUnavailable as exc:
                    if exc.endpoint_fault:
                        state = self.breakers.failure(model, exc.kind, str(exc))
                        why = f"failed ({exc.kind}); its circuit is {state}"
                    else:  # a healthy endpoint that cannot answer this request
                        why = f"cannot answer this request ({exc.kind})"
                    failed[model] = exc
                    nxt = self._failover(visit, failed)
                    visit.ctx.record(
                        span,
                        Decision(
                            kind="reroute",
                            stage=visit.stage.name,
                            chosen=nxt.decision.chosen,
                            reason=(
                                f"model {model!r} {why}; "
                                f"retrying the call on {nxt.model!r} with idempotency key "
                                f"{key}"
                            ),
                            candidates=(
                                Candidate(name=f"{visit.role}@{model}", excluded_by=exc.kind),
                            ),
                        ),
                    )
                    visit.ctx.record(span, nxt.decision)
                    model = nxt.model
                    continue
                self.breakers.success(model)
                if failed and span.is_recording():  # the agent span names who answered
                    span.set_attribute(ATTR.RESPONSE_MODEL, model)
                return reply, model
        finally:
            CALL_KEY.reset(token)

    def _failover(self, visit: Visit, failed: Mapping[str, ModelUnavailable]) -> Assignment:
        """The next best arm of the visit's role, excluding models that failed in it."""
        excluded = dict(visit.excluded)
        for arm in self.policy.candidates(visit.stage.name):
            if arm.name in excluded:
                continue
            if arm.model in failed:
                why = f"failed in this visit ({failed[arm.model].kind})"
                excluded[arm.name] = Exclusion("failover", why)
            elif arm.role != visit.role:
                why = "another role (this role's tool work is done)"
                excluded[arm.name] = Exclusion("failover", why)
        try:
            with self.policy.lock:
                return self.policy.assign(
                    visit.stage.name,
                    np.array(visit.x),
                    intent=visit.ctx.intent.label,
                    excluded=excluded,
                )
        except NoEligibleArm:
            tried = "; ".join(f"{m} ({exc.kind}: {exc})" for m, exc in failed.items())
            raise ModelCallError(
                f"stage {visit.stage.name!r}: every model role {visit.role!r} may use failed "
                f"or is unavailable: {tried}. Check the endpoints, or give the role more "
                "models"
            ) from None

    def _paid_chat(
        self,
        visit: Visit,
        model: str,
        messages: Any,
        max_tokens: int,
        span: Span,
        purpose: str,
        response_format: dict[str, Any] | None = None,
    ) -> ModelReply:
        """``chat``, its expected cost reserved under the pipeline's spend cap first and
        settled to the real cost after (nothing reserved without a cap)."""
        if self.cap is None or self.ledger is None:
            return self.chat(model, messages, max_tokens, span, purpose, response_format)
        profile = self.pool.profile(model)
        chars = sum(len(getattr(m, "content", "") or "") for m in messages)
        expected = Budget.expected_cost(
            profile.input_price or 0.0, profile.output_price or 0.0, chars // 4 + 1, max_tokens
        )
        held = self.ledger.reserve(self.pipeline, self.cap, expected)
        if not held.granted:
            left = self.cap.usd - held.total_usd
            reason = (
                f"spend cap {self.cap} of pipeline {self.pipeline!r} reached: "
                f"${held.total_usd:.6f} spent or reserved in this window, ${max(left, 0):.6f} "
                f"left; a call of {model!r} may cost ${expected:.6f}"
            )
            visit.ctx.record(
                span,
                Decision(
                    kind="budget",
                    stage=visit.stage.name,
                    chosen="",
                    reason=reason,
                    candidates=(Candidate(name=model, score=-expected, excluded_by="spend cap"),),
                ),
            )
            wait = held.window + self.cap.per_s - time.time()
            raise BudgetExhausted(
                f"stage {visit.stage.name!r}: {reason}. The window ends in {wait:.0f} s; "
                "raise the pipeline's spend_cap to spend more"
            )
        cost = 0.0
        try:
            reply = self.chat(model, messages, max_tokens, span, purpose, response_format)
            cost = reply.cost_usd
            return reply
        finally:
            self.ledger.settle(self.pipeline, held, cost)

    def chat(
        self,
        model: str,
        messages: Any,
        max_tokens: int,
        parent: Span,
        purpose: str = "answer",
        response_format: dict[str, Any] | None = None,
    ) -> ModelReply:
        """One model call under a ``chat {model}`` span, no failover."""
        chat = self.tracer.chat(parent, model=model, purpose=purpose)
        failure: RunError | None = None
        adapter = self.pool.adapter(model)
        try:
            if response_format is not None and getattr(adapter, "structured_output", False):
                shaped: Any = adapter  # the optional capability the protocol describes
                reply: ModelReply = shaped.complete(
                    messages, max_tokens=max_tokens, response_format=response_format
                )
            else:
                reply = adapter.complete(messages, max_tokens=max_tokens)
        except OrchestratorError as exc:
            if not isinstance(exc, RunError):
                raise
            failure = _redacted(exc)
        except Exception as exc:  # an adapter outside the contract: still a run failure
            failure = ModelCallError(redact(f"model {model!r} failed: {type(exc).__name__}: {exc}"))
        else:
            if not reply.text.strip():  # an empty answer is a malformed reply, from any backend
                failure = ModelUnavailable(
                    f"model {model!r} returned a malformed response (an empty answer)",
                    kind="malformed",
                )
        if failure is not None:  # raised here: the adapter's own exception is not chained
            RunTracer.fail(chat, str(failure))
            chat.end()
            raise failure
        if chat.is_recording():
            chat.set_attributes(
                {
                    ATTR.PROVIDER: reply.provider,
                    ATTR.RESPONSE_MODEL: reply.model,
                    ATTR.INPUT_TOKENS: reply.input_tokens,
                    ATTR.OUTPUT_TOKENS: reply.output_tokens,
                    ATTR.COST: reply.cost_usd,
                }
            )
        chat.end()
        return reply


def _redacted(exc: RunError) -> RunError:
    """``exc``, or the same kind of error with its text redacted if it held a secret."""
    text = str(exc)
    clean = redact(text)
    if clean == text:
        return exc
    if isinstance(exc, ModelUnavailable):
        return ModelUnavailable(clean, kind=exc.kind, endpoint_fault=exc.endpoint_fault)
    return ModelCallError(clean)
