"""Capability matching (HyDRA): a subtask's requirement removes models that fall short.

A requirement maps capability names (reasoning, code, tool_use, knowledge, ...) to minimum
scores in [0, 1]. The requirement of a stage visit is the strictest of its intent's, its
stage's and its role's. A model falls short when any required capability scores below
the minimum in its profile (a capability the profile does not list scores 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["Requirement", "best_for", "combine", "shortfall"]

Requirement = Mapping[str, float]


def combine(*reqs: Requirement) -> dict[str, float]:
    """The strictest of several requirements, capability by capability."""
    out: dict[str, float] = {}
    for req in reqs:
        for cap, level in req.items():
            out[cap] = max(out.get(cap, 0.0), level)
    return out


def shortfall(capabilities: Mapping[str, float], req: Requirement) -> str | None:
    """Where a model with ``capabilities`` falls short of ``req`` (e.g. ``reasoning 0.45 <
    0.70``), or None if it meets it."""
    gaps = [
        f"{cap} {capabilities.get(cap, 0.0):.2f} < {level:.2f}"
        for cap, level in sorted(req.items())
        if capabilities.get(cap, 0.0) < level
    ]
    return ", ".join(gaps) if gaps else None


def best_for(models: Iterable[tuple[str, Mapping[str, float]]], req: Requirement) -> str:
    """The model closest to meeting ``req`` (smallest total shortfall), for error messages."""

    def gap(caps: Mapping[str, float]) -> float:
        return sum(max(0.0, level - caps.get(cap, 0.0)) for cap, level in req.items())

    name, caps = min(models, key=lambda m: gap(m[1]))
    shown = ", ".join(f"{c} {caps.get(c, 0.0):.2f}" for c in sorted(req))
    return f"{name} ({shown})"
