"""Cost-quality frontiers of the routing evaluation, and how two of them compare.

A policy's points (one per cost weight of the sweep) form its Pareto frontier; a
frontier is read as a curve, straight between its points, so that two sampled curves are
compared at every cost level, not only where either was sampled.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

__all__ = ["above", "curve", "dominates", "pareto"]


def pareto(points: Sequence[Sequence[float]]) -> list[list[float]]:
    """Points not beaten by a cheaper-or-equal point of higher quality, by rising cost."""
    out: list[list[float]] = []
    for p in sorted(points, key=lambda p: (p[0], -p[1])):
        if not out or p[1] > out[-1][1]:
            out.append(list(p))
    return out


def curve(front: Sequence[Sequence[float]], cost: float, tol: float = 1e-9) -> float:
    """A frontier read as a curve at ``cost``: straight lines between its points, its best
    quality beyond its dearest point, its cheapest point's quality down to ``tol`` (a
    relative share) below that point's cost, -inf below that."""
    if not front or cost < front[0][0] * (1 - tol):
        return -math.inf
    for (c0, q0, *_), (c1, q1, *_) in itertools.pairwise(front):
        if cost <= c1:
            return q0 if c1 <= c0 else q0 + (q1 - q0) * (max(cost, c0) - c0) / (c1 - c0)
    return float(front[-1][1])


def above(
    ours: Sequence[Sequence[float]], other: Sequence[Sequence[float]], resolution: float = 1e-9
) -> list[float] | None:
    """None if ``ours`` lies on or above ``other`` at every cost level, both read as curves
    (``curve``), else the first [cost, ours' quality, other's quality] where it is below.

    Both curves are straight between their points, so checking at every point of either
    checks every cost. Curves rather than points: a sweep samples a continuous trade-off,
    and two sampled curves that interleave on a rising stretch would otherwise each "beat"
    the other at its own points, whichever lies above. ``resolution`` is what one query
    can change in a mean over the evaluated queries (1 / their number): a quality gap, or
    a relative cost gap, smaller than that is not one the data can show.
    """
    for c in sorted({p[0] for p in (*ours, *other)}):
        mine, theirs = curve(ours, c, resolution), curve(other, c, resolution)
        if mine < theirs - resolution:
            return [c, mine, theirs]
    return None


def dominates(ours: Sequence[Sequence[float]], other: Sequence[Sequence[float]]) -> bool:
    """Whether, at every cost of ``other``'s points, some ours point costing no more is as
    good: the strict reading, at the sweep points only."""
    for c, q, *_ in other:
        best = max((oq for oc, oq, *_ in ours if oc <= c * (1 + 1e-9)), default=-math.inf)
        if best < q - 1e-9:
            return False
    return True
