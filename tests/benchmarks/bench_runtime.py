"""Control-plane benchmarks. Run:  python tests/benchmarks/bench_runtime.py [--quick]

1. Cost per pipeline step: a 10-stage linear pipeline through our Runtime vs the same graph
   written by hand in raw LangGraph (same nodes, same offline model calls), with tracing
   off and with JSONL tracing on, without and with a checkpointer. A sample is a block of
   8 back-to-back runs whose time includes applying their learning and writing their trace
   files; the variants' blocks are shuffled every round; medians of per-block time, and
   the ratios also paired by round (ours' block over raw's block of the same round, which
   cancels the machine's drifts between rounds; median and quartiles). Raw
   LangGraph runs twice: through ``invoke`` (as a user runs a graph: the baseline) and
   through ``stream(stream_mode="values")``, the way our Runtime drives its graph, which
   costs LangGraph less per step; ours against the latter is our control plane alone.
2. One assignment decision: intent routing + guards (automaton, budget) + LinUCB over 16
   arms with 32 features, median and p99.
3. `orch --help` wall time in a fresh process, median of several.
"""

from __future__ import annotations

import argparse
import itertools
import operator
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

import numpy as np
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from agents import ModelPool, ModelProfile, Role, build_messages, default_pool, parse_reply
from orchestrator import Intent, Pipeline, Runtime, Stage
from orchestrator.execution.dispatcher import Dispatcher, MoveRequest
from orchestrator.routing import (
    DIM,
    AssignmentPolicy,
    Budget,
    Eligibility,
    FeatureBuilder,
    IntentRouter,
    LinUCB,
)
from orchestrator.tracing.exporters import make_provider

STEPS = 10
BLOCK = 8
"""Runs per timed sample."""
WARMUP_ROUNDS = 4
QUERY = "refund order 123, it arrived broken"
INTENTS = {
    "refund": ["I want my money back", "refund order 123", "the item arrived broken"],
    "tech": ["the app crashes", "I cannot log in", "login fails with an error"],
    "billing": ["I was charged twice", "update my card", "invoice is wrong"],
}


def our_pipeline() -> Pipeline:
    names = [f"s{i}" for i in range(STEPS)]
    stages = [
        Stage(n, roles=[f"r{i}"], next=[names[i + 1]], start=i == 0)
        for i, n in enumerate(names[:-1])
    ]
    stages.append(Stage(names[-1], roles=[f"r{STEPS - 1}"], terminal=True))
    roles = [Role(f"r{i}", f"Do step {i}.", models=["mini", "standard"]) for i in range(STEPS)]
    intents = [Intent(k, v) for k, v in INTENTS.items()]
    return Pipeline("bench", stages=stages, roles=roles, intents=intents, max_steps=STEPS + 2)


class RawState(TypedDict):
    query: str
    outputs: Annotated[list[dict[str, Any]], operator.add]
    cost: Annotated[float, operator.add]


def raw_langgraph(checkpointer: Any = None) -> Any:
    """The same pipeline as a user would write it by hand: fixed role and model per node."""
    model = default_pool().adapter("mini")
    names = [f"s{i}" for i in range(STEPS)]

    def make(i: int) -> Any:
        def node(state: RawState) -> dict[str, Any]:
            nxt = [names[i + 1]] if i + 1 < STEPS else []
            context = [f"{o['stage']}: {o['text']}" for o in state["outputs"][-5:]]
            messages = build_messages(
                role_name=f"r{i}",
                instructions=f"Do step {i}.",
                stage=names[i],
                query=state["query"],
                intent="refund",
                facts={},
                context=context,
                skills=[],
                allowed_next=nxt,
            )
            reply = model.complete(messages, max_tokens=400)
            parsed = parse_reply(reply.text)
            return {"outputs": [{"stage": names[i], "text": parsed.answer}], "cost": reply.cost_usd}

        return node

    g = StateGraph(RawState)
    for i, n in enumerate(names):
        g.add_node(n, make(i))
    g.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        g.add_edge(a, b)
    g.add_edge(names[-1], END)
    return g.compile(checkpointer=checkpointer)


def bench_steps(rounds: int) -> dict[str, Any]:
    """Raw LangGraph and ours (tracing off, JSONL tracing on), each without a checkpointer
    and with LangGraph's InMemorySaver (durable state per step).

    One sample is a block of BLOCK back-to-back runs of one variant; the order of the
    variants is shuffled every round. A block of ours ends by waiting for everything its
    runs left to background threads (learning; trace files if a provider defers them), so it is charged to
    the block that caused it and none to the next variant."""
    tmp = Path(tempfile.mkdtemp())
    provider = make_provider("jsonl", trace_dir=tmp / "traces")
    variants: dict[str, Any] = {
        "raw": lambda: raw_langgraph(),
        "raw_stream": lambda: raw_langgraph(),  # driven by stream(values), as ours is
        "off": lambda: Runtime(our_pipeline()),
        "on": lambda: Runtime(our_pipeline(), tracer_provider=provider),
        "raw_ckpt": lambda: raw_langgraph(InMemorySaver()),
        "off_ckpt": lambda: Runtime(our_pipeline(), checkpointer=InMemorySaver()),
        "on_ckpt": lambda: Runtime(
            our_pipeline(), tracer_provider=provider, checkpointer=InMemorySaver()
        ),
    }
    made = {k: make() for k, make in variants.items()}
    raw_input = {"query": QUERY, "outputs": [], "cost": 0.0}
    counter = iter(range(10**9))

    def block(name: str) -> float:
        target = made[name]
        t = time.perf_counter()
        if name == "raw_stream":
            for _ in range(BLOCK):
                for _ in target.stream(raw_input, stream_mode="values"):
                    pass
        elif name.startswith("raw"):
            for _ in range(BLOCK):
                target.invoke(raw_input, {"configurable": {"thread_id": str(next(counter))}})
        else:
            for _ in range(BLOCK):
                result = target.run(QUERY)
                assert result.status == "ok" and len(result.trail) == STEPS, result.error
            target.flush()  # the block's learning is applied
            if name.startswith("on"):
                provider.force_flush()  # type: ignore[union-attr]  # its trace files written
        return time.perf_counter() - t

    names = list(made)
    for _ in range(WARMUP_ROUNDS):  # warm up caches and the bandit's arrays
        for name in names:
            block(name)
    times: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(0)
    for _ in range(rounds):
        order.shuffle(names)
        for name in names:
            times[name].append(block(name))
    for rt in made.values():
        if isinstance(rt, Runtime):
            rt.close()
    provider.force_flush()  # type: ignore[union-attr]
    traced = 2 * (WARMUP_ROUNDS + rounds) * BLOCK
    assert len(list((tmp / "traces").glob("*.jsonl"))) == traced
    out: dict[str, Any] = {
        f"{k}_us": statistics.median(v) / (BLOCK * STEPS) * 1e6 for k, v in times.items()
    }
    for suffix in ("", "_ckpt"):
        for mode in ("off", "on"):
            out[f"ratio_{mode}{suffix}"] = out[f"{mode}{suffix}_us"] / out[f"raw{suffix}_us"]
            # paired: each round's block of ours against the same round's block of raw
            # (seconds apart, so a change of the machine's speed between rounds cancels)
            paired = [
                o / r for o, r in zip(times[mode + suffix], times["raw" + suffix], strict=True)
            ]
            out[f"paired_{mode}{suffix}"] = statistics.median(paired)
            q = statistics.quantiles(paired, n=4)
            out[f"paired_{mode}{suffix}_iqr"] = (q[0], q[2])
    for mode in ("off", "on"):
        out[f"ratio_{mode}_vs_stream"] = out[f"{mode}_us"] / out["raw_stream_us"]
    return out


def bench_decision(n: int) -> dict[str, float]:
    """intent + guards + LinUCB(16 arms, 32 features), as a stage visit does."""
    router = IntentRouter(INTENTS)
    models = [f"model{m}" for m in range(4)]
    pipeline = Pipeline(
        "decide",
        stages=[
            Stage("a", roles=[f"role{r}" for r in range(4)], next=["b"], start=True),
            Stage("b", terminal=True),
        ],
        roles=[Role(f"role{r}", "Decide.", models=models) for r in range(4)],
    )
    pool = ModelPool(
        ModelProfile(name=m, input_price=0.1 * (1 + i), output_price=0.4 * (1 + i))
        for i, m in enumerate(models)
    )
    budget = Budget(1.0)
    eligibility = Eligibility(pipeline, pool, budget)
    dispatcher = Dispatcher(pipeline.machine)
    pairs = eligibility.arms["a"]
    bandit = LinUCB(DIM, alpha=0.5)
    policy = AssignmentPolicy(bandit, eligibility.arms)
    features = FeatureBuilder(DIM)
    rng = np.random.default_rng(0)
    for _ in range(200):  # a policy that has learned something
        x = rng.random(DIM)
        policy.credit([(pairs[rng.integers(16)].name, x.tolist())], float(rng.random()))
    move: list[MoveRequest] = [("model", "model", "b")]
    samples = []
    parts: dict[str, list[float]] = {
        k: [] for k in ("intent", "features", "budget", "linucb", "dispatch")
    }
    for i in range(n + 200):
        t0 = time.perf_counter()
        intent = router.classify(QUERY)
        t1 = time.perf_counter()
        x = features.build(
            query=QUERY,
            intent=intent.label,
            confidence=intent.confidence,
            stage="a",
            visits=0,
            budget_left=budget.left_fraction(0.5),
        )
        t2 = time.perf_counter()
        excluded, _ = eligibility.exclusions("a", intent.label, spent=0.5, down={})
        t3 = time.perf_counter()
        chosen = policy.assign("a", x, excluded=excluded)
        t4 = time.perf_counter()
        dispatcher.next_stage("a", move)
        t5 = time.perf_counter()
        if i >= 200:
            samples.append(t5 - t0)
            for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                parts[k].append(v)
    assert chosen.role
    samples.sort()
    out = {
        "median_us": statistics.median(samples) * 1e6,
        "p99_us": samples[int(0.99 * len(samples))] * 1e6,
    }
    out.update({f"{k}_us": statistics.median(v) * 1e6 for k, v in parts.items()})
    return out


def bench_cold(n: int) -> dict[str, float]:
    """One stage visit of ours, back to back (warm caches) vs right after a raw LangGraph run."""
    from opentelemetry.trace import INVALID_SPAN

    from orchestrator.execution.records import request_record
    from orchestrator.execution.run import RunContext

    rt = Runtime(our_pipeline(), learn=False)
    raw = raw_langgraph()
    raw_input = {"query": QUERY, "outputs": [], "cost": 0.0}
    intent = rt.router.classify(QUERY)
    base = rt.features.base(query=QUERY, intent=intent.label, confidence=intent.confidence)
    request = request_record(QUERY, intent.label, intent.confidence, None)
    state: dict[str, Any] = {"outputs": [request]}
    stage = rt.pipeline.stages["s3"]

    def visit() -> float:
        ctx = RunContext(run_id="x", query=QUERY, root=INVALID_SPAN, intent=intent, features=base)
        t = time.perf_counter()
        rt.visit(stage, state["outputs"], ctx)
        return time.perf_counter() - t

    warm = [visit() for _ in range(n)]
    cold = []
    for _ in range(n // 10):
        raw.invoke(raw_input)
        cold.append(visit())
    return {"warm_us": statistics.median(warm) * 1e6, "cold_us": statistics.median(cold) * 1e6}


def bench_help(n: int) -> float:
    orch = str(Path(sys.executable).with_name("orch"))
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([orch, "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke test)")
    args = ap.parse_args()
    rounds, decisions, helps = (4, 2000, 3) if args.quick else (60, 20000, 10)
    print(
        f"# {platform.platform()} | {platform.processor() or platform.machine()} | "
        f"Python {platform.python_version()} | {time.strftime('%Y-%m-%d')}"
    )
    s = bench_steps(rounds)
    for suffix, label in (("", "no checkpointer"), ("_ckpt", "InMemorySaver")):
        print(
            f"per step, {label}: raw LangGraph {s['raw' + suffix + '_us']:.0f} us | "
            f"ours, tracing off {s['off' + suffix + '_us']:.0f} us "
            f"({s['ratio_off' + suffix]:.3f}x) | ours, JSONL tracing "
            f"{s['on' + suffix + '_us']:.0f} us ({s['ratio_on' + suffix]:.3f}x)"
            f"  [medians of {rounds} shuffled blocks of {BLOCK} runs of {STEPS} steps]"
        )
        off_q, on_q = s["paired_off" + suffix + "_iqr"], s["paired_on" + suffix + "_iqr"]
        print(
            f"  paired by round (median of {rounds} per-round ratios, quartiles): tracing off "
            f"{s['paired_off' + suffix]:.3f}x ({off_q[0]:.3f}-{off_q[1]:.3f}), JSONL "
            f"{s['paired_on' + suffix]:.3f}x ({on_q[0]:.3f}-{on_q[1]:.3f})"
        )
    print(
        f"  raw LangGraph driven by stream(values), as ours is: {s['raw_stream_us']:.0f} us; "
        f"against it ours {s['ratio_off_vs_stream']:.3f}x tracing off, "
        f"{s['ratio_on_vs_stream']:.3f}x JSONL tracing (our control plane alone)"
    )
    d = bench_decision(decisions)
    print(
        f"assignment decision (intent + guards + LinUCB 16 arms x {DIM} features): "
        f"median {d['median_us']:.1f} us, p99 {d['p99_us']:.1f} us  [{decisions} decisions]"
    )
    parts = ("intent", "features", "budget", "linucb", "dispatch")
    print("  medians of its parts: " + ", ".join(f"{k} {d[k + '_us']:.1f} us" for k in parts))
    c = bench_cold(decisions // 5)
    print(
        f"one stage visit of ours (incl. its model call): {c['warm_us']:.0f} us back to back, "
        f"{c['cold_us']:.0f} us right after a raw LangGraph run (cold caches)"
    )
    print(f"orch --help cold: median {bench_help(helps):.3f} s  [{helps} fresh processes]")


if __name__ == "__main__":
    main()
