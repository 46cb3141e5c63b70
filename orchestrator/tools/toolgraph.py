"""The cost-weighted tool graph: tool chains by shortest path, rerouted around failed tools.

Nodes are skills. A skill can follow another when it takes what the other produces (or
the pipeline declares the edge, e.g. to run parallel branches one after the other) and
everything else it needs is known by then; it can start a chain when everything it needs
is already known; a chain ends at any skill that produces the goal. A tool whose fact is
already known is not planned again. Entering a skill costs its weight (price + latency in
seconds + risk) plus its health penalty (``health``). A failed skill's incoming edges go
to infinity and the path is recomputed from where execution stands, with no model call.
Planning is deterministic: equal costs are broken by skill name, then by search order.

A search state is a tool together with the facts known once the path to it ran, so the
same tool reached with different facts counts separately (a join that needs both of two
branches is planned right).

The search is A*: each tool's cheapest remaining cost to the goal on the static graph
(ignoring which facts are known) is computed once and is a lower bound of the cost
under any failures or penalties, since those only add weight. A reroute therefore
expands the tools near the new best path, not the whole graph.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from orchestrator.errors import ToolGraphError

__all__ = ["Plan", "Route", "ToolGraph", "ToolNode"]


class Plan(NamedTuple):
    """A planned tool chain toward a goal."""

    tools: list[str]
    """The skills to run, in order."""
    cost: float
    """What entering them costs in all (weights plus health penalties)."""


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
    """Static structure of the tools that serve one goal; see the module docstring.

    ``edges`` adds (from, to) pairs beyond those implied by what skills take and produce.
    Raises ToolGraphError for a negative or NaN weight, an edge naming an unknown skill, a
    cycle of zero cost, or a goal no skill produces.
    """

    def __init__(
        self,
        tools: Sequence[ToolNode],
        *,
        goal: str,
        edges: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.goal = goal
        self.tools = {t.name: t for t in tools}
        self.weight = {t.name: t.cost + t.latency_ms / 1000.0 + t.risk for t in tools}
        for name, w in self.weight.items():
            if not w >= 0 or math.isinf(w):
                raise ToolGraphError(
                    f"tool {name!r} has weight {w}; cost, latency_ms and risk must be finite "
                    "and >= 0"
                )
        self.needs = {t.name: frozenset(t.missing({})) for t in tools}
        """Facts each tool cannot run without."""
        self.produced = {t.name: t.produces for t in tools}
        by_fact: dict[str, list[str]] = {}
        for t in tools:
            for p in _params(t):
                by_fact.setdefault(p, []).append(t.name)
        # u -> v when v takes what u produces, plus the declared edges
        adj = {u.name: {v for v in by_fact.get(u.produces, ()) if v != u.name} for u in tools}
        for u, v in edges:
            for end in (u, v):
                if end not in self.tools:
                    raise ToolGraphError(
                        f"edge {u!r} -> {v!r} names {end!r}, which is not a skill of this "
                        f"graph; its skills are {sorted(self.tools)}"
                    )
            if u != v:
                adj[u].add(v)
        self.edges: dict[str, list[str]] = {u: sorted(vs) for u, vs in adj.items()}
        self.producers = sorted(t.name for t in tools if t.produces == goal)
        if not self.producers:
            raise ToolGraphError(
                f"no tool produces the goal {goal!r}; tools here produce "
                f"{sorted({t.produces for t in tools})}. Add a skill with produces={goal!r}"
            )
        cycle = self._zero_cost_cycle()
        if cycle:
            raise ToolGraphError(
                f"tools {' -> '.join(cycle)} form a cycle of zero cost; give one of them a "
                "cost, latency_ms or risk above 0 so that planning never loops for free"
            )
        self.to_goal = self._costs_to_goal()
        """Cheapest cost from each tool to the goal, after it, on the static graph."""

    def _zero_cost_cycle(self) -> list[str]:
        free = {t for t, w in self.weight.items() if w == 0}
        state: dict[str, int] = {}  # 1 on the stack, 2 done
        for root in sorted(free):
            if root in state:
                continue
            stack: list[tuple[str, Iterable[str]]] = [(root, iter(self.edges[root]))]
            path = [root]
            state[root] = 1
            while stack:
                node, it = stack[-1]
                nxt = next((v for v in it if v in free and state.get(v) != 2), None)
                if nxt is None:
                    stack.pop()
                    path.pop()
                    state[node] = 2
                elif state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                else:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter(self.edges[nxt])))
        return []

    def _costs_to_goal(self) -> dict[str, float]:
        rev: dict[str, list[str]] = {t: [] for t in self.tools}
        for u, vs in self.edges.items():
            for v in vs:
                rev[v].append(u)
        h = dict.fromkeys(self.tools, math.inf)
        heap = [(0.0, t) for t in self.producers]
        for t in self.producers:
            h[t] = 0.0
        while heap:
            d, v = heapq.heappop(heap)
            if d > h[v]:
                continue
            step = d + self.weight[v]
            for u in rev[v]:
                if step < h[u]:
                    h[u] = step
                    heapq.heappush(heap, (step, u))
        return h

    def describe(self, available: Iterable[str] = ("query", "intent")) -> list[str]:
        """The graph as text: each tool's weight, cost to the goal and successors, then
        the path planned from the facts ``available``."""
        lines = [f"goal {self.goal!r}; producers: {', '.join(self.producers)}"]
        width = max(len(t) for t in self.tools)
        for t in sorted(self.tools, key=lambda t: (self.to_goal[t], t)):
            needs = ", ".join(sorted(self.needs[t])) or "-"
            to_goal = self.to_goal[t]
            rest = "unreachable" if to_goal == math.inf else f"{to_goal:.4f}"
            nxt = ", ".join(self.edges[t]) or "-"
            lines.append(
                f"  {t:<{width}}  ({needs}) -> {self.produced[t]:<12} weight "
                f"{self.weight[t]:.4f}  to goal {rest:<11} next: {nxt}"
            )
        plan = self.route().plan(dict.fromkeys(available))
        lines.append(
            "  planned from "
            + ", ".join(available)
            + ": "
            + (f"{' -> '.join(plan.tools)} (cost {plan.cost:.4f})" if plan else "no path")
        )
        return lines

    def route(self, penalties: Mapping[str, float] | None = None) -> Route:
        """A per-run view in which tools can fail without touching the shared graph;
        ``penalties`` (a health snapshot) adds weight to edges into unhealthy tools."""
        return Route(self, penalties)


def _params(tool: ToolNode) -> tuple[str, ...]:
    return tuple(getattr(tool, "params", ()))


class Route:
    """Planning state of one stage visit: failed tools and the path from where we stand."""

    def __init__(self, graph: ToolGraph, penalties: Mapping[str, float] | None = None) -> None:
        self.graph = graph
        self.failed: dict[str, str] = {}
        self.penalties = dict(penalties or {})

    def fail(self, tool: str, why: str) -> None:
        """Set the edges into ``tool`` to infinity for the rest of this run."""
        self.failed[tool] = why

    def edge_weight(self, tool: str) -> float:
        """Cost of entering ``tool``: weight plus penalty, or infinity once it failed."""
        if tool in self.failed:
            return math.inf
        return self.graph.weight[tool] + self.penalties.get(tool, 0.0)

    def plan(self, available: Mapping[str, object], *, done: Iterable[str] = ()) -> Plan | None:
        """Cheapest chain of not-yet-run tools from the facts ``available`` to the goal.

        A tool can start the chain when every fact it needs is available; tools in ``done``
        already ran and are not planned again. None when no finite path exists.
        """
        g = self.graph
        h, needs, produced, weight = g.to_goal, g.needs, g.produced, g.weight
        failed, penalties = self.failed, self.penalties
        skip = set(done)
        known = frozenset(available)
        # A state is a tool and the facts known once the path to it ran: the same tool
        # reached with different facts is a different state (a join needs both branches).
        State = tuple[str, frozenset[str]]
        dist: dict[State, float] = {}
        prev: dict[State, State | None] = {}
        heap: list[tuple[float, float, str, int, State]] = []
        tick = 0  # insertion order breaks exact ties deterministically
        for s in g.tools:
            if s in skip or s in failed or h[s] == math.inf or produced[s] in known:
                continue
            if not needs[s] <= known:
                continue
            w = weight[s] + penalties.get(s, 0.0)
            state = (s, known | {produced[s]})
            dist[state], prev[state] = w, None
            heap.append((w + h[s], w, s, tick, state))
            tick += 1
        heapq.heapify(heap)
        goal_set = set(g.producers)
        settled: set[State] = set()
        while heap:
            _, d, u, _, state = heapq.heappop(heap)
            if state in settled:
                continue
            settled.add(state)
            if u in goal_set:
                path = [u]
                back = prev[state]
                while back is not None:
                    path.append(back[0])
                    back = prev[back]
                return Plan(path[::-1], d)
            have = state[1]
            for v in g.edges[u]:
                if v in skip or v in failed or produced[v] in have or not needs[v] <= have:
                    continue
                if h[v] == math.inf:  # cannot lead to the goal
                    continue
                nxt = (v, have | {produced[v]})
                nd = d + weight[v] + penalties.get(v, 0.0)
                if nd < dist.get(nxt, math.inf):
                    dist[nxt], prev[nxt] = nd, state
                    heapq.heappush(heap, (nd + h[v], nd, v, tick, nxt))
                    tick += 1
        return None
