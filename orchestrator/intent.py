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
from dataclasses import dataclass

from orchestrator.types import Candidate, Decision

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


def tokenize(text: str) -> list[str]:
    """Lower-case content words; numbers become ``<num>``; a light plural/-ing strip."""
    out = []
    for w in _WORD.findall(text.lower()):
        if w in _STOP:
            continue
        if w.isdigit():
            out.append("<num>")
            continue
        if len(w) > 4 and w.endswith("ing"):
            w = w[:-3]
        elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


@dataclass(frozen=True, kw_only=True, slots=True)
class IntentResult:
    """The router's verdict on one query."""

    label: str
    """The winning intent, or ``unknown``."""
    confidence: float
    """Cosine similarity of the best example, 0..1."""
    scores: Mapping[str, float]
    """Every intent's score."""
    decision: Decision
    """The ``intent`` decision to record."""


class IntentRouter:
    """Classifies queries into the pipeline's intents; see the module docstring."""

    def __init__(self, intents: Mapping[str, Sequence[str]], *, min_confidence: float = 0.2):
        self.min_confidence = min_confidence
        docs = [tokenize(e) for examples in intents.values() for e in examples]
        df: Counter[str] = Counter(t for d in docs for t in set(d))
        n = max(len(docs), 1)
        self._idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self._default_idf = math.log(1 + n)
        self._examples: list[tuple[str, dict[str, float]]] = []
        for label, examples in intents.items():
            for e in examples:
                vec = self._vector(tokenize(e))
                if vec:
                    self._examples.append((label, vec))
        self._labels = tuple(intents)

    def _vector(self, tokens: Sequence[str]) -> dict[str, float]:
        tf = Counter(tokens)
        vec = {t: c * self._idf.get(t, self._default_idf) for t, c in tf.items()}
        norm = math.sqrt(sum(v * v for v in vec.values()))
        return {t: v / norm for t, v in vec.items()} if norm else {}

    def classify(self, query: str) -> IntentResult:
        """Score ``query`` against every intent and decide, with a recorded reason."""
        q = self._vector(tokenize(query))
        scores = dict.fromkeys(self._labels, 0.0)
        for label, vec in self._examples:
            s = sum(w * vec.get(t, 0.0) for t, w in q.items())
            if s > scores[label]:
                scores[label] = s
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], self._labels.index(kv[0])))
        best, conf = ranked[0] if ranked else (UNKNOWN_INTENT, 0.0)
        if conf < self.min_confidence:
            label = UNKNOWN_INTENT
            reason = (
                f"best match {best!r} scored {conf:.2f}, below the {self.min_confidence:.2f} "
                "confidence floor"
            )
        else:
            label = best
            margin = conf - (ranked[1][1] if len(ranked) > 1 else 0.0)
            reason = f"closest examples are {best!r} ({conf:.2f}, margin {margin:.2f})"
        decision = Decision(
            kind="intent",
            chosen=label,
            reason=reason,
            candidates=tuple(Candidate(name=k, score=v) for k, v in ranked),
        )
        return IntentResult(label=label, confidence=conf, scores=scores, decision=decision)
