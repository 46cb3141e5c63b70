"""The cost-weighted tool graph: cheapest chains, reroutes, definition-time checks."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.errors import ToolGraphError
from orchestrator.tools.toolgraph import ToolGraph


class T:
    """A minimal tool node for graph tests."""

    def __init__(self, name: str, needs: tuple[str, ...], produces: str, cost: float) -> None:
        self.name, self.params, self.produces = name, needs, produces
        self.cost, self.latency_ms, self.risk = cost, 0.0, 0.0

    def missing(self, available: dict[str, object]) -> list[str]:
        return [p for p in self.params if p not in available]


def test_cheapest_chain_then_reroute_then_escalation() -> None:
    tools = [
        T("extract", ("query",), "id", 1),
        T("db", ("id",), "record", 1),
        T("archive", ("id",), "record", 5),
        T("pay", ("id", "record"), "receipt", 1),
    ]
    g = ToolGraph(tools, goal="receipt")
    route = g.route()
    assert route.plan({"query": 1}) == (["extract", "db", "pay"], 3)
    route.fail("db", "down")
    assert route.edge_weight("db") == math.inf
    assert route.plan({"query": 1, "id": 7}, done=["extract"]) == (["archive", "pay"], 6)
    route.fail("archive", "down")
    assert route.plan({"query": 1, "id": 7}, done=["extract"]) is None
    assert g.route().plan({"query": 1})[0] == ["extract", "db", "pay"]  # failures are per route


def test_no_producer_is_a_definition_error() -> None:
    try:
        ToolGraph([T("a", (), "x", 1)], goal="y")
    except ToolGraphError as exc:
        assert "no tool produces the goal 'y'" in str(exc)
    else:
        raise AssertionError("expected ToolGraphError")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0, 10, allow_nan=False), min_size=6, max_size=6),
    st.sets(st.integers(0, 5), max_size=3),
    st.lists(st.floats(0, 10, allow_nan=False), min_size=6, max_size=6),
)
def test_plan_is_the_cheapest_feasible_layered_path(
    costs: list[float], failed: set[int], penalty: list[float]
) -> None:
    # three layers of two alternatives each: a* -> b* -> c* (goal)
    tools = [
        T(f"{layer}{i}", (("query",) if layer == "a" else (prev,)), layer, costs[k])
        for k, (layer, prev, i) in enumerate(
            (layer, prev, i) for layer, prev in (("a", ""), ("b", "a"), ("c", "b")) for i in (0, 1)
        )
    ]
    g = ToolGraph(tools, goal="c")
    extra = {t.name: penalty[k] for k, t in enumerate(tools) if k % 2}  # health penalties
    route = g.route(extra)
    for k in failed:
        route.fail(tools[k].name, "down")
    alive = [
        [t for t in tools if t.produces == layer and tools.index(t) not in failed]
        for layer in "abc"
    ]
    options = [
        (sum(t.cost + extra.get(t.name, 0.0) for t in combo), [t.name for t in combo])
        for combo in itertools.product(*alive)
    ]
    got = route.plan({"query": "q"})
    if not options:
        assert got is None
    else:
        best = min(options)[0]
        assert got is not None and math.isclose(got[1], best, abs_tol=1e-9)
        assert route.plan({"query": "q"}) == got  # deterministic


def test_bad_tool_graphs_are_refused_naming_the_problem() -> None:
    import pytest

    with pytest.raises(ToolGraphError, match=r"tools a -> b -> a form a cycle of zero cost"):
        ToolGraph(
            [T("a", ("y",), "x", 0), T("b", ("x",), "y", 0), T("c", ("x",), "z", 1)], goal="z"
        )
    # the same cycle is fine once it costs something
    ToolGraph([T("a", ("y",), "x", 0), T("b", ("x",), "y", 0.1), T("c", ("x",), "z", 1)], goal="z")
    with pytest.raises(ToolGraphError, match=r"edge 'a' -> 'nope' names 'nope', which is not a"):
        ToolGraph([T("a", (), "x", 1)], goal="x", edges=[("a", "nope")])
    with pytest.raises(ToolGraphError, match=r"tool 'a' has weight -1.0; cost, latency_ms"):
        ToolGraph([T("a", (), "x", -1)], goal="x")


def test_declared_edges_and_health_penalties_steer_the_plan() -> None:
    tools = [T("a", ("query",), "x", 1), T("b", ("query",), "x", 2), T("c", ("x",), "goal", 1)]
    g = ToolGraph(tools, goal="goal")
    assert g.route().plan({"query": 1}) == (["a", "c"], 2)
    assert g.route({"a": 1.5}).plan({"query": 1}) == (["b", "c"], 3)  # a is unhealthy
    # a declared edge lets "d" follow "a" although d takes nothing "a" produces
    d = T("d", ("query",), "goal", 0.5)
    g2 = ToolGraph([*tools, d], goal="goal", edges=[("a", "d")])
    assert "d" in g2.edges["a"]


def test_reroute_on_a_ten_thousand_edge_graph_matches_plain_dijkstra() -> None:
    """A* with the static costs-to-goal finds the same cost as a search without them."""
    import random

    rng = random.Random(7)
    layers, width = 25, 20
    tools = [
        T(f"t{layer}_{i}", (f"f{layer - 1}",) if layer else ("query",), f"f{layer}", rng.random())
        for layer in range(layers)
        for i in range(width)
    ]
    g = ToolGraph(tools, goal=f"f{layers - 1}")
    assert sum(len(v) for v in g.edges.values()) >= 9_600
    route = g.route()
    blind = g.route()
    blind.graph = _without_heuristic(g)
    path, _ = route.plan({"query": 1}) or ([], 0.0)
    for k in range(5):
        route.fail(path[k * 4], "down")
        blind.fail(path[k * 4], "down")
        facts = {"query": 1, **{f"f{j}": 1 for j in range(k * 4)}}
        got, ref = route.plan(facts, done=path[: k * 4]), blind.plan(facts, done=path[: k * 4])
        assert got is not None and ref is not None
        assert math.isclose(got[1], ref[1], abs_tol=1e-9)
        path = path[: k * 4] + got[0]


def _without_heuristic(g: ToolGraph) -> ToolGraph:
    import copy

    blind = copy.copy(g)
    blind.to_goal = {t: (0.0 if math.isfinite(v) else v) for t, v in g.to_goal.items()}
    return blind
