"""The self-healing scenario suite behind ``orch eval selfheal``.

Three tool topologies (a linear pipeline, a dependency DAG, a parallel fan-out), each
with interchangeable alternatives for some steps and none for others, and scenarios that
break them: one tool down, a tool past its timeout, a rate-limited tool, two tools down,
a tool down while the model endpoint is down too, the only path gone (with and without a
lesser goal to fall back to). Every scenario runs under three controllers:

- ``ours``: the runtime itself (``Runtime.run`` on a one-stage pipeline whose goal is the
  topology's): Dijkstra/A* over the tool graph, reroutes without a model, circuit breakers
  and failover for the model, one model call only when no path exists.
- ``react``: a ReAct-style loop that asks a model for the next action at every step
  (observation: goal, known facts, tools, failures) until it answers FINISH or GIVE UP.
- ``static``: a fixed path planned once on the healthy graph, with one hand-written
  fallback per step (the cheapest other tool producing the same fact) and, when both
  fail, carrying on with an empty value, as a try/except-and-continue workflow does; a
  hand-written fallback model for its answer call.

Control-plane model calls are counted: every call of the ReAct loop; the runtime's
escalation calls; none for the static workflow. The answering calls of the runtime's
agent and the static workflow are agents' work, not control. Offline, the models are
deterministic stand-ins: the ReAct model picks the cheapest runnable tool that leads to
the goal (or a fallback goal), as a competent model would; so correctness compares the
control strategies, not model quality, and wall time excludes model latency.

An outcome is correct when it is the expected one: the goal's value, the fallback goal's
value when only that is reachable, or an explicit escalation when neither is. A silent
failure is an outcome that claims an answer (or a fallback) that is wrong or should not
exist.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents import ModelPool, ModelProfile, OfflineModel, Role
from orchestrator.definition import Pipeline, Stage
from orchestrator.errors import ModelCallError, ModelUnavailable
from orchestrator.evals.selfheal_scenarios import (
    SCENARIOS,
    TOPOLOGIES,
    Scenario,
    Topology,
    broken_skills,
    expected_facts,
)
from orchestrator.execution.toolrunner import invoke_skill
from orchestrator.tools.toolgraph import ToolGraph
from orchestrator.types import Message, ModelReply, estimate_tokens

__all__ = ["SCENARIOS", "Scenario", "SelfhealReport", "evaluate_selfheal"]

CONTROLLERS = ("ours", "react", "static")
MAX_REACT_STEPS = 20

# ----------------------------------------------------------------- models

REACT_SYSTEM = (
    "You control a tool-using agent. Each turn you see the goal, the facts known, the tools "
    "and what failed. Reply with one line: `ACTION: <tool>` to run a tool, `FINISH: <fact>` "
    "when the goal (or an acceptable fallback goal) is known, or `GIVE UP` when neither can "
    "be reached."
)
_TOOL_LINE = re.compile(r"^- (\w+)\(([\w, ]*)\) -> (\w+), cost ([\d.]+)$")


def _react_decide(observation: str) -> str:
    """What a competent model answers to a ReAct observation (the offline stand-in)."""
    fields = dict(
        line.split(": ", 1)
        for line in observation.splitlines()
        if ": " in line and not line.startswith("- ")
    )
    goals = [fields.get("Goal", "")] + [
        g for g in fields.get("Acceptable fallback goals", "").split(", ") if g
    ]
    known = set(fields.get("Known facts", "").split(", "))
    failed = {t.split(" ")[0] for t in fields.get("Failed tools", "").split("; ") if t}
    done = set(fields.get("Tools run", "").split(", "))
    tools = []
    for line in observation.splitlines():
        m = _TOOL_LINE.match(line)
        if m:
            needs = tuple(p for p in m.group(2).split(", ") if p)
            tools.append((float(m.group(4)), m.group(1), needs, m.group(3)))
    for goal in goals:
        if goal in known:
            return f"FINISH: {goal}"
        # facts that lead to this goal, through tools that have not failed
        useful, grew = {goal}, True
        while grew:
            grew = False
            for _, name, needs, out in tools:
                if out in useful and name not in failed:
                    for n in needs:
                        if n not in useful:
                            useful.add(n)
                            grew = True
        runnable = sorted(
            (cost, name)
            for cost, name, needs, out in tools
            if out in useful
            and out not in known
            and name not in failed
            and name not in done
            and all(n in known for n in needs)
        )
        if runnable:
            return f"ACTION: {runnable[0][1]}"
    return "GIVE UP"


class _Endpoint:
    """A model endpoint for the suite: down (HTTP 5xx) or answering like the offline model
    (the runtime's prompts) or a competent ReAct controller (ReAct observations)."""

    def __init__(self, profile: ModelProfile, *, down: bool) -> None:
        self.name = profile.name
        self.down = down
        self._offline = OfflineModel(profile)
        self._profile = profile

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 512) -> ModelReply:
        if self.down:
            raise ModelUnavailable(f"model {self.name!r} failed: HTTP 503", kind="http_5xx")
        if messages[0].content != REACT_SYSTEM:
            return self._offline.complete(messages, max_tokens=max_tokens)
        text = _react_decide(messages[-1].content)
        i = sum(estimate_tokens(m.content) for m in messages)
        o = estimate_tokens(text)
        return ModelReply(
            text=text,
            model=self.name,
            input_tokens=i,
            output_tokens=o,
            cost_usd=self._profile.cost(i, o),
            provider="offline",
        )


def _pool(scn: Scenario) -> ModelPool:
    profiles = [
        ModelProfile(name="primary", input_price=0.15, output_price=0.6, quality=1.0),
        ModelProfile(name="backup", input_price=1.0, output_price=4.0, quality=1.0),
    ]
    return ModelPool(
        ModelProfile(
            name=p.name,
            backend="custom",
            adapter=_Endpoint(p, down=scn.model_down and p.name == "primary"),
            input_price=p.input_price,
            output_price=p.output_price,
        )
        for p in profiles
    )


# ----------------------------------------------------------------- controllers


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """What a controller reported."""

    kind: str
    """``answer``, ``demoted``, ``escalated`` (an explicit give-up) or ``error``."""
    value: str | None
    llm_calls: int
    wall_s: float = 0.0
    """Time of the execution itself (set-up such as building the pipeline excluded)."""
    detail: str = ""


def run_ours(topo: Topology, scn: Scenario) -> Outcome:
    """The runtime on a one-stage pipeline whose goal is the topology's."""
    from orchestrator.execution import Runtime

    skills = broken_skills(topo, scn)
    pipeline = Pipeline(
        f"selfheal-{topo.name}",
        stages=[
            Stage(
                "work",
                roles=["worker"],
                skills=skills,
                goal=topo.goal,
                demote_to=topo.demote_to,
                tool_edges=topo.edges,
                escalate_to="handoff",
                next=["done", "handoff"],
                start=True,
            ),
            Stage("handoff", terminal=True, failure=True),
            Stage("done", terminal=True),
        ],
        roles=[Role("worker", "Serve the request.", skills=skills, models=["primary", "backup"])],
    )
    with Runtime(pipeline, pool=_pool(scn), learn=False) as rt:
        t = time.perf_counter()
        result = rt.run(topo.query)
        wall = time.perf_counter() - t
    calls = result.control_calls
    done = functools.partial(Outcome, llm_calls=calls, wall_s=wall)
    if result.status == "ok":
        demoted = next((d.goal for d in result.decisions if d.kind == "escalate" and d.goal), None)
        if demoted:
            return done(kind="demoted", value=result.facts.get(demoted))
        return done(kind="answer", value=result.facts.get(topo.goal))
    if any(d.kind == "escalate" for d in result.decisions):
        return done(kind="escalated", value=None, detail=result.error or "")
    return done(kind="error", value=None, detail=result.error or "")


def _observation(
    topo: Topology, known: dict[str, Any], failed: dict[str, str], done: list[str]
) -> str:
    lines = [
        f"Goal: {topo.goal}",
        "Acceptable fallback goals: " + ", ".join(topo.demote_to),
        "Known facts: " + ", ".join(known),
        "Tools run: " + ", ".join(done),
        "Failed tools: " + "; ".join(f"{t} ({why})" for t, why in failed.items()),
        "Tools:",
    ]
    for t in topo.tools:
        params = t.fn.__code__.co_varnames[: t.fn.__code__.co_argcount]
        lines.append(f"- {t.fn.__name__}({', '.join(params)}) -> {t.produces}, cost {t.cost}")
    return "\n".join(lines)


def run_react(topo: Topology, scn: Scenario) -> Outcome:
    """Ask the model for the next action at every step."""
    skills = {s.name: s for s in broken_skills(topo, scn)}
    pool = _pool(scn)
    known: dict[str, Any] = {"query": topo.query}
    failed: dict[str, str] = {}
    done: list[str] = []
    calls = 0
    t = time.perf_counter()
    for _ in range(MAX_REACT_STEPS):
        messages = [
            Message(role="system", content=REACT_SYSTEM),
            Message(role="user", content=_observation(topo, known, failed, done)),
        ]
        reply = None
        for model in ("primary", "backup"):  # a retry on the backup model after a fault
            calls += 1
            try:
                reply = pool.adapter(model).complete(messages, max_tokens=32)
                break
            except ModelCallError:
                continue
        wall = time.perf_counter() - t
        if reply is None:
            return Outcome(
                kind="error", value=None, llm_calls=calls, wall_s=wall, detail="no model answered"
            )
        text = reply.text.strip()
        if text.startswith("FINISH: "):
            fact = text[len("FINISH: ") :]
            kind = "answer" if fact == topo.goal else "demoted"
            return Outcome(kind=kind, value=known.get(fact), llm_calls=calls, wall_s=wall)
        if text == "GIVE UP":
            return Outcome(kind="escalated", value=None, llm_calls=calls, wall_s=wall)
        name = text.removeprefix("ACTION: ")
        skill = skills.get(name)
        if skill is None:
            failed[name] = "no such tool"
            continue
        done.append(name)
        try:
            known[skill.produces] = invoke_skill(skill, known)
        except Exception as exc:
            failed[name] = str(exc) or type(exc).__name__
    wall = time.perf_counter() - t
    return Outcome(kind="error", value=None, llm_calls=calls, wall_s=wall, detail="step limit")


def run_static(topo: Topology, scn: Scenario) -> Outcome:
    """A fixed path with one hand-written fallback per step; carries on when both fail."""
    healthy = ToolGraph(
        broken_skills(topo, Scenario(name="-", topology=topo.name)),
        goal=topo.goal,
        edges=topo.edges,
    )
    plan = healthy.route().plan({"query": topo.query})
    assert plan is not None
    skills = {s.name: s for s in broken_skills(topo, scn)}
    fallback = {
        s.name: min(
            (o for o in skills.values() if o.produces == s.produces and o is not s),
            key=lambda o: (o.cost, o.name),
            default=None,
        )
        for s in skills.values()
    }
    pool = _pool(scn)
    t = time.perf_counter()
    values: dict[str, Any] = {"query": topo.query}
    for name in plan.tools:
        for candidate in (skills[name], fallback[name]):
            if candidate is None:
                continue
            try:
                values[candidate.produces] = invoke_skill(candidate, values)
                break
            except Exception:
                continue
        else:  # logged and carried on with an empty value
            values[skills[name].produces] = None
    messages = [Message(role="user", content=f"Answer with: {values.get(topo.goal)}")]
    for model in ("primary", "backup"):  # the answer call, with a hand-coded fallback model
        try:
            pool.adapter(model).complete(messages, max_tokens=64)
            break
        except ModelCallError:
            continue
    else:
        wall = time.perf_counter() - t
        return Outcome(kind="error", value=None, llm_calls=0, wall_s=wall, detail="no model")
    wall = time.perf_counter() - t
    return Outcome(kind="answer", value=values.get(topo.goal), llm_calls=0, wall_s=wall)


RUNNERS: dict[str, Callable[[Topology, Scenario], Outcome]] = {
    "ours": run_ours,
    "react": run_react,
    "static": run_static,
}


def judge(topo: Topology, scn: Scenario, out: Outcome) -> tuple[bool, bool]:
    """(correct, silent failure) of an outcome."""
    facts = expected_facts(topo)
    if scn.expect == "answer":
        ok = out.kind == "answer" and out.value == facts[topo.goal]
        silent = out.kind in ("answer", "demoted") and not ok
    elif scn.expect == "demote":
        ok = out.kind == "demoted" and out.value == facts[topo.demote_to[0]]
        silent = out.kind in ("answer", "demoted") and not ok
    else:
        ok = out.kind == "escalated"
        silent = out.kind in ("answer", "demoted")
    return ok, silent


# ----------------------------------------------------------------- the report


@dataclass(kw_only=True, slots=True)
class SelfhealReport:
    """Totals per controller and one row per (scenario, controller)."""

    scenarios: int
    totals: dict[str, dict[str, float]]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape, plus wall time and the per-scenario rows."""
        return {
            "scenarios": self.scenarios,
            "controllers": {
                c: {
                    "correct": int(t["correct"]),
                    "llm_calls": int(t["llm_calls"]),
                    "silent_failures": int(t["silent_failures"]),
                    "wall_s": round(t["wall_s"], 4),
                }
                for c, t in self.totals.items()
            },
            "rows": self.rows,
        }

    def targets(self) -> dict[str, bool]:
        """The suite's targets: correctness equal to ReAct's, <= 7% of its model calls,
        no silent failures."""
        o, r = self.totals["ours"], self.totals["react"]
        return {
            "correct_equal_to_react": o["correct"] >= r["correct"],
            "llm_calls_at_most_7pct_of_react": o["llm_calls"] <= 0.07 * r["llm_calls"],
            "no_silent_failures": o["silent_failures"] == 0,
        }


def evaluate_selfheal(
    scenarios: Sequence[Scenario] = SCENARIOS,
    *,
    progress: Callable[[str], None] | None = None,
) -> SelfhealReport:
    """Run every scenario under every controller."""
    totals = {
        c: {"correct": 0.0, "llm_calls": 0.0, "silent_failures": 0.0, "wall_s": 0.0}
        for c in CONTROLLERS
    }
    report = SelfhealReport(scenarios=len(scenarios), totals=totals)
    for scn in scenarios:
        topo = TOPOLOGIES[scn.topology]
        marks = []
        for c in CONTROLLERS:
            out = RUNNERS[c](topo, scn)
            wall = out.wall_s
            ok, silent = judge(topo, scn, out)
            tot = totals[c]
            tot["correct"] += ok
            tot["silent_failures"] += silent
            tot["llm_calls"] += out.llm_calls
            tot["wall_s"] += wall
            report.rows.append(
                {
                    "scenario": scn.name,
                    "controller": c,
                    "expect": scn.expect,
                    "outcome": out.kind,
                    "correct": ok,
                    "silent_failure": silent,
                    "llm_calls": out.llm_calls,
                    "wall_ms": round(wall * 1e3, 2),
                }
            )
            marks.append(f"{c} {'ok' if ok else ('SILENT' if silent else 'wrong')}")
        if progress:
            progress(f"{scn.name:<40} " + "  ".join(marks))
    return report
