"""Budget tiers (BudgetMem): each memory module offered at Low, Mid and High cost.

- working: low = the most recent items; mid and high = BM25 on each item.
- episodic: low = the most recent turns; mid = BM25 on each turn; high = BM25 on each turn
  with two neighbours on each side, scores smoothed over adjacent turns.
- semantic: low = key (title) lookup; mid = BM25; high = BM25 with the query widened by
  the top hits' keys. With an ``embedder``, mid and high fuse BM25 with embedding
  similarity (reciprocal-rank fusion).

With a ``reranker`` (e.g. ``agents.reranker.ModelReranker`` over a pool model), the High
level of episodic and semantic memory lets it reorder the top ``rerank_top`` candidates.
- profile: low = every key fact; mid and high = the facts sharing a word with the query.

Every selection fits the token budget it is given (an item larger than what is left is
skipped, never cut) and reads oldest first.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from memory.item import MemoryItem, check_tier
from memory.retrieval import LexicalIndex
from orchestrator.protocols import Embedder, Reranker

__all__ = ["LEVELS", "Selection", "Selector"]

LEVELS = ("low", "mid", "high")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, kw_only=True, slots=True)
class Selection:
    """The context one module handed over, and what it cost."""

    tier: str
    """``module/level``, e.g. ``episodic/high``."""
    items: tuple[MemoryItem, ...]
    """Chosen items, oldest first."""
    tokens: int
    """Tokens of their lines."""
    considered: int
    """Items the module had."""

    @property
    def lines(self) -> tuple[str, ...]:
        """Context lines, oldest first."""
        return tuple(i.line for i in self.items)


def _pack(
    order: Iterable[int], items: Sequence[MemoryItem], budget: int, neighbours: int = 0
) -> list[int]:
    """Indices taken in ``order`` (each with ``neighbours`` of its group on each side)
    while they fit in ``budget`` tokens."""
    chosen: dict[int, None] = {}
    used = 0
    for i in order:
        near = [i] + [
            j
            for j in range(i - neighbours, i + neighbours + 1)
            if j != i and 0 <= j < len(items) and items[j].group == items[i].group
        ]
        for j in near:
            if j in chosen:
                continue
            cost = items[j].tokens
            if used + cost > budget:
                continue
            chosen[j] = None
            used += cost
    return list(chosen)


def _fuse(*rankings: Sequence[int], k: int = 60) -> list[int]:
    """Reciprocal-rank fusion of several rankings (Cormack et al. 2009)."""
    score: dict[int, float] = {}
    for ranking in rankings:
        for r, i in enumerate(ranking):
            score[i] = score.get(i, 0.0) + 1.0 / (k + r + 1)
    return sorted(score, key=lambda i: (-score[i], i))


class Selector:
    """Runs a module at a level over a scope's items; keeps a few lexical indexes warm."""

    def __init__(
        self,
        cache_size: int = 16,
        *,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
        rerank_top: int = 30,
    ) -> None:
        self._cache: OrderedDict[tuple[object, ...], LexicalIndex] = OrderedDict()
        self._cache_size = cache_size
        self.embedder = embedder
        self.reranker = reranker
        self.rerank_top = rerank_top
        self._vectors: dict[str, list[float]] = {}

    def _dense(self, items: Sequence[MemoryItem], query: str) -> list[int]:
        """Items by cosine similarity of embeddings, best first."""
        assert self.embedder is not None
        missing = [i.text for i in items if i.text not in self._vectors]
        if missing:
            for text, vec in zip(missing, self.embedder.embed(missing), strict=True):
                self._vectors[text] = vec
        q = self.embedder.embed([query])[0]
        qn = sum(x * x for x in q) ** 0.5 or 1.0

        def cos(v: list[float]) -> float:
            return sum(a * b for a, b in zip(q, v, strict=False)) / (
                qn * (sum(x * x for x in v) ** 0.5 or 1.0)
            )

        sims = [cos(self._vectors[i.text]) for i in items]
        return sorted(range(len(items)), key=lambda i: (-sims[i], i))

    def _rerank(self, ranked: list[int], items: Sequence[MemoryItem], query: str) -> list[int]:
        if self.reranker is None or not ranked:
            return ranked
        top = ranked[: self.rerank_top]
        order = self.reranker.rerank(query, [items[i].line for i in top])
        return [top[k] for k in order] + ranked[self.rerank_top :]

    def _index(self, items: Sequence[MemoryItem], window: int, smooth: float = 0.0) -> LexicalIndex:
        key = (window, smooth, len(items), tuple((i.id, i.text) for i in items))
        ix = self._cache.get(key)
        if ix is None:
            ix = LexicalIndex(
                [f"{i.key} {i.text}" for i in items],
                window=window,
                groups=[i.group for i in items],
                smooth=smooth,
            )
            self._cache[key] = ix
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return ix

    def select(
        self, module: str, level: str, items: Sequence[MemoryItem], query: str, budget: int
    ) -> Selection:
        """``module`` at ``level`` over ``items`` (one scope's, oldest first)."""
        check_tier(module)
        if level not in LEVELS:
            raise ValueError(f"unknown budget level {level!r}; levels are {list(LEVELS)}")
        newest_first = range(len(items) - 1, -1, -1)
        if level == "low" and module in ("working", "episodic"):
            chosen = _pack(newest_first, items, budget)
        elif module == "working":
            chosen = _pack([i for i, _ in self._index(items, 0).search(query)], items, budget)
        elif module == "episodic":
            window, smooth = (0, 0.0) if level == "mid" else (2, 0.25)
            ranked = [i for i, _ in self._index(items, window, smooth).search(query)]
            if level == "high":
                ranked = self._rerank(ranked, items, query)
            chosen = _pack(ranked, items, budget)
        elif module == "semantic":
            words = set(_WORD.findall(query.lower()))
            if level == "low":
                keyed = [
                    i
                    for i, it in enumerate(items)
                    if it.key and set(_WORD.findall(it.key.lower())) <= words
                ]
                chosen = _pack(keyed, items, budget)
            else:
                ix = self._index(items, 0)
                ranked = [i for i, _ in ix.search(query)]
                if level == "high" and ranked:  # widen the query with the top hits' keys
                    wider = query + " " + " ".join(items[i].key for i in ranked[:3])
                    ranked = [i for i, _ in ix.search(wider)]
                if self.embedder is not None:
                    ranked = _fuse(ranked, self._dense(items, query))
                if level == "high":
                    ranked = self._rerank(ranked, items, query)
                chosen = _pack(ranked, items, budget)
        else:  # profile: small by construction
            if level == "low":
                chosen = _pack(range(len(items)), items, budget)
            else:
                ranked = [i for i, _ in self._index(items, 0).search(query)]
                chosen = _pack(ranked, items, budget)
        picked = tuple(items[i] for i in sorted(chosen))
        return Selection(
            tier=f"{module}/{level}",
            items=picked,
            tokens=sum(i.tokens for i in picked),
            considered=len(items),
        )
