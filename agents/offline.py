"""The offline model: a deterministic stand-in that needs no network and no weights.

It follows the reply protocol of ``agents.prompts``: it reads the facts in its prompt and
answers with them, then names the next stage. How often it does so correctly is its
profile's ``quality``: for each distinct prompt a fixed hash decides whether this model
grounds its answer in the facts and respects the allowed next stages, or answers vaguely
and may ask for a stage it is not allowed to reach (as weak models do). Tokens and cost
are counted from the text with the profile's prices, so cost trade-offs are real.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from agents.profile import ModelProfile
from agents.prompts import read_prompt
from orchestrator.types import Message, ModelReply, estimate_tokens

__all__ = ["OfflineModel"]


class OfflineModel:
    """Deterministic protocol-following model; see the module docstring."""

    def __init__(self, profile: ModelProfile) -> None:
        self.name = profile.name
        self.profile = profile

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 512) -> ModelReply:
        """Answer from the prompt's facts; deterministic for equal messages."""
        user = messages[-1].content
        parts = read_prompt(user)
        if parts.options:  # an escalation: take the cheapest fallback goal offered
            return self._reply(messages, f"GOAL: {parts.options[0]}")
        roll = zlib.crc32(f"{self.name}|{user}".encode()) / 0xFFFFFFFF
        grounded = roll < self.profile.quality
        request = parts.request.splitlines()[0] if parts.request else ""
        allowed = parts.allowed_next
        if grounded:
            detail = (
                "; ".join(f"{k} is {v}" for k, v in parts.facts) or "no further facts were needed"
            )
            text = f'[{parts.stage}] On "{request}" (intent {parts.intent}): {detail}.'
            next_stage = allowed[0] if allowed else None
        else:
            text = f'[{parts.stage}] I looked at "{request}" but could not pin down the details.'
            # A weak answer sometimes skips ahead to "done", as weak models do.
            next_stage = "done" if (roll * 1000) % 2 < 1 else (allowed[0] if allowed else None)
        if next_stage:
            text += f"\nNEXT: {next_stage}"
        words = text.split(" ")
        limit = max_tokens * 3
        if len(words) > limit:
            text = " ".join(words[:limit])
        return self._reply(messages, text)

    def _reply(self, messages: Sequence[Message], text: str) -> ModelReply:
        in_tokens = sum(estimate_tokens(m.content) for m in messages)
        out_tokens = estimate_tokens(text)
        return ModelReply(
            text=text,
            model=self.name,
            input_tokens=in_tokens,
            output_tokens=out_tokens,
            cost_usd=self.profile.cost(in_tokens, out_tokens),
            provider="offline",
        )
