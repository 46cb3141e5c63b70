"""Where ours' extra instructions per step go. Run:  python tests/benchmarks/bench_parts.py

The same pipelines as bench_runtime.py (tracing off, no checkpointer), counted under
valgrind's cachegrind without cache simulation, one process per variant:

- ``base``: set-up and warm-up only (subtracted from every other count);
- ``raw`` / ``ours``: N runs of raw LangGraph / of our Runtime;
- ``learning``: the policy update of one block of runs (``AssignmentPolicy.credit_runs``
  over the credits of ``BLOCK`` recorded runs, what the learner thread applies), N / BLOCK
  times;
- ``setup``, ``intent``, ``scoring``, ``choosing``, ``vectors``: a run's set-up
  (``Runtime._context``) N times, and its parts in isolation: classifying the query,
  scoring every stage's first visit, choosing them, building their context vectors;
- ``memory``: the role-aware memory selection of one run's ten visits, N times.

Each part is divided by the run's ten steps. What no variant isolates (a stage visit's
own bookkeeping, its decisions, the model-call wrapper, the run's end) is the remainder.
Needs valgrind on PATH; about 5 minutes on two cores.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench_instructions import cachegrind, count_all, variant_cli

STEPS = 10
RUNS = 48
VARIANTS = (
    "base",
    "raw",
    "ours",
    "learning",
    "setup",
    "intent",
    "scoring",
    "choosing",
    "vectors",
    "memory",
)


def child(variant: str, n: int) -> None:
    """The measured program: build both sides, warm up, then run ``variant`` n times."""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_runtime as bench

    import orchestrator.execution.rolememory as rolememory
    import orchestrator.execution.runtime as engine
    from orchestrator import Runtime

    engine.LEARN_LINGER_S = 1e6  # batches of BLOCK runs, as timed (see bench_instructions)
    seen: list[tuple[object, ...]] = []
    select = rolememory.select_for_role
    credits: list[object] = []

    def spy(items: Any, budget: Any, **kw: Any) -> Any:
        seen.append((list(items), budget, kw))
        return select(items, budget, **kw)

    rolememory.select_for_role = spy  # type: ignore[assignment]
    raw = bench.raw_langgraph()
    ours = Runtime(bench.our_pipeline())
    add = ours._credits.add

    def spy_add(credit: Any) -> None:
        credits.append(credit)
        add(credit)

    ours._credits.add = spy_add  # type: ignore[method-assign, assignment]
    raw_input = {"query": bench.QUERY, "outputs": [], "cost": 0.0}
    for i in range(2 * bench.BLOCK):
        raw.invoke(raw_input)
        ours.run(bench.QUERY)
        if i % bench.BLOCK == bench.BLOCK - 1:
            ours.flush()
    rolememory.select_for_role = select
    visits = seen[-STEPS:]  # one run's selections
    block = credits[-bench.BLOCK :]  # one block's runs' credits
    q = bench.QUERY
    intent = ours.router.classify(q)
    base = ours.features.base(query=q, intent=intent.label, confidence=intent.confidence)
    stages = ours._worked_stages
    c, hot = ours.features.first_visits(base, stages)
    scored = ours.policy.score_stages(stages, c, hot, intent.label)
    for i in range(0 if variant == "base" else n):
        if variant == "raw":
            raw.invoke(raw_input)
        elif variant == "ours":
            ours.run(q)
            if i % bench.BLOCK == bench.BLOCK - 1:
                ours.flush()
        elif variant == "learning":
            if i % bench.BLOCK == 0:
                ours.policy.credit_runs(block)  # type: ignore[arg-type]
        elif variant == "setup":
            ours._context("run", q, trace_id="run")
        elif variant == "intent":
            ours.router.classify(q)
        elif variant == "scoring":
            c, hot = ours.features.first_visits(base, stages)
            ours.policy.score_stages(stages, c, hot, intent.label)
        elif variant == "choosing":
            for stage, arms in scored.items():
                excluded = ours.eligibility.capability(stage, intent.label)
                ours.policy.assign(stage, None, intent=intent.label, excluded=excluded, scored=arms)
        elif variant == "vectors":
            for stage in stages:
                ours.features.stage_list(base, stage=stage)
        elif variant == "memory":
            for items, budget, kw in visits:
                select(items, budget, **kw)  # type: ignore[arg-type]
    ours.close()


def measure(variant: str, n: int, out: Path) -> int:
    file = out / f"cachegrind.{variant}"
    return cachegrind(__file__, [variant, str(n)], file, cache_sim=False)["Ir"]


def main() -> None:
    n = variant_cli(__doc__ or "", RUNS, child)
    if n is None:
        return
    print(f"counting {len(VARIANTS)} variants under cachegrind ({n} runs each) ...")
    count = count_all(measure, VARIANTS, n)

    def step(variant: str) -> float:  # instructions per step of the variant's loop
        return (count[variant] - count["base"]) / (n * STEPS)

    raw, ours = step("raw"), step("ours")
    extra = ours - raw
    parts = {
        "run set-up (Runtime._context)": step("setup"),
        "role-aware memory selection": step("memory"),
        "learning (batched credit, per run)": step("learning"),
    }
    parts["the rest (visit bookkeeping, decisions, model-call wrapper, run's end)"] = extra - sum(
        parts.values()
    )
    print(f"raw LangGraph: {raw:,.0f} instructions per step")
    print(f"ours, tracing off: {ours:,.0f} ({ours / raw:.3f}x); extra {extra:,.0f} per step:")
    for name, v in parts.items():
        print(f"  {name}: {v:,.0f} ({v / extra:.0%})")
    print(
        "  set-up's parts: "
        + ", ".join(f"{v} {step(v):,.0f}" for v in ("intent", "scoring", "choosing", "vectors"))
    )


if __name__ == "__main__":
    main()
