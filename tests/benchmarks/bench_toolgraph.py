"""Reroute time on a 10,000-edge tool graph. Run:  python tests/benchmarks/bench_toolgraph.py

The graph: 26 layers of 20 interchangeable tools (every tool of a layer produces that
layer's fact, every tool of the next layer takes it), so 20 x 20 edges between layers,
10,000 in all: 520 tools, random weights. A reroute is what the
runtime does when a tool on the current path fails mid-run: mark it failed and plan again
from the facts known so far, skipping the tools already run. Measured: the median over
many reroutes at random points of random paths, with A* (the costs-to-goal computed when
the graph is built) and, for reference, the same search without them (plain Dijkstra).
"""

from __future__ import annotations

import argparse
import copy
import math
import platform
import random
import statistics
import time
from typing import Any

from orchestrator.tools.toolgraph import ToolGraph

LAYERS, WIDTH = 26, 20


class Tool:
    def __init__(self, name: str, needs: tuple[str, ...], produces: str, cost: float) -> None:
        self.name, self.params, self.produces = name, needs, produces
        self.cost, self.latency_ms, self.risk = cost, 0.0, 0.0

    def missing(self, available: Any) -> list[str]:
        return [p for p in self.params if p not in available]


def build(seed: int) -> ToolGraph:
    rng = random.Random(seed)
    tools = [
        Tool(
            f"t{layer}_{i}",
            (f"f{layer - 1}",) if layer else ("query",),
            f"f{layer}",
            0.1 + rng.random(),
        )
        for layer in range(LAYERS)
        for i in range(WIDTH)
    ]
    return ToolGraph(tools, goal=f"f{LAYERS - 1}")


def blind(g: ToolGraph) -> ToolGraph:
    """The same graph searched without costs-to-goal (every bound 0): plain Dijkstra."""
    b = copy.copy(g)
    b.to_goal = {t: (0.0 if math.isfinite(v) else v) for t, v in g.to_goal.items()}
    return b


def bench(reroutes: int, seed: int = 0) -> dict[str, float]:
    g = build(seed)
    edges = sum(len(v) for v in g.edges.values())
    rng = random.Random(seed + 1)
    timings: dict[str, list[float]] = {"astar": [], "dijkstra": [], "first_plan": []}
    for graph, key in ((g, "astar"), (blind(g), "dijkstra")):
        rng.seed(seed + 1)
        for _ in range(reroutes):
            route = graph.route()
            t = time.perf_counter()
            plan = route.plan({"query": 1})
            if key == "astar":
                timings["first_plan"].append(time.perf_counter() - t)
            assert plan is not None
            path = plan[0]
            k = rng.randrange(len(path))  # the tool that fails mid-run
            done = path[:k]
            facts = {"query": 1, **{f"f{j}": 1 for j in range(k)}}
            route.fail(path[k], "down")
            t = time.perf_counter()
            again = route.plan(facts, done=done)
            timings[key].append(time.perf_counter() - t)
            assert again is not None and path[k] not in again[0]
    out = {k: statistics.median(v) * 1e3 for k, v in timings.items()}
    out["edges"] = edges
    out["tools"] = len(g.tools)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reroutes", type=int, default=2000, help="reroutes to time per variant")
    args = ap.parse_args()
    print(
        f"# {platform.platform()} | {platform.processor() or platform.machine()} | "
        f"Python {platform.python_version()} | {time.strftime('%Y-%m-%d')}"
    )
    r = bench(args.reroutes)
    print(
        f"tool graph: {r['tools']:.0f} tools, {r['edges']:.0f} edges | first plan median "
        f"{r['first_plan']:.3f} ms | reroute median: A* {r['astar']:.3f} ms, plain Dijkstra "
        f"{r['dijkstra']:.3f} ms  [{args.reroutes} reroutes each]"
    )


if __name__ == "__main__":
    main()
