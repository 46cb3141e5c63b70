"""``orch eval compound``: LLM calls, tokens and quality of a team pipeline three ways.

For each pipeline file (one whose start stage has a team and which defines
``langgraph_baseline(chat)`` and ``QUERIES``), the same queries run on the same model:

- ``langgraph``: the file's hand-written LangGraph implementation (one call per agent,
  every agent shown the shared transcript);
- ``fine``: our runtime, one call per agent with topology-aware, cache-aligned prompts;
- ``compound``: our runtime with the quality gate deciding the mode (after a warm-up pass
  that lets the gate leave its initial fine runs; the modes taken are reported).

Quality of all three is the same programmatic verifier (``SectionJudge``: the share of
agents whose answer states the facts). With the offline pool it measures mechanics, not
real quality. The gate scenario then runs the largest pipeline with a scripted judge whose
quality drops once merged calls hold more than a size limit, and counts the runs the gate
takes to revert to a mode under the limit.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents import ModelPool, default_pool
from orchestrator.compound import Compound, GroupOutput, Team, chunks
from orchestrator.definition import Pipeline
from orchestrator.definition.loader import load_pipeline
from orchestrator.errors import InputError, ModelCallError
from orchestrator.execution import Runtime
from orchestrator.execution.judges import SectionJudge
from orchestrator.types import Message

__all__ = ["CompoundReport", "SizeLimitJudge", "evaluate_compound", "load_example"]

DEFAULT_FILES = ("examples/due_diligence.py", "examples/market_intel.py")


@dataclass(frozen=True, kw_only=True)
class Example:
    """A team pipeline with its queries and its hand-written LangGraph baseline."""

    path: Path
    pipeline: Pipeline
    stage: str
    team: Team
    queries: Sequence[str]
    baseline: Callable[[Any], Any]


def load_example(path: str | Path) -> Example:
    """Load a pipeline file for the compound evaluation; says what is missing if anything."""
    pipeline, module = load_pipeline(path)
    teams = [s for s in pipeline.stages.values() if s.team is not None]
    if not teams:
        raise InputError(f"{path}: pipeline {pipeline.name!r} has no stage with a team=[...]")
    baseline = getattr(module, "langgraph_baseline", None)
    if not callable(baseline):
        raise InputError(
            f"{path} defines no langgraph_baseline(chat); the evaluation compares against the "
            "pipeline hand-written in LangGraph (see examples/due_diligence.py)"
        )
    queries = list(getattr(module, "QUERIES", None) or [pipeline.sample()])
    assert teams[0].team is not None
    return Example(
        path=Path(path),
        pipeline=pipeline,
        stage=teams[0].name,
        team=teams[0].team,
        queries=queries,
        baseline=baseline,
    )


class SizeLimitJudge:
    """A scripted group judge: quality ``high`` while every call of the mode holds at most
    ``limit`` agents, ``low`` once one holds more (merged prompts too big for the model)."""

    def __init__(self, team: Team, *, limit: int, high: float = 0.92, low: float = 0.6) -> None:
        self.team = team
        self.limit = limit
        self.high = high
        self.low = low

    def score(self, out: GroupOutput) -> float:
        """Quality of ``out`` from its mode's largest call."""
        size = max(len(part) for part in chunks(self.team, out.mode))
        return self.high if size <= self.limit else self.low


@dataclass
class _Tally:
    calls: list[int] = field(default_factory=list)
    tokens_in: list[int] = field(default_factory=list)
    tokens_out: list[int] = field(default_factory=list)
    quality: list[float] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "llm_calls": round(statistics.fmean(self.calls)),
            "input_tokens": round(statistics.fmean(self.tokens_in)),
            "output_tokens": round(statistics.fmean(self.tokens_out)),
            "quality": round(statistics.fmean(self.quality), 4),
            "runs": len(self.calls),
        }
        if self.modes:
            out["modes"] = {m: self.modes.count(m) for m in dict.fromkeys(self.modes)}
        return out


def _langgraph(ex: Example, pool: ModelPool, model: str, queries: Sequence[str]) -> _Tally:
    adapter = pool.adapter(model)
    tally = _Tally()
    judge = SectionJudge()
    for query in queries:
        replies: list[Any] = []

        def chat(system: str, user: str, max_tokens: int, replies: list[Any] = replies) -> Any:
            reply = adapter.complete(
                [Message(role="system", content=system), Message(role="user", content=user)],
                max_tokens=max_tokens,
            )
            replies.append(reply)
            return reply

        try:
            final = ex.baseline(chat).invoke({"query": query, "facts": {}, "transcript": []})
        except ModelCallError as exc:
            raise InputError(
                f"{ex.path}: the LangGraph baseline's model call failed on {query!r}: {exc}"
            ) from exc
        sections = dict(line.split(": ", 1) for line in final["transcript"])
        tally.calls.append(len(replies))
        tally.tokens_in.append(sum(r.input_tokens for r in replies))
        tally.tokens_out.append(sum(r.output_tokens for r in replies))
        tally.quality.append(judge.score(_view(ex, "fine", model, query, sections, final["facts"])))
    return tally


def _view(
    ex: Example, mode: str, model: str, query: str, sections: dict[str, str], facts: Any
) -> GroupOutput:
    return GroupOutput(
        stage=ex.stage,
        group=ex.stage,
        mode=mode,
        model=model,
        query=query,
        instructions={},
        sections=sections,
        facts=facts,
    )


def _ours(
    ex: Example,
    pool: ModelPool,
    model: str,
    queries: Sequence[str],
    compound: Compound,
    *,
    warmup: int = 0,
) -> _Tally:
    tally = _Tally()
    judge = SectionJudge()
    with Runtime(
        ex.pipeline, pool=pool, only_model=model, learn=False, compound=compound
    ) as runtime:
        for i in range(warmup):
            runtime.run(queries[i % len(queries)])
        for query in queries:
            result = runtime.run(query)
            if result.status != "ok":
                raise InputError(f"{ex.path}: run failed on {query!r}: {result.error}")
            record = next(o for o in result.outputs if o.get("team"))
            tally.calls.append(result.llm_calls)
            tally.tokens_in.append(result.input_tokens)
            tally.tokens_out.append(result.output_tokens)
            tally.modes.append(record["compound_mode"])
            view = _view(ex, record["compound_mode"], model, query, record["team"], record["facts"])
            tally.quality.append(judge.score(view))
    return tally


def gate_scenario(
    ex: Example,
    pool: ModelPool,
    model: str,
    *,
    drop_at: int = 15,
    runs: int = 45,
    limit_after: int = 4,
) -> dict[str, Any]:
    """Run ``ex`` ``runs`` times; from run ``drop_at`` on, merged calls of more than
    ``limit_after`` agents score low. Returns the mode of every run and how many runs
    after the drop the gate needed to be back in a mode that passes."""
    judge = SizeLimitJudge(ex.team, limit=len(ex.team))
    policy = Compound(judge=judge)
    timeline: list[str] = []
    reverted: int | None = None
    with Runtime(ex.pipeline, pool=pool, only_model=model, learn=False, compound=policy) as rt:
        group = f"{ex.stage}:{'+'.join(ex.team.order)}"
        for i in range(runs):
            if i == drop_at:
                judge.limit = limit_after
            result = rt.run(ex.queries[i % len(ex.queries)])
            record = next(o for o in result.outputs if o.get("team"))
            timeline.append(record["compound_mode"])
            nxt = rt.teams.gate.mode_of(model, group) or "fine"
            passing = max(len(p) for p in chunks(ex.team, nxt)) <= limit_after
            if i >= drop_at and reverted is None and passing:
                reverted = i - drop_at + 1
    return {
        "pipeline": ex.pipeline.name,
        "agents": len(ex.team),
        "drop_at_run": drop_at + 1,
        "limit_after_drop": limit_after,
        "runs_to_revert": reverted if reverted is not None else -1,
        "timeline": timeline,
    }


@dataclass
class CompoundReport:
    """Results of ``evaluate_compound``."""

    model: str
    pipelines: dict[str, dict[str, Any]]
    gate: dict[str, Any]

    def savings(self, name: str) -> float:
        """Share of input tokens compound mode saves against the LangGraph baseline."""
        p = self.pipelines[name]
        return 1 - p["compound"]["input_tokens"] / p["langgraph"]["input_tokens"]

    def targets(self) -> dict[str, bool]:
        """The issue's targets, met or not."""
        tokens = all(self.savings(n) >= 0.45 for n in self.pipelines)
        quality = all(
            abs(p["compound"]["quality"] - p["fine"]["quality"]) <= 0.02
            for p in self.pipelines.values()
        )
        sizes = sorted(p["agents"] for p in self.pipelines.values())
        out = {
            ">=45% fewer input tokens than LangGraph": tokens,
            "quality within 0.02 of fine": quality,
            "pipelines of 5 and >=12 agents": 5 in sizes and sizes[-1] >= 12,
        }
        if "timeline" in self.gate:  # the scenario ran
            out["gate reverts within 10 runs"] = 0 < self.gate["runs_to_revert"] <= 10
        return out

    def as_json(self) -> dict[str, Any]:
        """The JSON form ``--json`` writes."""
        return {"model": self.model, "pipelines": self.pipelines, "gate": self.gate}


def evaluate_compound(
    paths: Sequence[str | Path] = DEFAULT_FILES,
    *,
    pool: ModelPool | None = None,
    model: str = "standard",
    queries: int | None = None,
    gate: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> CompoundReport:
    """Compare LangGraph, fine and compound on each pipeline; run the gate scenario on the
    one with the most agents. ``queries`` limits the queries per pipeline."""
    pool = pool or default_pool()
    if model not in pool:
        raise InputError(f"model {model!r} is not in the pool; it has {pool.names()}")
    examples = [load_example(p) for p in paths]
    if not examples:
        raise InputError("no pipeline files given")
    report: dict[str, dict[str, Any]] = {}
    for ex in examples:
        qs = list(ex.queries)[: queries or None]
        progress(f"{ex.pipeline.name}: {len(ex.team)} agents, {len(qs)} queries, model {model}")
        lg = _langgraph(ex, pool, model, qs)
        progress(f"  langgraph: {lg.summary()['input_tokens']} input tokens per run")
        fine = _ours(ex, pool, model, qs, Compound(modes=("fine",)))
        progress(f"  fine: {fine.summary()['input_tokens']} input tokens per run")
        gated = Compound()
        comp = _ours(ex, pool, model, qs, gated, warmup=gated.min_runs + 1)
        progress(f"  compound: {comp.summary()['input_tokens']} input tokens per run")
        report[ex.pipeline.name] = {
            "agents": len(ex.team),
            "queries": len(qs),
            "langgraph": lg.summary(),
            "fine": fine.summary(),
            "compound": comp.summary(),
        }
    scenario: dict[str, Any] = {"runs_to_revert": -1}
    if gate:
        largest = max(examples, key=lambda e: len(e.team))
        progress(f"gate scenario on {largest.pipeline.name}")
        scenario = gate_scenario(largest, pool, model)
    return CompoundReport(model=model, pipelines=report, gate=scenario)
