"""What LangGraph's own per-step work depends on. Run:  python tests/benchmarks/bench_channels.py

A 10-node linear graph whose nodes do nothing but append one record (no model call, no
control plane), counted under valgrind's cachegrind, one process per variant, so that
what is left is LangGraph's own work per step and how it grows with the state's
channels, the way the graph is driven, and how a node names its successor:

- ``invoke``: three channels (query; outputs and cost, appended every step), ``invoke``;
- ``stream``: the same through ``stream(stream_mode="values")`` (the baseline of the rest);
- ``+request`` / ``+facts`` / ``+next``: one more channel, set once or never written;
- ``+trail``: one more channel, appended every step;
- ``+all four``: the four of them (the run state our Runtime had before it was cut to two);
- ``command``: each node names its successor in ``Command(goto=...)``, no edges;
- ``conditional``: a conditional edge per node, reading a ``next`` channel the node writes;
- ``context``: nodes take LangGraph's ``runtime`` argument and the run passes ``context=``;
- ``recursion limit``: the run passes a config with ``recursion_limit``.

Each variant is counted twice, with n runs and with none (its own set-up, subtracted).
Needs valgrind on PATH; about 5 minutes on two cores.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from bench_instructions import cachegrind, count_all, variant_cli

STEPS = 10
RUNS = 40
VARIANTS = {
    "invoke": (),
    "stream": (),
    "+request": ("request",),
    "+facts": ("facts",),
    "+next": ("next",),
    "+trail": ("trail",),
    "+all four": ("request", "facts", "next", "trail"),
    "command": (),
    "conditional": ("next",),
    "context": (),
    "recursion limit": (),
}
"""Variant -> the channels it adds to query, outputs and cost."""


def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {**left, **right} if right else left


@dataclass
class _Context:
    run: str = "r"


def graph(variant: str) -> Any:
    """The variant's compiled graph."""
    from langgraph.graph import END, START, StateGraph
    from langgraph.runtime import Runtime
    from langgraph.types import Command

    fields: dict[str, Any] = {
        "query": str,
        "outputs": Annotated[list[dict[str, Any]], operator.add],
        "cost": Annotated[float, operator.add],
    }
    kinds = {
        "request": dict,
        "facts": Annotated[dict[str, Any], _merge],
        "next": str,
        "trail": Annotated[list[str], operator.add],
    }
    extra = VARIANTS[variant]
    fields.update({k: kinds[k] for k in extra})
    state = TypedDict("State", fields, total=False)  # type: ignore[misc]
    names = [f"s{i}" for i in range(STEPS)]
    after = [*names[1:], END]

    def make(i: int) -> Any:
        def update() -> dict[str, Any]:
            u: dict[str, Any] = {"outputs": [{"stage": names[i], "text": "x"}], "cost": 0.1}
            if "trail" in extra:
                u["trail"] = [names[i]]
            if variant == "conditional":
                u["next"] = after[i]
            return u

        if variant == "command":
            return lambda state: Command(update=update(), goto=after[i])
        if variant == "context":

            def node(state: Any, runtime: Runtime[_Context]) -> dict[str, Any]:
                return update()

            return node
        return lambda state: update()

    g = StateGraph(state, context_schema=_Context if variant == "context" else None)
    for i, n in enumerate(names):
        g.add_node(n, make(i), destinations=(after[i],) if variant == "command" else None)
    g.add_edge(START, names[0])
    for i, n in enumerate(names):
        if variant == "conditional":
            g.add_conditional_edges(n, lambda s: s["next"], [after[i], names[0]])
        elif variant != "command":
            g.add_edge(n, after[i])
    return g.compile()


def child(variant: str, n: int) -> None:
    """The measured program: build the variant's graph, warm up, run it n times."""
    g = graph(variant)
    extra = VARIANTS[variant]
    start: dict[str, Any] = {"query": "q", "outputs": [], "cost": 0.0}
    if "request" in extra:
        start["request"] = {"query": "q"}
    if "facts" in extra:
        start["facts"] = {}
    if "trail" in extra:
        start["trail"] = []
    kw: dict[str, Any] = {"stream_mode": "values"}
    if variant == "context":
        kw["context"] = _Context()
    if variant == "recursion limit":
        kw["config"] = {"recursion_limit": STEPS + 2}
    for _ in range(5 + n):  # 5 warm-up runs
        if variant == "invoke":
            g.invoke(start)
        else:
            for _ in g.stream(start, **kw):
                pass


def measure(variant: str, n: int, out: Path) -> float:
    """Instructions per step of ``variant``: n runs counted, less its own set-up (0 runs)."""
    file = out / f"cachegrind.{variant.replace(' ', '_')}"
    setup = cachegrind(__file__, [variant, "0"], file, cache_sim=False)["Ir"]
    return (cachegrind(__file__, [variant, str(n)], file, cache_sim=False)["Ir"] - setup) / (
        n * STEPS
    )


def main() -> None:
    n = variant_cli(__doc__ or "", RUNS, child)
    if n is None:
        return
    print(f"counting {len(VARIANTS)} variants under cachegrind ({n} runs each) ...")
    step = count_all(measure, list(VARIANTS), n)
    ref = step["stream"]
    for v, per_step in step.items():
        print(f"{v:>16}: {per_step:>11,.0f} instructions per step ({per_step - ref:+,.0f})")


if __name__ == "__main__":
    main()
