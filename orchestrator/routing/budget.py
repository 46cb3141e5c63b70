"""Budget accounting: a run's spending limit, and what one call is expected to cost.

Which arms a budget rules out at a visit is part of the eligibility step
(``eligibility.py``).
"""

from __future__ import annotations

__all__ = ["Budget"]

_PROMPT_OVERHEAD_TOKENS = 250  # instructions, protocol and request around the context


class Budget:
    """A spending limit for one run (None = unlimited)."""

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
