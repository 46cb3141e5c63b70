"""Narrow interfaces the control plane depends on; backends live in other packages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Protocol, runtime_checkable

from orchestrator.types import Message, ModelReply

__all__ = [
    "CALL_KEY",
    "SKILL_CALL_KEY",
    "Embedder",
    "Judge",
    "ModelAdapter",
    "Reranker",
    "RunEngine",
    "RunOutcome",
]

CALL_KEY: ContextVar[str | None] = ContextVar("orchestrator_call_key", default=None)
"""Idempotency key of the model call in progress: the same for a call and its failover
retries. Adapters that reach an HTTP endpoint send it (header ``Idempotency-Key``)."""

SKILL_CALL_KEY: ContextVar[str | None] = ContextVar("orchestrator_skill_call_key", default=None)
"""Idempotency key of the skill call in progress (run, stage, visit, skill, call number):
the same on every retry of the call, read by a skill with ``skills.idempotency_key()``."""


@runtime_checkable
class ModelAdapter(Protocol):
    """Something that answers chat messages.

    Contract: ``complete`` returns a ModelReply whose token counts and cost are those of
    this one call, or raises ``orchestrator.errors.ModelCallError`` (``ModelUnavailable``
    for an endpoint fault another model could get around: the runtime fails over). It must
    not retry on its own (failover is the runtime's job) and must be safe to call from
    several threads. An adapter whose backend can constrain its decoding sets
    ``structured_output = True`` and accepts ``complete(..., response_format=...)``
    (OpenAI's ``json_object`` / ``json_schema``); merged team calls then ask for their
    sections that way.
    """

    name: str

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 512) -> ModelReply:
        """Answer the conversation in ``messages``."""
        ...


class RunOutcome(Protocol):
    """What a judge sees of a finished run."""

    @property
    def status(self) -> str:
        """``ok``, ``escalated`` or ``failed``."""
        ...

    @property
    def answer(self) -> str:
        """The final answer."""
        ...

    @property
    def outputs(self) -> Sequence[Mapping[str, Any]]:
        """Each stage's output record (text, facts shown, check result)."""
        ...

    @property
    def facts(self) -> dict[str, Any]:
        """Facts produced by skills."""
        ...


@runtime_checkable
class Judge(Protocol):
    """Scores a finished run.

    Contract: ``score`` returns a quality in [0, 1]; it is deterministic for equal input
    unless the judge is itself a model.
    """

    def score(self, outcome: RunOutcome) -> float:
        """Quality of the run's outcome, 0 (useless) to 1 (fully correct)."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors (an embedding model), for semantic memory retrieval.

    Contract: ``embed`` returns one vector per text, all of one length; deterministic for
    equal input; raises ``orchestrator.errors.ModelCallError`` when it cannot.
    """

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors of ``texts``, in order."""
        ...


@runtime_checkable
class Reranker(Protocol):
    """Reorders retrieved passages by relevance to a query (the High memory tier).

    Contract: ``rerank`` returns indices into ``passages``, most relevant first; it may
    leave out passages it judges irrelevant; raises ``ModelCallError`` when it cannot.
    """

    def rerank(self, query: str, passages: Sequence[str]) -> list[int]:
        """Indices of ``passages``, best first."""
        ...


class RunEngine(Protocol):
    """Where durable runs are queued (``orchestrator.durable.Engine``).

    Contract: ``checkpointer`` gives a LangGraph saver on the engine's database;
    ``serve`` makes the process run that runtime's queued runs; ``submit`` queues a run
    and returns a handle whose ``result()`` waits for it.
    """

    def checkpointer(self) -> Any:
        """A checkpointer on the engine's database."""
        ...

    def serve(self, runtime: Any, *, file: str | None = None) -> None:
        """Run this process's runs of ``runtime``'s pipeline on it."""
        ...

    def submit(
        self, pipeline: str, query: str | None, *, run_id: str, scope: str | None = None
    ) -> Any:
        """Queue a run of ``pipeline``; a handle with ``run_id`` and ``result()``."""
        ...
