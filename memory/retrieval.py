"""Lexical retrieval: BM25 (the bm25s library) over stemmed words; the only module that
imports bm25s and PyStemmer.

``window`` scores each passage together with up to ``window`` neighbours of the same group
on each side (document expansion): in a conversation a reply such as "yes, last Tuesday"
is found through the question it answers. ``smooth`` then adds ``smooth`` times the
scores of the adjacent passages (``smooth**2`` two away) to each passage's own, so that a
run of relevant passages outranks a lone match. No model, no network.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["LexicalIndex"]

_stemmer_lock = threading.Lock()
_stemmer: Any = None


def _stem() -> Any:
    global _stemmer
    with _stemmer_lock:
        if _stemmer is None:
            import Stemmer

            _stemmer = Stemmer.Stemmer("english")
    return _stemmer


class LexicalIndex:
    """BM25 over ``texts``; ``groups`` (same length) limits the window to a group."""

    def __init__(
        self,
        texts: Sequence[str],
        *,
        window: int = 0,
        groups: Sequence[object] | None = None,
        smooth: float = 0.0,
    ) -> None:
        import bm25s

        self._bm25s = bm25s
        self.size = len(texts)
        self.smooth = smooth
        self._groups = list(groups) if groups is not None else [0] * len(texts)
        g = self._groups
        docs = list(texts)
        if window > 0:
            docs = [
                " ".join(
                    texts[j]
                    for j in range(max(0, i - window), min(len(texts), i + window + 1))
                    if g[j] == g[i]
                )
                for i in range(len(texts))
            ]
        self._retriever = bm25s.BM25()
        if docs:
            self._retriever.index(
                bm25s.tokenize(docs, stopwords="en", stemmer=_stem(), show_progress=False),
                show_progress=False,
            )

    def search(self, query: str, k: int | None = None) -> list[tuple[int, float]]:
        """(index, score) of the best ``k`` passages (all by default), best first; passages
        sharing no word with the query are left out."""
        if not self.size:
            return []
        q = self._bm25s.tokenize([query], stopwords="en", stemmer=_stem(), show_progress=False)
        if not q.ids or not q.ids[0]:
            return []
        base = [0.0] * self.size
        docs, scores = self._retriever.retrieve(q, k=self.size, show_progress=False)
        for d, sc in zip(docs[0].tolist(), scores[0].tolist(), strict=True):
            base[d] = sc
        total = list(base)
        if self.smooth:
            g, lam = self._groups, self.smooth
            for i, sc in enumerate(base):
                if not sc:
                    continue
                for dist, weight in ((1, lam), (2, lam * lam)):
                    for j in (i - dist, i + dist):
                        if 0 <= j < self.size and g[j] == g[i]:
                            total[j] += weight * sc
        ranked = sorted((i for i in range(self.size) if total[i] > 0), key=lambda i: (-total[i], i))
        return [(i, total[i]) for i in ranked[: k or self.size]]
