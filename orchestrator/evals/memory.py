"""``orch eval memory``: evidence recall and context tokens of memory tier policies on
LoCoMo-format long conversations.

Each conversation's turns (speaker, text, image caption, session date) become episodic
items of one scope; nothing else in the file is read while building memory (its summaries,
observations and QA are annotations of the benchmark). For every question with gold
evidence, each policy hands a context to the answering role under a token budget (by
default 15% of the conversation's full context); recall is the share of the gold evidence
turns inside that context, tokens its size. Full context (every turn) is the baseline.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memory import LocalStore, MemoryItem, MemoryRouter, Selector
from orchestrator.errors import InputError
from orchestrator.routing.intent import IntentRouter

__all__ = ["Conversation", "MemoryReport", "evaluate_memory", "load_conversations"]

MEMORY_INTENTS = {
    "profile": [
        "what is her name",
        "where does he live",
        "what is his job",
        "how old is she",
        "what are their hobbies",
        "what does she like",
    ],
    "lookup": [
        "when did she go to the meeting",
        "what did he buy last week",
        "where did they travel",
        "who did she meet at the party",
        "how many times did he call",
        "what happened at the event",
    ],
    "reasoning": [
        "would she enjoy hiking",
        "why did he change jobs",
        "what might they do next",
        "is he likely to move",
        "what does this say about her",
        "how would he feel about it",
    ],
}
"""Generic examples of the three MemFlow query kinds (not taken from any dataset)."""

POLICIES = ("recent", "bm25", "bm25+context", "routed")


@dataclass(frozen=True, kw_only=True, slots=True)
class Question:
    text: str
    evidence: tuple[str, ...]
    category: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Conversation:
    """One LoCoMo conversation: its turns as episodic items, and its questions."""

    name: str
    items: tuple[MemoryItem, ...]
    questions: tuple[Question, ...]


def _turns(name: str, data: dict[str, Any]) -> list[MemoryItem]:
    items: list[MemoryItem] = []
    n = 1
    while f"session_{n}_date_time" in data or f"session_{n}" in data:
        date = str(data.get(f"session_{n}_date_time", ""))
        for turn in data.get(f"session_{n}") or []:
            if not isinstance(turn, dict) or "dia_id" not in turn or "text" not in turn:
                raise InputError(
                    f"{name}: session_{n} has a turn without dia_id/text ({str(turn)[:80]}); "
                    "is this a LoCoMo-format file?"
                )
            text = str(turn["text"])
            if turn.get("blip_caption"):
                text += f" [shares a photo: {turn['blip_caption']}]"
            items.append(
                MemoryItem(
                    tier="episodic",
                    scope=name,
                    id=str(turn["dia_id"]),
                    text=text,
                    key=str(turn.get("speaker", "")),
                    time=date,
                    seq=len(items),
                    group=str(n),
                )
            )
        n += 1
    return items


def load_conversations(folder: str | Path) -> list[Conversation]:
    """Every ``*.json`` LoCoMo conversation in ``folder``; InputError naming what is wrong."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"memory data folder {str(root)!r} does not exist")
    files = sorted(root.glob("*.json"))
    if not files:
        raise InputError(
            f"{str(root)!r} holds no *.json conversation files (LoCoMo format: speaker_a, "
            "session_N, session_N_date_time, qa)"
        )
    out = []
    for f in files:
        try:
            data = json.loads(f.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{f}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or "qa" not in data:
            raise InputError(f"{f}: not a LoCoMo conversation (no 'qa' list at the top level)")
        items = _turns(f.stem, data)
        questions = tuple(
            Question(
                text=str(q["question"]),
                evidence=tuple(str(e) for e in q.get("evidence") or ()),
                category=int(q.get("category", 0)),
            )
            for q in data["qa"]
            if q.get("question") and q.get("evidence")
        )
        out.append(Conversation(name=f.stem, items=tuple(items), questions=questions))
    return out


@dataclass(kw_only=True, slots=True)
class MemoryReport:
    """Mean recall and context tokens per question, per policy and for full context."""

    questions: int
    budget_share: float
    full_context: dict[str, float]
    policies: dict[str, dict[str, float]]
    by_category: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape (plus the budget and per-category recall)."""
        return {
            "questions": self.questions,
            "budget_share": self.budget_share,
            "full_context": self.full_context,
            "policies": self.policies,
            "recall_by_category": self.by_category,
        }

    def target(self, policy: str) -> bool:
        """>= 90% of full-context recall at <= 15% of its tokens."""
        p, f = self.policies[policy], self.full_context
        return p["recall"] >= 0.9 * f["recall"] and p["tokens"] <= 0.15 * f["tokens"]


def evaluate_memory(
    conversations: Sequence[Conversation],
    *,
    budget_share: float = 0.15,
    progress: Callable[[str], None] | None = None,
) -> MemoryReport:
    """Run every policy on every question."""
    intents = IntentRouter(MEMORY_INTENTS, min_confidence=0.0)
    selector = Selector()
    recall: dict[str, list[float]] = {p: [] for p in ("full", *POLICIES)}
    tokens: dict[str, list[float]] = {p: [] for p in ("full", *POLICIES)}
    by_cat: dict[str, dict[int, list[float]]] = {p: {} for p in ("full", *POLICIES)}
    for conv in conversations:
        store = LocalStore()
        for item in conv.items:
            store.put(item)
        items = store.items("episodic", conv.name)
        ids = {i.id for i in items}
        full_tokens = sum(i.tokens for i in items)
        budget = int(budget_share * full_tokens)
        router = MemoryRouter(store, selector=selector)
        for q in conv.questions:
            gold = q.evidence

            def score(name: str, chosen: set[str], used: int, q: Question = q) -> None:
                r = sum(e in chosen for e in q.evidence) / len(q.evidence)
                recall[name].append(r)
                tokens[name].append(used)
                by_cat[name].setdefault(q.category, []).append(r)

            score("full", ids, full_tokens)
            for name, (module, level) in (
                ("recent", ("episodic", "low")),
                ("bm25", ("episodic", "mid")),
                ("bm25+context", ("episodic", "high")),
            ):
                sel = selector.select(module, level, items, q.text, budget)
                score(name, {i.id for i in sel.items}, sel.tokens)
            label = intents.classify(q.text).label
            ctx = router.context(conv.name, q.text, intent=label, budget_tokens=budget)
            score("routed", {i.id for i in ctx.items}, ctx.tokens)
            del gold
        if progress:
            progress(
                f"{conv.name}: {len(items)} turns, {full_tokens} tokens, "
                f"{len(conv.questions)} questions, budget {budget} tokens"
            )
    n = len(recall["full"])
    if not n:
        raise InputError("no question with gold evidence in the data; nothing to measure")

    def mean(xs: list[float]) -> float:
        return round(statistics.fmean(xs), 4)

    return MemoryReport(
        questions=n,
        budget_share=budget_share,
        full_context={"recall": mean(recall["full"]), "tokens": mean(tokens["full"])},
        policies={p: {"recall": mean(recall[p]), "tokens": mean(tokens[p])} for p in POLICIES},
        by_category={
            p: {str(c): mean(v) for c, v in sorted(cats.items())} for p, cats in by_cat.items()
        },
    )
