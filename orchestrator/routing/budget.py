"""Budget accounting: what a call is expected to cost and which arms the budget rules out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.types import Candidate, Decision

__all__ = ["Budget"]

_PROMPT_OVERHEAD_TOKENS = 250  # instructions, protocol and request around the context


class Budget:
    """A spending limit for one run (None = unlimited) and the arms it excludes."""

    def __init__(self, limit_usd: float | None) -> None:
        self.limit_usd = limit_usd

    def left_fraction(self, spent: float) -> float:
        """Share of the budget still unspent (1.0 when unlimited)."""
        if self.limit_usd is None:
            return 1.0
        return max(0.0, 1.0 - spent / self.limit_usd)

    @staticmethod
    def expected_cost(
        input_price: float, output_price: float, context_tokens: int, max_output_tokens: int
    ) -> float:
        """Upper estimate of one call: a full context in, a full answer out."""
        tokens_in = context_tokens + _PROMPT_OVERHEAD_TOKENS
        return (tokens_in * input_price + max_output_tokens * output_price) / 1e6

    def exclusions(
        self, stage: str, spent: float, expected: Mapping[str, float], arms: Sequence[str]
    ) -> tuple[dict[str, str], Decision | None]:
        """Arms whose expected cost exceeds what is left, and the ``budget`` decision if any."""
        if self.limit_usd is None:
            return {}, None
        left = self.limit_usd - spent
        out = {
            a: f"budget: expected ${expected[a]:.6f} > ${max(left, 0):.6f} left"
            for a in arms
            if expected[a] > left
        }
        if not out:
            return {}, None
        decision = Decision(
            kind="budget",
            stage=stage,
            chosen=",".join(a for a in arms if a not in out),
            reason=f"${max(left, 0):.6f} of ${self.limit_usd:.6f} left; {len(out)} arm(s) excluded",
            candidates=tuple(
                Candidate(name=a, score=-expected[a], excluded_by=out.get(a)) for a in arms
            ),
        )
        return out, decision
