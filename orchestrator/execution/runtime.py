"""The engine: compiles a Pipeline to a LangGraph StateGraph and runs queries through it.

One node per stage. In each node the policy assigns a (role, model) arm, the tool graph
runs the cheapest skill chain toward the stage goal (rerouting around failures), memory
hands the role its context, the model answers, and the dispatcher decides the next stage,
which a branching stage's node names in its ``Command``. The control plane lives in
``RunContext`` (LangGraph's run-scoped context), the checkpointed data in the state;
LangGraph executes and checkpoints.

Each mechanism a visit uses lives in its own module (policy, tool runner, escalation,
model caller, team runner, memory, dispatcher); this one keeps the wiring and the order of
a visit's steps, which read best in one place, and is the only module importing LangGraph.
"""

from __future__ import annotations

import math
import operator
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NamedTuple, TypedDict, cast

import numpy as np
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import GraphRecursionError
from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime as GraphRuntime
from langgraph.types import Command
from opentelemetry import trace
from opentelemetry.trace import Span

from agents import ModelPool, Role, RoutingSet, build_messages, default_pool, parse_reply
from memory import MemoryStore, make_item
from orchestrator.compound.ladder import Compound
from orchestrator.definition.pipeline import Pipeline, Stage, StageView
from orchestrator.errors import (
    GoalUnreachable,
    InputError,
    PoolConfigError,
    RunError,
)
from orchestrator.execution.breaker import BreakerBoard
from orchestrator.execution.dispatcher import Dispatcher
from orchestrator.execution.escalation import escalate, failed_tools_text
from orchestrator.execution.judges import GroundedJudge
from orchestrator.execution.modelcall import ModelCaller
from orchestrator.execution.rolememory import RoleMemory
from orchestrator.execution.run import RunContext, RunResult, StageDone, Visit
from orchestrator.execution.team import TeamRunner
from orchestrator.execution.toolrunner import ToolRunner
from orchestrator.protocols import Judge
from orchestrator.routing.budget import Budget
from orchestrator.routing.capability import best_for, combine, shortfall
from orchestrator.routing.features import DIM, FeatureBuilder
from orchestrator.routing.intent import IntentRouter
from orchestrator.routing.learner import Batcher, Learner
from orchestrator.routing.linucb import ALPHA, LinUCB
from orchestrator.routing.pheromone import PheromoneTable
from orchestrator.routing.policy import Assignment, AssignmentPolicy, RunCredit, arm_name, reward
from orchestrator.routing.policystore import PolicyStore
from orchestrator.routing.warmstart import WarmStart, recorded_credits
from orchestrator.tools.health import HealthMonitor, ToolHealth
from orchestrator.tracing.spans import ATTR, RunTracer

__all__ = ["RunResult", "Runtime", "facts_of", "request_of", "sqlite_checkpointer", "trail_of"]

LEARN_LINGER_S = 0.05
"""How long the learner waits for more finished runs before applying a batch of credits:
learning lags a run by at most this (or until ``flush``), and a busy runtime pays for one
batched update per many runs instead of one per run."""
LEARN_MAX_BATCH = 32
"""A batch this large is applied without waiting."""


_POOL_SIZE = min(32, (os.cpu_count() or 1) + 4)
"""Threads of the pool LangGraph runs a graph's tasks in: ThreadPoolExecutor's default."""


class RunState(TypedDict, total=False):
    """The checkpointed state of one run: one channel, because LangGraph does work for
    every channel at every step (about 1% of a step each, 2.5% for one written every
    step). The request is the channel's first record; the trail of stages and the facts
    are read from the visit records after it (``request_of``, ``trail_of``,
    ``facts_of``), and a branching stage names the next stage in a ``Command``, not in a
    channel that a conditional edge reads (which costs about a third of a step more)."""

    outputs: Annotated[list[dict[str, Any]], operator.add]
    """The run's records in order. First its request (kind ``request``: ``query``,
    ``intent``, ``confidence``, ``scope``), then one record per stage visit: its stage,
    kind (``answer``, ``escalation``, or ``end`` for a terminal stage nobody works on),
    answer, arm and context used, cost and tokens, and the facts known after it (skill
    results by ``produces`` name)."""


def request_of(outputs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """A run's request (query, intent, confidence, scope), from its records."""
    return outputs[0]


def request_record(query: str, intent: str, confidence: float, scope: str | None) -> dict[str, Any]:
    """The first record of a run's ``outputs``: what it was asked."""
    return {
        "kind": "request",
        "query": query,
        "intent": intent,
        "confidence": confidence,
        "scope": scope,
    }


def trail_of(outputs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The stages a run visited, in order, from its records."""
    return [o["stage"] for o in outputs[1:]]


def facts_of(outputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The facts a run knows after its visits (the last visit's), from its records."""
    return outputs[-1]["facts"] if len(outputs) > 1 else {}


@dataclass(frozen=True, kw_only=True, slots=True)
class _Outcome:
    status: str
    answer: str
    outputs: Sequence[dict[str, Any]]
    facts: dict[str, Any]


class _RoleAt(NamedTuple):
    """A role working at a stage: what the definition fixes for every such visit."""

    role: Role
    permitted: Sequence[str]
    """Skills the role may call at the stage."""
    tool_graph: Any
    """The stage's tool graph for the role, or None."""
    skills: list[str]
    """``name(arg, ...)`` of each permitted skill, for the prompt."""
    allowed_next: Sequence[str]


class Runtime:
    """Runs one pipeline: policy, pool, tracing and persistence wired together.

    ``data_dir`` (a Path) persists the learned policy between processes; without it the
    policy lives in memory. ``checkpointer`` is any LangGraph checkpoint saver.
    ``breakers`` (default: 1 fault opens, 30 s cooldown) decide which models are offered
    after endpoint faults; a faulted call fails over to the next best arm of its role.
    ``memory`` (a LocalStore, or a RedisStore shared across processes) gives runs with a
    ``scope`` long-term memory: each role gets routed tiers of it within its budget, and
    every answer is written back to the scope's episodic memory.
    ``compound`` (default: the pipeline's) governs how stage teams are merged into fewer
    model calls; its quality gate's state persists under ``data_dir`` like the policy.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        pool: ModelPool | None = None,
        data_dir: Path | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        judge: Judge | None = None,
        cost_weight: float | None = None,
        budget_usd: float | None = None,
        alpha: float = ALPHA,
        learn: bool = True,
        only_model: str | None = None,
        breakers: BreakerBoard | None = None,
        health_interval_s: float = 10.0,
        memory: MemoryStore | None = None,
        compound: Compound | None = None,
    ) -> None:
        if budget_usd is not None and not (math.isfinite(budget_usd) and budget_usd > 0):
            raise InputError(f"budget_usd must be a number > 0 (None: no budget), not {budget_usd}")
        if cost_weight is not None and not (math.isfinite(cost_weight) and cost_weight >= 0):
            raise InputError(
                f"cost_weight must be a number >= 0 (0: cost does not matter), not {cost_weight}"
            )
        self.pipeline = pipeline
        self.breakers = breakers or BreakerBoard()
        """Circuit breakers of the pool's models (shared by every run of this runtime)."""
        self.role_memory = RoleMemory(memory)
        """What each role sees at a visit, and its answers written back."""
        self.pool = pool or pipeline.pool or default_pool()
        self.judge = judge or pipeline.judge or GroundedJudge()
        self.budget = Budget(budget_usd if budget_usd is not None else pipeline.budget_usd)
        # lambda of the reward: the user's, else "spending the whole budget costs all quality"
        limit = self.budget.limit_usd
        self.cost_weight = (
            cost_weight if cost_weight is not None else (1.0 / limit if limit else 20.0)
        )
        self.learn = learn
        self.tracer = RunTracer(tracer_provider)
        self.router = IntentRouter(pipeline.intents, min_confidence=pipeline.min_intent_confidence)
        self.dispatcher = Dispatcher(pipeline.machine)
        self.health = ToolHealth()
        """Tool health signals; they weigh the tool graph's edges for every run."""
        self.tools = ToolRunner(pipeline.registry, self.tracer, self.health)
        probes = {e.skill.name: e.skill.probe for e in pipeline.registry if e.skill.probe}
        self.monitor = HealthMonitor(self.health, probes, interval_s=health_interval_s)
        self.features = FeatureBuilder(DIM)
        self.store = PolicyStore(data_dir / "policy") if data_dir is not None else None
        self._alpha = alpha
        bandit, pheromone, self.runs = (
            self.store.load(pipeline.name, dim=DIM, alpha=alpha)
            if self.store
            else (LinUCB(DIM, alpha=alpha), PheromoneTable(), 0)
        )
        stage_arms = self._stage_arms(only_model)
        self.policy = AssignmentPolicy(bandit, stage_arms, pheromone=pheromone)
        self._stage_models = {s: sorted({m for _, m in pairs}) for s, pairs in stage_arms.items()}
        self._worked_stages = [s for s, st in pipeline.stages.items() if st.roles]
        """Stages with roles: their first visits are scored when a run starts."""
        self._expected = {
            arm_name(r, m): Budget.expected_cost(
                self.pool.profile(m).input_price,
                self.pool.profile(m).output_price,
                pipeline.roles[r].context_tokens,
                pipeline.roles[r].max_output_tokens,
            )
            for pairs in stage_arms.values()
            for r, m in pairs
        }
        self._static_req = {
            (s.name, r): combine(s.requires, pipeline.roles[r].requires)
            for s in pipeline.stages.values()
            for r in s.roles
        }
        self._role_at = {
            (s.name, r): _RoleAt(
                role=pipeline.roles[r],
                permitted=pipeline.permitted[(s.name, r)],
                tool_graph=pipeline.tool_graphs.get((s.name, r)),
                skills=[
                    f"{k}({', '.join(pipeline.registry.get(k).params)})"
                    for k in pipeline.permitted[(s.name, r)]
                ],
                allowed_next=pipeline.machine.next_of(s.name),
            )
            for s in pipeline.stages.values()
            for r in s.roles
        }
        """What a stage visit by a role needs that is fixed by the definition."""
        self._shortfalls: dict[tuple[str, str], dict[str, str]] = {}
        for stage_name, pairs in stage_arms.items():
            excluded = self._capability_exclusions(stage_name, "")
            if len(excluded) == len(pairs):
                role = pairs[0][0]
                req = self._static_req[(stage_name, role)]
                best = best_for(((p.name, p.capabilities) for p in self.pool), req)
                raise PoolConfigError(
                    f"stage {stage_name!r} requires {req} and no candidate model meets it; the "
                    f"closest in the pool is {best}. Add a capable model to the pool and the "
                    "roles, or lower the requirement"
                )
        self.caller = ModelCaller(self.pool, self.breakers, self.policy, self.tracer)
        """Model calls of stage visits: breakers, failover, chat spans."""
        self.teams = TeamRunner(
            pipeline,
            compound or pipeline.compound,
            pool=self.pool,
            tracer=self.tracer,
            caller=self.caller,
            gate_path=data_dir / "compound" / f"{pipeline.name}.json" if data_dir else None,
        )
        """Team stages' visits and their quality gate."""
        self.graph = self._compile().compile(checkpointer=checkpointer)
        self.checkpointer = checkpointer
        self.learner = Learner()  # last: a definition error above leaves no thread behind
        self._credits: Batcher[RunCredit] = Batcher(
            self.learner,
            lambda runs: self._update_policy(lambda: self.policy.credit_runs(runs), runs=len(runs)),
            linger_s=LEARN_LINGER_S,
            max_batch=LEARN_MAX_BATCH,
        )
        """Finished runs' credits, applied in batches on the learner's thread."""
        self.monitor.start()

    # ----------------------------------------------------------------- set-up

    @property
    def memory(self) -> MemoryStore | None:
        """Long-term memory of runs given a ``scope`` (None: working memory only)."""
        return self.role_memory.store

    def _stage_arms(self, only_model: str | None) -> dict[str, list[tuple[str, str]]]:
        arms: dict[str, list[tuple[str, str]]] = {}
        for stage in self.pipeline.stages.values():
            if not stage.roles:
                continue
            pairs = []
            for r in stage.roles:
                role = self.pipeline.roles[r]
                models = [only_model] if only_model else list(role.models or self.pool.names())
                for m in models:
                    if m not in self.pool:
                        raise PoolConfigError(
                            f"role {r!r} names model {m!r}, which the pool does not define; the "
                            f"pool has {self.pool.names()}. Add it to your pool file (--pool) or "
                            "change the role's models"
                        )
                    pairs.append((r, m))
            arms[stage.name] = pairs
        return arms

    def _update_policy(self, apply: Callable[[], object], *, runs: int) -> None:
        """Apply ``apply`` (a change of ``self.policy``) and count ``runs`` learned from;
        with a store, to the state as saved (other processes may have learned meanwhile),
        under its lock, and save the result."""
        if self.store is None:
            with self.policy.lock:
                apply()
                self.runs += runs
            return
        name = self.pipeline.name
        with self.store.locked(name):
            bandit, pheromone, stored = self.store.load(name, dim=DIM, alpha=self._alpha)
            with self.policy.lock:
                self.policy.adopt(bandit, pheromone)
                apply()
                self.runs = stored + runs
            self.store.save(name, self.policy.bandit, self.policy.pheromone, self.runs)

    def warm_start(self, data: RoutingSet, *, stage: str | None = None) -> WarmStart:
        """Credit recorded outcomes (a routing set) to the arms of ``stage`` before the
        policy has runs of its own; see ``orchestrator.warmstart``. ``stage`` may be left
        out when one stage has roles."""
        worked = self._worked_stages
        name = self.pipeline.name
        if stage is None:
            if len(worked) != 1:
                raise InputError(
                    f"pipeline {name!r} has {len(worked)} stages with roles ({', '.join(worked)});"
                    " say which stage's answers the recorded outcomes stand for (--stage NAME)"
                )
            stage = worked[0]
        elif stage not in worked:
            raise InputError(
                f"pipeline {name!r} has no stage {stage!r} with roles; its stages with roles: "
                f"{', '.join(worked)}"
            )
        used, values, report = recorded_credits(
            data,
            stage=stage,
            pairs=self.policy.candidates(stage),
            pool=self.pool,
            router=self.router,
            features=self.features,
            cost_weight=self.cost_weight,
        )
        self._update_policy(lambda: self.policy.credit_recorded(used, values), runs=0)
        return report

    def flush(self) -> None:
        """Wait until every finished run's learning is applied (and saved)."""
        self._credits.flush()

    def close(self) -> None:
        """Apply pending learning and stop the learner and health-monitor threads."""
        self.monitor.stop()
        self._credits.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _capability_exclusions(self, stage: str, intent: str) -> dict[str, str]:
        """Arms of ``stage`` whose model falls short of the visit's requirement (cached)."""
        key = (stage, intent)
        cached = self._shortfalls.get(key)
        if cached is None:
            cached = {}
            intent_req = self.pipeline.intent_requires.get(intent, {})
            for role, model in self.policy.candidates(stage):
                req = combine(self._static_req[(stage, role)], intent_req)
                why = shortfall(self.pool.profile(model).capabilities, req) if req else None
                if why:
                    cached[arm_name(role, model)] = why
            self._shortfalls[key] = cached
        return cached

    def _compile(self) -> StateGraph[Any, Any, Any, Any]:
        graph: StateGraph[Any, Any, Any, Any] = StateGraph(RunState, context_schema=RunContext)
        machine = self.pipeline.machine
        for stage in self.pipeline.stages.values():
            # a branching stage's node names the next stage itself (a Command)
            ends = (*stage.next, END) if _branches(stage) else None
            graph.add_node(stage.name, self._node(stage), destinations=ends)
        graph.set_entry_point(machine.start)
        for stage in self.pipeline.stages.values():
            if stage.terminal:
                graph.add_edge(stage.name, END)
            elif not _branches(stage):  # no choice to make: a plain edge
                graph.add_edge(stage.name, stage.next[0])
        return graph

    # ----------------------------------------------------------------- running

    def run(
        self,
        query: str | None = None,
        *,
        run_id: str | None = None,
        scope: str | None = None,
        progress: Callable[[StageDone], None] | None = None,
    ) -> RunResult:
        """Route, dispatch, assign, execute and judge one query; learn from the outcome.

        ``scope`` (a user or conversation id) selects whose long-term memory the run reads
        and extends (needs ``memory``). ``progress`` is called after each stage visit (the
        CLI shows it while real models answer). Run failures (guards with no way on,
        unreachable goals, model errors) end the run with status ``failed`` and the reason
        in ``error``; they are not raised.
        """
        if scope is not None and not scope.strip():
            raise InputError(
                "the scope is empty; give the id of whose memory to use, e.g. scope='alice' "
                "(--scope alice)"
            )
        if scope is not None and self.memory is None:
            raise InputError("a run with a scope needs a memory store: Runtime(memory=...)")
        if query is not None and not isinstance(query, str):
            raise InputError(f"the query must be text (str), not {type(query).__name__}")
        if query is not None and not query.strip():
            raise InputError("the query is empty; pass the request text (--query TEXT)")
        query = query if query is not None else self.pipeline.sample()
        if not query or not query.strip():
            raise InputError(
                f"no query given and pipeline {self.pipeline.name!r} has no sample_query; "
                "pass a query (orch run FILE --query TEXT)"
            )
        run_id = run_id or uuid.uuid4().hex[:12]
        ctx = self._context(run_id, query, trace_id=run_id)
        request = request_record(query, ctx.intent.label, ctx.intent.confidence, scope)
        state: dict[str, Any] = {"outputs": [request]}
        return self._execute(ctx, state, state, progress)

    def resume(
        self, run_id: str, *, progress: Callable[[StageDone], None] | None = None
    ) -> RunResult:
        """Continue a failed run from its last checkpoint; completed stages are not redone.

        Needs the checkpointer the run was made with (the CLI keeps one under $ORCH_HOME).
        The resumed part is traced as run ``<run_id>-resumed``.
        """
        snapshot = self._checkpoint(run_id)
        if not snapshot or not snapshot.values:
            raise InputError(f"no checkpoint of run {run_id!r}; `orch trace list` shows runs")
        if not snapshot.next:
            raise InputError(f"run {run_id!r} already finished; nothing to resume")
        values = dict(snapshot.values)
        records = values.get("outputs") or [{}]
        request = request_of(records)
        if request.get("kind") != "request":
            raise InputError(
                f"the checkpoint of run {run_id!r} was written by an earlier version of the "
                "runtime, whose run state this one does not read; run the query again"
            )
        ctx = self._context(run_id, request["query"], trace_id=f"{run_id}-resumed")
        return self._execute(ctx, None, values, progress)

    def resumable(self, run_id: str) -> bool:
        """Whether ``resume(run_id)`` can continue the run: it has a checkpoint (this
        runtime has a checkpointer) and stopped before its end."""
        if self.checkpointer is None:
            return False
        snapshot = self._checkpoint(run_id)
        return bool(snapshot and snapshot.values and snapshot.next)

    def _checkpoint(self, run_id: str) -> Any:
        """The latest LangGraph state snapshot of ``run_id``."""
        if self.checkpointer is None:
            raise InputError("resuming needs a checkpointer; pass one to Runtime(checkpointer=)")
        config = {"configurable": {"thread_id": run_id}}
        return self.graph.get_state(cast(RunnableConfig, config))

    def _context(self, run_id: str, query: str, *, trace_id: str) -> RunContext:
        root = self.tracer.workflow(self.pipeline.name, run_id=trace_id, query=query)
        intent = self.router.classify(query)
        ctx = RunContext(
            run_id=run_id,
            query=query,
            root=root,
            intent=intent,
            features=self.features.base(
                query=query, intent=intent.label, confidence=intent.confidence
            ),
        )
        ctx.record(root, intent.decision)
        if root.is_recording():
            root.set_attribute(ATTR.INTENT, intent.label)
        if self.budget.limit_usd is None:  # first visits' contexts are known: score them now
            stages = self._worked_stages
            c, hot = self.features.first_visits(ctx.features, stages)
            first = ctx.first_visits
            stage_list = self.features.stage_list
            base = ctx.features
            with self.policy.lock:
                scored = self.policy.score_stages(stages, c, hot, intent.label)
                for stage, arms in scored.items():  # and chosen, unless a breaker opens
                    try:
                        chosen: Assignment | None = self.policy.assign(
                            stage,
                            None,
                            intent=intent.label,
                            excluded=self._capability_exclusions(stage, intent.label),
                            scored=arms,
                        )
                    except RunError:  # no eligible arm: the visit itself reports it
                        chosen = None
                    first[stage] = (arms, chosen, stage_list(base, stage=stage))
        return ctx

    def _execute(
        self,
        ctx: RunContext,
        graph_input: dict[str, Any] | None,
        state: dict[str, Any],
        progress: Callable[[StageDone], None] | None = None,
    ) -> RunResult:
        """Stream the graph from ``graph_input`` (None: from the checkpoint) and finish."""
        config: dict[str, Any] = {
            "recursion_limit": self.pipeline.max_steps + 1,
            # the thread pool LangGraph would size anyway; given, it skips asking the OS for
            # the CPU count at every run (7 us here)
            "max_concurrency": _POOL_SIZE,
        }
        if self.checkpointer is not None:
            config["configurable"] = {"thread_id": ctx.run_id}
        root = ctx.root
        error: str | None = None
        final: dict[str, Any] = state
        reported = len(state["outputs"])  # the request and stages done before (resumed)
        try:
            for snapshot in self.graph.stream(
                graph_input, cast(RunnableConfig, config), context=ctx, stream_mode="values"
            ):
                final = snapshot  # the last snapshot survives a failure in a later step
                if progress is not None and len(snapshot["outputs"]) > reported:
                    reported = len(snapshot["outputs"])
                    progress(_stage_done(snapshot["outputs"]))
        except RunError as exc:
            error = str(exc)
        except GraphRecursionError:
            error = (
                f"run exceeded max_steps={self.pipeline.max_steps} (stages so far: "
                f"{' -> '.join(trail_of(final['outputs']))}); a loop never reached a "
                "terminal stage: fix the stages' routes or raise max_steps"
            )
        except Exception as exc:  # not a run's failure but the caller's: still traced as failed
            if root.is_recording():
                root.set_attribute(ATTR.STATUS, "failed")
            RunTracer.fail(root, f"{type(exc).__name__}: {exc}")
            root.end()
            raise
        return self._finish(ctx, final, error)

    def _finish(self, ctx: RunContext, final: Mapping[str, Any], error: str | None) -> RunResult:
        log = final["outputs"]
        records = log[1:]  # the visits
        trail = tuple(trail_of(log))
        cost = 0.0
        tokens_in = tokens_out = calls = 0
        answers: list[dict[str, Any]] = []
        for o in records:  # one pass: a run's end is on every run's path
            cost += o["cost"]
            tokens_in += o["input_tokens"]
            tokens_out += o["output_tokens"]
            calls += o.get("calls", 0)
            if o["kind"] == "answer":
                answers.append(o)
        outputs = tuple(answers)
        last = trail[-1] if trail else ""
        stage = self.pipeline.stages.get(last)
        status = "failed" if error else ("escalated" if stage and stage.failure else "ok")
        answer = next((o["text"] for o in reversed(outputs) if o.get("text")), "")
        facts = dict(facts_of(log))
        quality = self.judge.score(
            _Outcome(status=status, answer=answer, outputs=outputs, facts=facts)
        )
        value = reward(quality, cost, self.cost_weight)
        # A failed run has no outcome to learn from; resumed to the end, it is credited once.
        if self.learn and records and status != "failed":
            used = [(o["arm"], o["x"]) for o in records if "arm" in o]
            self._credits.add(RunCredit(used, value, ctx.intent.label, quality))
        if self.teams.unsaved():
            self.learner.submit(self.teams.save)
        root = ctx.root
        if root.is_recording():
            root.set_attributes(
                {
                    ATTR.STATUS: status,
                    ATTR.COST: cost,
                    ATTR.QUALITY: quality,
                    ATTR.REWARD: value,
                    ATTR.ANSWER: answer[:2000],
                    ATTR.INPUT_TOKENS: tokens_in,
                    ATTR.OUTPUT_TOKENS: tokens_out,
                    ATTR.CONTROL_CALLS: ctx.control_calls,
                }
            )
            if error:
                RunTracer.fail(root, error)
        root.end()
        return RunResult(
            run_id=ctx.run_id,
            pipeline=self.pipeline.name,
            query=ctx.query,
            status=status,
            answer=answer,
            intent=ctx.intent.label,
            confidence=ctx.intent.confidence,
            trail=trail,
            cost_usd=cost,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            quality=quality,
            reward=value,
            decisions=tuple(ctx.decisions),
            control_calls=ctx.control_calls,
            llm_calls=calls,
            outputs=outputs,
            facts=facts,
            error=error,
        )

    # ----------------------------------------------------------------- one stage

    def _node(self, stage: Stage) -> Any:
        def run_stage(state: RunState, runtime: GraphRuntime[RunContext]) -> dict[str, Any]:
            return self._run_stage(stage, state, runtime.context)[0]

        def branch(state: RunState, runtime: GraphRuntime[RunContext]) -> Command[str]:
            update, nxt = self._run_stage(stage, state, runtime.context)
            return Command(update=update, goto=nxt if nxt is not None else END)

        node: Any = branch if _branches(stage) else run_stage
        node.__name__ = f"stage_{stage.name}"
        return node

    def _run_stage(
        self, stage: Stage, state: RunState, ctx: RunContext
    ) -> tuple[dict[str, Any], str | None]:
        """A stage visit: the channel update and the next stage the dispatcher chose."""
        outputs = state["outputs"]
        if not stage.roles:  # a terminal stage nobody works on: the run ends here
            end = _record_of("end", stage.name, "", "", facts=facts_of(outputs))
            return {"outputs": [end]}, None
        done = outputs[1:]  # the visits before this one
        limited = self.budget.limit_usd is not None
        spent = sum(o["cost"] for o in done) if limited else 0.0
        visits = 0
        for o in done:
            if o["stage"] == stage.name:
                visits += 1
        first = None if visits else ctx.first_visits.get(stage.name)
        if first is not None:  # scored, chosen and its context built when the run started
            scored, assignment, x_list = first
        else:
            scored = assignment = None
            x_list = self.features.stage_list(
                ctx.features,
                stage=stage.name,
                visits=visits,
                budget_left=self.budget.left_fraction(spent),
            )
        excluded = self._capability_exclusions(stage.name, ctx.intent.label)
        if limited:
            names = [arm_name(r, m) for r, m in self.policy.candidates(stage.name)]
            by_budget, budget_decision = self.budget.exclusions(
                stage.name, spent, self._expected, names
            )
            excluded = {**by_budget, **excluded}
            if budget_decision is not None:
                ctx.record(ctx.root, budget_decision)
        down = self.breakers.blocked(self._stage_models[stage.name])
        if down:
            excluded = excluded | {
                arm_name(r, m): down[m]
                for r, m in self.policy.candidates(stage.name)
                if m in down and arm_name(r, m) not in excluded
            }
        if down or assignment is None:  # not chosen at run start, or a breaker opened since
            with self.policy.lock:
                assignment = self.policy.assign(
                    stage.name,
                    None if scored is not None else np.array(x_list),
                    intent=ctx.intent.label,
                    excluded=excluded,
                    scored=scored,
                )
        span = self.tracer.agent(
            ctx.root, role=assignment.role, stage=stage.name, model=assignment.model
        )
        visit = Visit(
            stage=stage,
            role=assignment.role,
            x=x_list,
            excluded=excluded,
            key=f"{ctx.run_id}:{stage.name}:{visits}",
        )
        try:
            ctx.record(span, assignment.decision)
            return self._work(visit, assignment.model, outputs, ctx, span)
        except RunError as exc:
            RunTracer.fail(span, str(exc))
            raise
        finally:
            span.end()

    def _work(
        self,
        visit: Visit,
        model: str,
        outputs: Sequence[dict[str, Any]],
        ctx: RunContext,
        span: Span,
    ) -> tuple[dict[str, Any], str | None]:
        """Tools, context, model call and next stage for one assigned stage visit
        (``outputs``: the run's records so far)."""
        p = self.pipeline
        stage, role_name = visit.stage, visit.role
        role, permitted, graph, skills, allowed_next = self._role_at[(stage.name, role_name)]
        request, done = request_of(outputs), outputs[1:]
        facts: dict[str, Any] = dict(facts_of(outputs))
        extra: list[Any] = []  # replies of control-plane calls (an escalation's choice)
        if graph is not None:
            failed: dict[str, str] = {}
            reached = self.tools.run_to_goal(stage, graph, request, facts, ctx, span, failed)
            if not reached:
                reached, reply = escalate(
                    visit,
                    model,
                    request,
                    facts,
                    failed,
                    ctx,
                    span,
                    fallbacks=p.demotions.get((stage.name, role_name), {}),
                    tools=self.tools,
                    caller=self.caller,
                )
                extra += [reply] if reply is not None else []
            if not reached:
                if stage.escalate_to is None:
                    raise GoalUnreachable(
                        f"stage {stage.name!r}: no tool path reaches goal {stage.goal!r} "
                        f"(failed: {failed_tools_text(failed)}); give the stage escalate_to=... "
                        "or another skill that produces it"
                    )
                # escalating: no answer, straight to the escalation stage
                nxt, decisions = self.dispatcher.next_stage(
                    stage.name, [("escalation", stage.escalate_to)]
                )
                for d in decisions:
                    ctx.record(span, d)
                record = _record_of("escalation", stage.name, role_name, model, facts=facts)
                record |= _paid(extra)
                record |= {"arm": arm_name(role_name, model), "x": visit.x}
                return {"outputs": [record]}, nxt

        lines = self.role_memory.context(
            role,
            stage.name,
            request,
            done,
            done[-1]["stage"] if done else None,
            ctx,
            span,
        )
        scope = request.get("scope")
        team_fields: dict[str, Any] = {}
        if stage.team is not None:
            parsed, answered, model, team_fields = self.teams.run(
                visit, model, request, facts, lines, ctx, span
            )
            recorded = None
        else:
            messages = build_messages(
                role_name=role.name,
                instructions=role.instructions,
                stage=stage.name,
                query=request["query"],
                intent=request["intent"],
                facts=facts,
                context=lines,
                skills=skills,
                allowed_next=allowed_next,
            )
            reply, model = self.caller.call(
                visit, model, messages, role.max_output_tokens, ctx, span
            )
            parsed = parse_reply(reply.text)
            answered, recorded = [reply], reply.quality
        if scope is not None and parsed.answer:
            self.role_memory.remember(scope, visit, role.name, parsed.answer, ctx, span)
        blocked = 0
        for call in parsed.calls:
            block = self.dispatcher.skill_block(stage.name, role.name, call.skill, permitted)
            if block is not None:
                ctx.record(span, block)
                blocked += 1
                continue
            inputs = {"query": request["query"], "intent": request["intent"], **facts, **call.args}
            ok, value = self.tools.call(stage.name, call.skill, inputs, ctx, span)
            if ok:
                facts[p.registry.get(call.skill).produces] = value
            else:
                blocked += 1
        view = None
        if stage.route is not None or stage.check is not None:  # only they look at it
            view = StageView(
                query=request["query"],
                intent=request["intent"],
                stage=stage.name,
                answer=parsed.answer,
                facts=facts,
                trail=(*trail_of(outputs), stage.name),
            )
        requests: list[tuple[str, str | None]] = []
        if stage.route is not None:
            requests.append(
                (f"route of stage {stage.name!r}", _user_call(stage, "route", stage.route, view))
            )
        requests.append((f"model {model!r}", parsed.next_stage))
        nxt, decisions = self.dispatcher.next_stage(stage.name, requests)
        for d in decisions:
            ctx.record(span, d)
            if d.kind == "guard_block" and d.reason.startswith("model"):
                blocked += 1
        record = make_item(stage=stage.name, role=role.name, text=parsed.answer)
        record.update(
            kind="answer",
            model=model,
            facts=facts,
            check=bool(_user_call(stage, "check", stage.check, view))
            if stage.check is not None and view
            else None,
            blocked_requests=blocked,
            recorded_quality=recorded,
            arm=arm_name(role.name, model),
            x=visit.x,
            **_paid([*answered, *extra] if extra else answered),
            **team_fields,
        )
        return {"outputs": [record]}, nxt


def sqlite_checkpointer(path: Path) -> BaseCheckpointSaver[Any]:
    """A LangGraph SQLite checkpointer at ``path`` (close it with ``.conn.close()``)."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    return SqliteSaver(sqlite3.connect(path, check_same_thread=False))


def _user_call(stage: Stage, what: str, fn: Any, view: StageView | None) -> Any:
    """Call a stage's route/check function; its exception becomes a clear run failure."""
    try:
        return fn(view)
    except Exception as exc:
        raise RunError(
            f"stage {stage.name!r}: its {what} function raised {type(exc).__name__}: {exc}; "
            "fix it in the pipeline file"
        ) from exc


def _branches(stage: Stage) -> bool:
    """Whether a visit of ``stage`` chooses between next stages."""
    return not stage.terminal and len(stage.next) > 1


def _stage_done(outputs: Sequence[Mapping[str, Any]]) -> StageDone:
    """The last stage visit of ``outputs`` (a run's records after it)."""
    last = outputs[-1]
    return StageDone(
        stage=last["stage"],
        visit=len(outputs) - 1,
        role=last["role"] or None,
        model=last["model"] if last.get("calls") else None,
        cost_usd=last["cost"],
    )


def _paid(replies: Sequence[Any]) -> dict[str, Any]:
    """Cost and tokens of a visit's answering calls (failed-over tries are not paid)."""
    if len(replies) == 1:
        r = replies[0]
        return {
            "calls": 1,
            "cost": r.cost_usd,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
        }
    return {
        "calls": len(replies),
        "cost": sum(r.cost_usd for r in replies),
        "input_tokens": sum(r.input_tokens for r in replies),
        "output_tokens": sum(r.output_tokens for r in replies),
    }


def _record_of(
    kind: str, stage: str, role: str, model: str, *, facts: dict[str, Any]
) -> dict[str, Any]:
    """A stage-visit record without an answer for the ``outputs`` channel (memory item,
    accounting and the facts known after the visit)."""
    return make_item(stage=stage, role=role, text="") | {
        "kind": kind,
        "model": model,
        "facts": facts,
        "calls": 0,
        "cost": 0.0,
        "input_tokens": 0,
        "output_tokens": 0,
    }
