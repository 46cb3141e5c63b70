"""Context features for assignment: query, intent, stage and budget state as a fixed vector.

The layout (32 dimensions by default) is stable so that learned state stays valid:
0 bias, 1 intent confidence, 2 query length, 3 budget left, 4 stage visit count,
5 query has digits, 6 query is a question, 7 intent is unknown, then three hashed one-hot
blocks of equal width for intent, stage and query words.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ["DIM", "FeatureBuilder"]

DIM = 32
_DIGIT = re.compile(r"\d")
_FIXED = 8


def _bucket(token: str, width: int) -> int:
    return zlib.crc32(token.encode()) % width


class FeatureBuilder:
    """Builds the context vector x for one assignment decision."""

    def __init__(self, dim: int = DIM) -> None:
        if dim < _FIXED + 3 or (dim - _FIXED) % 3:
            raise ValueError(f"feature dim must be {_FIXED} + a multiple of 3, got {dim}")
        self.dim = dim
        self._w = (dim - _FIXED) // 3
        self._slots: tuple[dict[str, int], ...] = ({}, {}, {})  # per block: token -> index

    def base(self, *, query: str, intent: str, confidence: float) -> list[float]:
        """The part of x that stays fixed for a whole run (query and intent)."""
        words = query.lower().split()
        x = [0.0] * self.dim
        x[0] = 1.0
        x[1] = confidence
        n = len(words)
        x[2] = min(math.log1p(n) / 5.0, 1.0)
        x[5] = 1.0 if _DIGIT.search(query) else 0.0
        x[6] = 1.0 if "?" in query else 0.0
        x[7] = 1.0 if intent == "unknown" else 0.0
        x[self._slot(intent, 0)] = 1.0
        if n:
            share = 1.0 / n
            slots = self._slots[2]
            for word in words:
                i = slots.get(word)
                x[self._slot(word, 2) if i is None else i] += share
        return x

    def _slot(self, token: str, block: int) -> int:
        """Index in x of ``token`` in one-hot block ``block`` (0 intent, 1 stage, 2 words)."""
        slots = self._slots[block]
        i = slots.get(token)
        if i is None:
            if len(slots) >= 65536:  # bounded: free text has no end of words
                slots.clear()
            i = slots[token] = _FIXED + block * self._w + _bucket(token, self._w)
        return i

    def stage_list(
        self, base: list[float], *, stage: str, visits: int = 0, budget_left: float = 1.0
    ) -> list[float]:
        """x for one stage visit, as a list: the run's ``base`` plus stage, visits, budget."""
        x = base.copy()
        x[3] = min(max(budget_left, 0.0), 1.0)
        x[4] = min(visits / 4.0, 1.0)
        x[self._slot(stage, 1)] = 1.0
        return x

    def first_visits(
        self, base: list[float], stages: Sequence[str]
    ) -> tuple[np.ndarray, list[int]]:
        """The contexts of the stages' first visits with the whole budget left, as a
        shared part ``c`` and one feature per stage: stage ``stages[j]``'s x is ``c`` with
        feature ``hot[j]`` set to 1 (``c`` is 0 there), the vector ``stage_list`` builds."""
        c = base.copy()
        c[3] = 1.0
        c[4] = 0.0
        return np.array(c), [self._slot(s, 1) for s in stages]

    def for_stage(
        self, base: list[float], *, stage: str, visits: int = 0, budget_left: float = 1.0
    ) -> np.ndarray:
        """x for one stage visit, as an array."""
        return np.array(self.stage_list(base, stage=stage, visits=visits, budget_left=budget_left))

    def build(
        self,
        *,
        query: str,
        intent: str,
        confidence: float,
        stage: str,
        visits: int = 0,
        budget_left: float = 1.0,
    ) -> np.ndarray:
        """The whole feature vector in one call; every entry lies in [0, 1]."""
        base = self.base(query=query, intent=intent, confidence=confidence)
        return self.for_stage(base, stage=stage, visits=visits, budget_left=budget_left)
