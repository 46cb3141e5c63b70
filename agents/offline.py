"""The offline model: a deterministic stand-in that needs no network and no weights.

It follows the reply protocol of ``agents.prompts``: it reads the facts in its prompt and
answers with them, then names the next stage. How often it does so correctly is its
profile's ``quality``: for each distinct prompt a fixed hash decides whether this model
grounds its answer in the facts and respects the allowed next stages, or answers vaguely
and may ask for a stage it is not allowed to reach (as weak models do). Tokens and cost
are counted from the text with the profile's prices, so cost trade-offs are real.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence

from agents.profile import ModelProfile
from agents.prompts import GRADE_PREFIX, GRADING, PromptParts, read_prompt
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
        if messages[0].content == GRADING:
            return self._reply(messages, f"SCORE: {self._grade(user, parts)}")
        hashed = zlib.crc32(f"{self.name}|{user}".encode())
        roll = hashed / 0xFFFFFFFF
        allowed = parts.allowed_next
        if parts.agents:  # a merged call: one section per agent, as a JSON object
            sections = {
                agent: self._answer(parts, zlib.crc32(f"{self.name}|{agent}|{user}".encode()))
                for agent in parts.agents
            }
            text = json.dumps(sections)
            next_stage = allowed[0] if allowed else None
        else:
            text = self._answer(parts, hashed)
            next_stage = allowed[0] if allowed else None
            if roll >= self.profile.quality:
                # A weak answer sometimes skips ahead to "done", as weak models do.
                next_stage = "done" if (roll * 1000) % 2 < 1 else next_stage
        if next_stage:
            text += f"\nNEXT: {next_stage}"
        words = text.split(" ")
        limit = max_tokens * 3
        if len(words) > limit:
            text = " ".join(words[:limit])
        return self._reply(messages, text)

    @staticmethod
    def _grade(user: str, parts: PromptParts) -> int:
        """0-10: the share of answers that state every short fact verbatim."""
        answers = [
            line.partition(": ")[2].lower()
            for line in user.splitlines()
            if line.startswith(GRADE_PREFIX)
        ]
        values = [v.lower() for _, v in parts.facts if len(v) <= 40]
        good = sum(1 for a in answers if a and all(v in a for v in values))
        return round(10 * good / len(answers)) if answers else 0

    def _answer(self, parts: PromptParts, hashed: int) -> str:
        """Grounded in the prompt's facts with probability ``quality``, else vague."""
        request = parts.request.splitlines()[0] if parts.request else ""
        if hashed / 0xFFFFFFFF < self.profile.quality:
            detail = (
                "; ".join(f"{k} is {v}" for k, v in parts.facts) or "no further facts were needed"
            )
            return f'[{parts.stage}] On "{request}" (intent {parts.intent}): {detail}.'
        return f'[{parts.stage}] I looked at "{request}" but could not pin down the details.'

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
