"""Working memory: what agents wrote earlier in this run, handed on within a token budget.

Items are plain dicts so that they live in the run's checkpointed state: ``{"stage",
"role", "text", "tokens", "line"}``. ``select_recent`` is the plain recent-k tier;
``select_for_role`` is role-aware (RCR-Router): an item reaches a role only if it comes
from the stage just before (the one this stage depends on) or shares words with the
role's instructions, the stage or the request; the most relevant go first, within the
role's token budget, and the context reads oldest first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from orchestrator.types import estimate_tokens

__all__ = ["ContextSelection", "make_item", "select_for_role", "select_recent"]

TIER = "working/recent"
ROLE_TIER = "working/role-aware"
_WORD = re.compile(r"[a-z0-9]{3,}")
_COMMON = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "that",
        "this",
        "you",
        "your",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "not",
        "but",
        "from",
        "they",
        "them",
        "their",
        "its",
        "our",
        "can",
        "could",
        "would",
        "should",
        "will",
        "what",
        "which",
        "who",
        "when",
        "where",
        "how",
        "any",
        "all",
    ]
)


@lru_cache(maxsize=4096)
def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _COMMON)


@lru_cache(maxsize=4096)
def _profile(text: str) -> tuple[frozenset[str], float]:
    """An item's distinctive words and the weight of one of them, 1 / sqrt(how many)."""
    words = _words(text)
    return words, 1.0 / math.sqrt(len(words) or 1)


def make_item(*, stage: str, role: str, text: str) -> dict[str, Any]:
    """A memory item for an agent's output, with its token count and its context line."""
    return {
        "stage": stage,
        "role": role,
        "text": text,
        "tokens": estimate_tokens(text),
        "line": f"{stage}/{role}: {text}",
    }


class ContextSelection(NamedTuple):
    """The context handed to one role, and what it cost (made at every stage visit, so a
    tuple: the cheapest immutable record to build)."""

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


def select_for_role(
    items: Sequence[Mapping[str, Any]],
    budget_tokens: int,
    *,
    focus: str,
    previous_stage: str | None,
) -> ContextSelection:
    """Items relevant to a role (see the module docstring) within ``budget_tokens``.

    ``focus`` is the role's instructions, the stage and the request; ``previous_stage``
    the stage the run comes from (its outputs always count as relevant).
    """
    want = _words(focus)
    n = len(items)
    last = n - 1
    relevant: list[int] = []
    total = 0
    for k, item in enumerate(items):
        text = item["text"]
        # the stage this one follows is always relevant; others only if they share words
        if text and (
            (k == last and item["stage"] == previous_stage)
            or not want.isdisjoint(_profile(text)[0])
        ):
            relevant.append(k)
            total += item["tokens"]
    if total <= budget_tokens:  # all of it fits: what ranking would choose, unranked
        chosen, used = relevant, total
    else:  # most relevant first (the later of equals), while they fit
        scores = []
        for k in relevant:
            words, weight = _profile(items[k]["text"])
            follows = k == last and items[k]["stage"] == previous_stage
            scores.append((1.0 if follows else 0.0) + len(want & words) * weight)
        ranked = sorted(
            zip(relevant, scores, strict=True), key=lambda ks: -ks[1] - 0.01 * ks[0] / n
        )
        chosen = []
        used = 0
        for k, _ in ranked:
            cost = items[k]["tokens"]
            if used + cost > budget_tokens:
                continue
            chosen.append(k)
            used += cost
        chosen.sort()
    return ContextSelection(tuple([items[k]["line"] for k in chosen]), used, n, ROLE_TIER)
