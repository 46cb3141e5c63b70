"""The intent router: a cheap lexical classifier in front of everything else.

Each intent is a set of example utterances. A query is scored against every example by
cosine similarity of idf-weighted word vectors (numbers collapse to one token, so "refund
order 123" matches "refund order 456"); an intent's score is its best example's. Below
``min_confidence`` the intent is ``unknown``, explicitly.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple

from orchestrator.types import Decision, LazyCandidates, LazyText

__all__ = ["UNKNOWN_INTENT", "IntentResult", "IntentRouter", "tokenize"]

UNKNOWN_INTENT = "unknown"
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
        "it",
        "its",
        "is",
        "are",
        "was",
        "be",
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
        "please",
        "can",
        "could",
        "would",
        "will",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
    ]
)


@lru_cache(maxsize=65536)
def _normalise(word: str) -> str:
    if word in _STOP:
        return ""
    if word.isdigit():
        return "<num>"
    if len(word) > 4 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-case content words; numbers become ``<num>``; a light plural/-ing strip."""
    return [t for t in map(_normalise, _WORD.findall(text.lower())) if t]


class IntentResult(NamedTuple):
    """The router's verdict on one query (a NamedTuple: one is made per run, cheaply)."""

    label: str
    """The winning intent, or ``unknown``."""
    confidence: float
    """Cosine similarity of the best example, 0..1."""
    decision: Decision
    """The ``intent`` decision to record; its candidates are every intent, ranked."""


class IntentRouter:
    """Classifies queries into the pipeline's intents; see the module docstring."""

    def __init__(self, intents: Mapping[str, Sequence[str]], *, min_confidence: float = 0.2):
        self.min_confidence = min_confidence
        docs = [tokenize(e) for examples in intents.values() for e in examples]
        df: Counter[str] = Counter(t for d in docs for t in set(d))
        n = max(len(docs), 1)
        self._idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self._default_idf = math.log(1 + n)
        self._labels = tuple(intents)
        # inverted index: token -> [(example number, weight)], for sparse dot products
        self._owner: list[int] = []
        self._index: dict[str, list[tuple[int, float]]] = {}
        for li, examples in enumerate(intents.values()):
            for e in examples:
                vec = self._vector(tokenize(e))
                if not vec:
                    continue
                ex = len(self._owner)
                self._owner.append(li)
                for t, w in vec.items():
                    self._index.setdefault(t, []).append((ex, w))

    def _vector(self, tokens: Sequence[str]) -> dict[str, float]:
        vec: dict[str, float] = {}
        for t in tokens:
            vec[t] = vec.get(t, 0.0) + self._idf.get(t, self._default_idf)
        norm = math.hypot(*vec.values())
        return {t: v / norm for t, v in vec.items()} if norm else {}

    def classify(self, query: str) -> IntentResult:
        """Score ``query`` against every intent and decide, with a recorded reason."""
        idf, default = self._idf, self._default_idf
        weights: dict[str, float] = {}
        for word in _WORD.findall(query.lower()):
            t = _normalise(word)
            if t:
                weights[t] = weights.get(t, 0.0) + idf.get(t, default)
        # dot products with the (unit) example vectors, normalised once at the end
        dots: dict[int, float] = {}
        index = self._index
        for t, w in weights.items():
            for ex, v in index.get(t, ()):
                dots[ex] = dots.get(ex, 0.0) + w * v
        best_of = [0.0] * len(self._labels)
        if dots:
            norm = math.sqrt(sum(w * w for w in weights.values()))
            owner = self._owner
            for ex, s in dots.items():
                li = owner[ex]
                s /= norm
                if s > best_of[li]:
                    best_of[li] = s
        order = sorted(range(len(best_of)), key=best_of.__getitem__, reverse=True)
        labels = [self._labels[i] for i in order]
        ranked = [best_of[i] for i in order]
        best, conf = (labels[0], ranked[0]) if labels else (UNKNOWN_INTENT, 0.0)
        if conf < self.min_confidence:
            label = UNKNOWN_INTENT
            reason: str | LazyText = (
                f"best match {best!r} scored {conf:.2f}, below the {self.min_confidence:.2f} "
                "confidence floor"
            )
        else:
            label = best
            margin = conf - (ranked[1] if len(ranked) > 1 else 0.0)
            reason = LazyText("closest examples are %r (%.2f, margin %.2f)", best, conf, margin)
        decision = Decision(
            kind="intent",
            chosen=label,
            reason=reason,
            candidates=LazyCandidates(labels, ranked),
        )
        return IntentResult(label=label, confidence=conf, decision=decision)
