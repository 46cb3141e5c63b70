"""A model from the pool as the judge of a team's answers (the compound quality gate)."""

from __future__ import annotations

from typing import Any

from agents.prompts import build_grading, parse_score
from orchestrator.errors import ModelCallError
from orchestrator.protocols import ModelAdapter

__all__ = ["ModelGroupJudge"]


class ModelGroupJudge:
    """Scores a group's answers with ``adapter`` (an LLM judge): one call per group run.

    The judge sees each member's instructions and answer and the stage's facts, and replies
    ``SCORE: <0-10>``; the quality is that score / 10. A reply without a score raises
    ``ModelCallError`` (the run goes on; the gate skips that observation)."""

    def __init__(self, adapter: ModelAdapter, *, max_chars: int = 1200) -> None:
        self.adapter = adapter
        self.max_chars = max_chars

    def score(self, out: Any) -> float:
        """Quality in [0, 1] of ``out`` (a ``GroupOutput``)."""
        messages = build_grading(
            query=out.query,
            facts=out.facts,
            answers=[
                (n, out.instructions.get(n, ""), text[: self.max_chars])
                for n, text in out.sections.items()
            ],
        )
        reply = self.adapter.complete(messages, max_tokens=16)
        value = parse_score(reply.text)
        if value is None:
            raise ModelCallError(
                f"judge {self.adapter.name!r} replied without a SCORE line: {reply.text[:80]!r}"
            )
        return value
