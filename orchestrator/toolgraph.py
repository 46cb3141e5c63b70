"""The cost-weighted tool graph: tool chains by Dijkstra, rerouted around failed tools.

Nodes are skills. A skill can follow another when it takes
what the other produces and everything else it needs is known by then; it can start a
chain when everything it needs is already known; a chain ends at any skill that produces
the goal. Entering a skill costs its weight
(price + latency in seconds + risk). A failed skill's incoming edges go to infinity and
the path is recomputed from where execution stands, with no model call. Planning is
deterministic: equal costs are broken by skill name.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from orchestrator.errors import ToolGraphError

__all__ = ["Route", "ToolGraph", "ToolNode"]


class ToolNode(Protocol):
    """What the graph needs to know of a skill."""

    @property
    def name(self) -> str: ...
    @property
    def produces(self) -> str: ...
    @property
    def cost(self) -> float: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def risk(self) -> float: ...

    def missing(self, available: Mapping[str, Any]) -> list[str]: ...


class ToolGraph:
    """Static structure of the tools that serve one goal; see the module docstring."""

    def __init__(self, tools: Sequence[ToolNode], *, goal: str) -> None:
        self.goal = goal
        self.tools = {t.name: t for t in tools}
        self.weight = {t.name: t.cost + t.latency_ms / 1000.0 + t.risk for t in tools}
        for name, w in self.weight.items():
            if not w >= 0 or math.isnan(w):
                raise ToolGraphError(f"tool {name!r} has weight {w}; costs must be >= 0")
        # u -> v when v takes what u produces
        self.edges: dict[str, list[str]] = {
            u.name: sorted(v.name for v in tools if v is not u and u.produces in _params(v))
            for u in tools
        }
        self.producers = sorted(t.name for t in tools if t.produces == goal)
        if not self.producers:
            raise ToolGraphError(
                f"no tool produces the goal {goal!r}; tools here produce "
                f"{sorted({t.produces for t in tools})}. Add a skill with produces={goal!r}"
            )

    def route(self) -> Route:
        """A per-run view in which tools can fail without touching the shared graph."""
        return Route(self)


def _params(tool: ToolNode) -> tuple[str, ...]:
    return tuple(getattr(tool, "params", ()))


class Route:
    """Planning state of one stage visit: failed tools and the path from where we stand."""

    def __init__(self, graph: ToolGraph) -> None:
        self.graph = graph
        self.failed: dict[str, str] = {}

    def fail(self, tool: str, why: str) -> None:
        """Set the edges into ``tool`` to infinity for the rest of this run."""
        self.failed[tool] = why

    def edge_weight(self, tool: str) -> float:
        """Cost of entering ``tool``: its weight, or infinity once it failed."""
        return math.inf if tool in self.failed else self.graph.weight[tool]

    def plan(
        self, available: Mapping[str, object], *, done: Iterable[str] = ()
    ) -> tuple[list[str], float] | None:
        """Cheapest chain of not-yet-run tools from the facts ``available`` to the goal.

        A tool can start the chain when every fact it needs is available; tools in ``done``
        already ran and are not planned again. Returns (tools, total cost), or None when no
        finite path exists.
        """
        g = self.graph
        skip = set(done)
        known = set(available)
        dist: dict[str, float] = {}
        prev: dict[str, str | None] = {}
        have: dict[str, set[str]] = {}  # facts known once the best path to a tool has run
        heap: list[tuple[float, str]] = []
        for s in g.tools:
            if s in skip or g.tools[s].missing(available):
                continue
            w = self.edge_weight(s)
            if w < math.inf:
                dist[s], prev[s], have[s] = w, None, known | {g.tools[s].produces}
                heapq.heappush(heap, (w, s))
        goal_set = set(g.producers)
        settled: set[str] = set()
        while heap:
            d, u = heapq.heappop(heap)
            if u in settled:
                continue
            settled.add(u)
            if u in goal_set:
                path = [u]
                while (p := prev[path[-1]]) is not None:
                    path.append(p)
                return path[::-1], d
            for v in g.edges[u]:
                if v in skip or v in settled or g.tools[v].missing(dict.fromkeys(have[u])):
                    continue
                nd = d + self.edge_weight(v)
                if nd < dist.get(v, math.inf):
                    dist[v], prev[v], have[v] = nd, u, have[u] | {g.tools[v].produces}
                    heapq.heappush(heap, (nd, v))
        return None
