"""Working memory: what agents wrote earlier in this run, handed on within a token budget.

This is the low-budget tier (recent-k under a token cap). Items are plain dicts so that
they live in the run's checkpointed state: ``{"stage", "role", "text", "tokens"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.types import estimate_tokens

__all__ = ["ContextSelection", "make_item", "select_recent"]

TIER = "working/recent"


def make_item(*, stage: str, role: str, text: str) -> dict[str, Any]:
    """A memory item for an agent's output, with its token count and its context line."""
    return {
        "stage": stage,
        "role": role,
        "text": text,
        "tokens": estimate_tokens(text),
        "line": f"{stage}/{role}: {text}",
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class ContextSelection:
    """The context handed to one role, and what it cost."""

    lines: tuple[str, ...]
    """Context lines, oldest first, each ``stage/role: text``."""
    tokens: int
    """Tokens of the selected items."""
    considered: int
    """How many items were available."""
    tier: str = TIER
    """Which memory tier produced it."""


def select_recent(items: Sequence[Mapping[str, Any]], budget_tokens: int) -> ContextSelection:
    """The most recent items that fit in ``budget_tokens``, returned oldest first.

    An item larger than the whole budget is skipped rather than cut mid-sentence.
    """
    chosen: list[Mapping[str, Any]] = []
    used = 0
    for item in reversed(items):
        if not item["text"]:
            continue
        cost = int(item["tokens"])
        if used + cost > budget_tokens:
            continue
        chosen.append(item)
        used += cost
    chosen.reverse()
    return ContextSelection(
        lines=tuple(i["line"] for i in chosen),
        tokens=used,
        considered=len(items),
    )
