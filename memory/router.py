"""Tier routing (MemFlow): the query's intent chooses memory modules and budget levels.

A plan maps an intent to (module, level, share) steps filled in order: each step may use
``share`` of the token budget (what earlier steps left unused carries over). Profile
questions read the key facts and a little targeted retrieval; lookups retrieve with
neighbouring context on part of the budget; deep reasoning gets all of it. A validator
then checks that the evidence supports the query (most of its content words appear in
the context); if not, the router moves every retrieving step one level up with the whole
budget, once. Each choice is a ``memory_tier`` decision.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from memory.item import MemoryItem
from memory.store import MemoryStore
from memory.tiers import LEVELS, Selection, Selector
from orchestrator.types import Candidate, Decision

__all__ = ["DEFAULT_PLAN", "MemoryContext", "MemoryRouter", "support"]

Step = tuple[str, str, float]
Plan = Mapping[str, Sequence[Step]]

DEFAULT_PLAN: Plan = {
    "profile": (("profile", "low", 0.2), ("episodic", "mid", 0.4), ("semantic", "mid", 0.2)),
    "lookup": (("profile", "low", 0.1), ("episodic", "high", 0.6), ("semantic", "mid", 0.2)),
    "reasoning": (("profile", "low", 0.1), ("episodic", "high", 1.0), ("semantic", "high", 1.0)),
    "default": (("profile", "low", 0.1), ("episodic", "high", 0.6), ("semantic", "mid", 0.2)),
}
"""Intent -> steps; ``default`` serves intents the plan does not name."""

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "it",
        "its",
        "they",
        "them",
        "their",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "and",
        "or",
        "but",
        "with",
        "this",
        "that",
        "what",
        "which",
        "who",
        "whom",
        "when",
        "where",
        "why",
        "how",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
    ]
)


def support(query: str, lines: Sequence[str]) -> float:
    """Share of the query's content words found in ``lines`` (0..1; 1 when it has none)."""
    words = {w for w in _WORD.findall(query.lower()) if w not in _STOP and len(w) > 2}
    if not words:
        return 1.0
    text = " ".join(lines).lower()
    return sum(1 for w in words if w in text) / len(words)


@dataclass(frozen=True, kw_only=True, slots=True)
class MemoryContext:
    """What the memory layer hands to one role for one query."""

    selections: tuple[Selection, ...]
    """One per step of the plan that ran."""
    decisions: tuple[Decision, ...]
    """``memory_tier`` decisions: the plan chosen, and an escalation if the validator asked."""

    @property
    def items(self) -> tuple[MemoryItem, ...]:
        """Every chosen item."""
        return tuple(i for s in self.selections for i in s.items)

    @property
    def lines(self) -> tuple[str, ...]:
        """Context lines, module by module."""
        return tuple(line for s in self.selections for line in s.lines)

    @property
    def tokens(self) -> int:
        """Tokens of the whole context."""
        return sum(s.tokens for s in self.selections)


class MemoryRouter:
    """Picks and fills memory tiers for a query; see the module docstring."""

    def __init__(
        self,
        store: MemoryStore,
        plan: Plan = DEFAULT_PLAN,
        *,
        min_support: float = 0.6,
        selector: Selector | None = None,
    ) -> None:
        if "default" not in plan:
            raise ValueError("a memory plan needs a 'default' entry")
        for intent, steps in plan.items():
            for module, level, share in steps:
                if level not in LEVELS or not 0 < share <= 1:
                    raise ValueError(
                        f"plan {intent!r}: step ({module!r}, {level!r}, {share}) needs a level "
                        f"in {list(LEVELS)} and a share in (0, 1]"
                    )
                MemoryItem(tier=module, scope="", id="check", text="")  # validates the module
        self.store = store
        self.plan = plan
        self.min_support = min_support
        self.selector = selector or Selector()

    def _fill(
        self, steps: Sequence[Step], scope: str, query: str, budget: int, skip_group: str | None
    ) -> list[Selection]:
        out = []
        used = 0
        allowed = 0.0
        for module, level, share in steps:
            allowed = min(allowed + share * budget, budget)
            items = self.store.items(module, scope)
            if skip_group is not None:
                items = [i for i in items if i.group != skip_group]
            if not items:
                continue
            sel = self.selector.select(module, level, items, query, int(allowed) - used)
            out.append(sel)
            used += sel.tokens
        return out

    def context(
        self,
        scope: str,
        query: str,
        *,
        intent: str,
        budget_tokens: int,
        validate: bool = True,
        skip_group: str | None = None,
    ) -> MemoryContext:
        """The memory context for ``query`` in ``scope`` within ``budget_tokens``;
        ``skip_group`` leaves out items of that group (e.g. the current run's own)."""
        key = intent if intent in self.plan else "default"
        steps = list(self.plan[key])
        sels = self._fill(steps, scope, query, budget_tokens, skip_group)
        plan_text = ", ".join(f"{m}/{lv}" for m, lv, _ in steps)
        used = sum(s.tokens for s in sels)
        decisions = [
            Decision(
                kind="memory_tier",
                chosen=plan_text,
                reason=(
                    f"intent {intent!r} -> plan {key!r}: {used} of {budget_tokens} tokens from "
                    + (
                        ", ".join(f"{s.tier} {len(s.items)}/{s.considered}" for s in sels)
                        or "no items"
                    )
                ),
                candidates=tuple(Candidate(name=k) for k in self.plan),
            )
        ]
        if validate and sels:
            backing = support(query, [line for s in sels for line in s.lines])
            if backing < self.min_support:
                up = [
                    (m, LEVELS[min(LEVELS.index(lv) + 1, len(LEVELS) - 1)], 1.0)
                    if m != "profile"
                    else (m, lv, sh)
                    for m, lv, sh in steps
                ]
                if up != steps:
                    sels = self._fill(up, scope, query, budget_tokens, skip_group)
                    after = support(query, [line for s in sels for line in s.lines])
                    decisions.append(
                        Decision(
                            kind="memory_tier",
                            chosen=", ".join(f"{m}/{lv}" for m, lv, _ in up),
                            reason=(
                                f"validator: the evidence backed {backing:.0%} of the query's "
                                f"words (< {self.min_support:.0%}); one level up on the whole "
                                f"budget backs {after:.0%}"
                            ),
                        )
                    )
        return MemoryContext(selections=tuple(sels), decisions=tuple(decisions))
