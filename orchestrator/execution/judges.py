"""The default judges: a finished run's quality, and a team's answers, checked against facts.

``GroundedJudge`` scores a run (its quality becomes the policy's reward); ``SectionJudge``
scores what one group of a team delivered (its quality feeds the compound gate). Both are
programmatic verifiers built on ``grounded``: does the text state the facts it was shown.
A pipeline can pass its own judge of either kind (``Pipeline(judge=...)``,
``Compound(judge=...)``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orchestrator.compound import GroupOutput
from orchestrator.protocols import RunOutcome

__all__ = ["GroundedJudge", "SectionJudge", "grounded"]

BLOCK_PENALTY = 0.1


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9-]+", text.lower()) if len(w) > 4}


def _stated(value: Any, low: str, low_words: set[str]) -> bool | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value).lower() in low
    if isinstance(value, str):
        if len(value) <= 40:
            return value.lower() in low
        words = _words(value)  # long text: most of its distinctive words must be there
        return len(words & low_words) >= 0.5 * len(words) if words else None
    if isinstance(value, list | tuple):
        checks = [_stated(v, low, low_words) for v in value]
        checks = [c for c in checks if c is not None]
        return all(checks) if checks else None
    return None  # records (dicts) are evidence, not claims to repeat


def grounded(text: str, facts: Mapping[str, Any]) -> bool | None:
    """Whether ``text`` states the facts it was shown; None when none can be checked.

    Short strings and numbers must appear verbatim, most distinctive words of long text
    must appear, lists need every element; records (dicts) are not checked.
    """
    if not facts:
        return None
    low = text.lower()
    low_words = _words(text)
    checks = [_stated(v, low, low_words) for v in facts.values()]
    checks = [c for c in checks if c is not None]
    return all(checks) if checks else None


class GroundedJudge:
    """Quality = share of stage outputs that pass their check, minus blocked model requests.

    A stage's check is the recorded quality of a replayed answer, else its own ``check``
    verifier when the pipeline gives one, else whether the answer states the facts the
    stage was shown. A failed run scores 0.
    """

    def score(self, outcome: RunOutcome) -> float:
        """Quality in [0, 1]."""
        if outcome.status != "ok":
            return 0.0
        results = []
        blocks = 0
        for out in outcome.outputs:
            if out.get("kind", "answer") != "answer":
                continue
            recorded = out.get("recorded_quality")
            if recorded is not None:  # a replayed answer's quality is known
                results.append(float(recorded))
                blocks += int(out.get("blocked_requests", 0))
                continue
            check = out.get("check")
            if check is None:
                check = grounded(out.get("text", ""), out.get("facts", {}))
            if check is not None:
                results.append(1.0 if check else 0.0)
            blocks += int(out.get("blocked_requests", 0))
        base = sum(results) / len(results) if results else 1.0
        return max(0.0, base - BLOCK_PENALTY * blocks)


class SectionJudge:
    """The default group judge, a programmatic verifier: the share of members whose answer
    is non-empty and, when the stage has facts, states them (``grounded``)."""

    def score(self, out: GroupOutput) -> float:
        """Quality in [0, 1]."""
        if not out.sections:
            return 0.0
        ok = 0
        for text in out.sections.values():
            if text.strip() and grounded(text, out.facts) is not False:
                ok += 1
        return ok / len(out.sections)
