"""The Runtime: one pipeline's parts wired together, and the entry points of its runs.

A run classifies its query (the intent router), scores the first visit of every stage
(``routing.prescore``), streams the compiled graph (``graph.py``), each node a stage visit
(``visit.py``), and then settles: the judge scores the outcome, its reward is queued for
the learner thread, and the root span gets the totals (``outcome.py``). Learning happens
off the caller's path; ``flush`` waits for it.
"""

from __future__ import annotations

import math
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from opentelemetry import trace

from agents import ModelPool, RoutingSet, default_pool
from memory import MemoryStore
from orchestrator.compound import Compound
from orchestrator.compound.gate import GateCells
from orchestrator.definition import Pipeline
from orchestrator.errors import InputError
from orchestrator.execution.breaker import BreakerBoard
from orchestrator.execution.dispatcher import Dispatcher
from orchestrator.execution.graph import Checkpointer, RunGraph, journal_for
from orchestrator.execution.judges import GroundedJudge
from orchestrator.execution.modelcall import ModelCaller
from orchestrator.execution.outcome import settle
from orchestrator.execution.records import request_of, request_record
from orchestrator.execution.rolememory import RoleMemory
from orchestrator.execution.run import RunContext, RunResult, StageDone
from orchestrator.execution.team import TeamRunner
from orchestrator.execution.toolrunner import ToolRunner
from orchestrator.execution.visit import StageVisitor
from orchestrator.protocols import Judge, RunEngine
from orchestrator.redaction import redact
from orchestrator.routing import (
    ALPHA,
    DIM,
    AssignmentPolicy,
    Budget,
    Eligibility,
    FeatureBuilder,
    IntentRouter,
    LinUCB,
    PheromoneTable,
    PolicyStore,
    WarmStart,
)
from orchestrator.routing.learner import Batcher, Learner
from orchestrator.routing.policy import RunCredit
from orchestrator.routing.prescore import first_visits
from orchestrator.routing.redispolicy import RedisPolicyStore
from orchestrator.routing.spendcap import FileLedger, SpendLedger
from orchestrator.routing.warmstart import recorded_credits, warm_stage
from orchestrator.tools import HealthMonitor, ToolHealth
from orchestrator.tracing import ATTR, RunTracer
from orchestrator.types import valid_text

__all__ = ["LEARN_LINGER_S", "LEARN_MAX_BATCH", "REFRESH_S", "Runtime"]

LEARN_LINGER_S = 0.05
"""How long the learner waits for more finished runs before applying a batch of credits:
learning lags a run by at most this (or until ``flush``), and a busy runtime pays for one
batched update per many runs instead of one per run."""
LEARN_MAX_BATCH = 32
"""A batch this large is applied without waiting."""
REFRESH_S = 1.0
"""How often a runtime with a store reads what other processes learned (at a run's start,
off its path): a worker's decisions lag the other workers' learning by about this."""


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
    ``ledger`` holds the pipeline's ``spend_cap`` (default: a ledger in ``data_dir``,
    shared by the processes of one machine; ``RedisLedger`` for many machines).
    ``policy_store`` (default: per-arm JSON files in ``data_dir``) may be a
    ``RedisPolicyStore`` shared by every worker; ``gate_cells`` (``RedisGateCells``) and
    ``breakers`` (``RedisBreakerBoard``) share the quality gate and the circuit breakers.
    ``engine`` (an ``orchestrator.durable.Engine``) makes ``submit`` queue durable runs
    for workers, checkpointed in the engine's database.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        pool: ModelPool | None = None,
        data_dir: Path | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        checkpointer: Checkpointer | None = None,
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
        engine: RunEngine | None = None,
        policy_store: PolicyStore | RedisPolicyStore | None = None,
        ledger: SpendLedger | None = None,
        gate_cells: GateCells | None = None,
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
        self.health = ToolHealth()
        """Tool health signals; they weigh the tool graph's edges for every run."""
        tools = ToolRunner(pipeline.registry, self.tracer, self.health)
        probes = {e.skill.name: e.skill.probe for e in pipeline.registry if e.skill.probe}
        self.monitor = HealthMonitor(self.health, probes, interval_s=health_interval_s)
        self.features = FeatureBuilder(DIM)
        self.store: PolicyStore | RedisPolicyStore | None = policy_store or (
            PolicyStore(data_dir / "policy") if data_dir is not None else None
        )
        """Where the learned policy persists: per-arm JSON files in ``data_dir``, or Redis
        (``policy_store``) shared by every worker; None: this process's memory only."""
        self._unsent = (
            data_dir / "policy" / f"unsent-{pipeline.name}.jsonl"
            if data_dir is not None and isinstance(self.store, RedisPolicyStore)
            else None
        )
        self.unsent_learning = 0
        """Runs whose learning was kept in ``data_dir`` at ``close`` (Redis away)."""
        self._credited: set[str] = set()
        """Runs credited by a runtime without a store (a store keeps its own)."""
        self._refreshed = time.monotonic()
        self._alpha = alpha
        bandit, pheromone, self.runs = (
            self.store.load(pipeline.name, dim=DIM, alpha=alpha)
            if self.store
            else (LinUCB(DIM, alpha=alpha), PheromoneTable(), 0)
        )
        self.eligibility = Eligibility(pipeline, self.pool, self.budget, only_model=only_model)
        """The stages' arms and the constraints that exclude them at a visit."""
        used = {m for ms in self.eligibility.models.values() for m in ms}
        judge_model = (compound or pipeline.compound).judge
        if isinstance(judge_model, str) and judge_model in self.pool:
            used.add(judge_model)
        self.pool.check_keys(used)  # before any call is paid for
        self.policy = AssignmentPolicy(bandit, self.eligibility.arms, pheromone=pheromone)
        if isinstance(self.store, RedisPolicyStore) and self._unsent is not None:
            self.store.replay(self._unsent, pipeline.name, self.policy)  # an outage's learning
        self._worked_stages = list(self.eligibility.arms)
        """Stages with roles: their first visits are scored when a run starts."""
        if ledger is None and pipeline.spend_cap is not None:
            ledger = (
                FileLedger(data_dir / "spend.sqlite")
                if data_dir is not None
                else FileLedger(Path(tempfile.mkdtemp(prefix="orch-spend-")) / "spend.sqlite")
            )
        self.ledger = ledger
        """Where the pipeline's spend cap is held (None: the pipeline has no cap)."""
        caller = ModelCaller(
            self.pool,
            self.breakers,
            self.policy,
            self.tracer,
            pipeline=pipeline.name,
            cap=pipeline.spend_cap,
            ledger=ledger,
        )
        self.teams = TeamRunner(
            pipeline,
            compound or pipeline.compound,
            pool=self.pool,
            tracer=self.tracer,
            caller=caller,
            gate_path=data_dir / "compound" / f"{pipeline.name}.json" if data_dir else None,
        )
        """Team stages' visits and their quality gate."""
        self.teams.gate.cells = gate_cells  # shared with other workers (None: this process)
        self.visit = StageVisitor(
            pipeline,
            eligibility=self.eligibility,
            policy=self.policy,
            features=self.features,
            budget=self.budget,
            breakers=self.breakers,
            tools=tools,
            caller=caller,
            teams=self.teams,
            memory=self.role_memory,
            dispatcher=Dispatcher(pipeline.machine),
            tracer=self.tracer,
        )
        """One stage visit, as named steps."""
        if engine is not None and checkpointer is None:
            checkpointer = engine.checkpointer()  # where any of its processes resumes a run
        self.graph = RunGraph(pipeline, self.visit, checkpointer)
        self.checkpointer = checkpointer
        self.journal = journal_for(checkpointer)
        """Where runs record their calls, so that a resumed run does not make them again."""
        self.learner = Learner()  # last: a definition error above leaves no thread behind
        self._credits: Batcher[RunCredit] = Batcher(
            self.learner,
            self._credit,
            linger_s=LEARN_LINGER_S,
            max_batch=LEARN_MAX_BATCH,
        )
        """Finished runs' credits, applied in batches on the learner's thread."""
        self.engine = engine
        """The durable engine ``submit`` queues runs on (None: runs in this thread only)."""
        if engine is not None:
            engine.serve(self)
        self.monitor.start()

    @property
    def memory(self) -> MemoryStore | None:
        """Long-term memory of runs given a ``scope`` (None: working memory only)."""
        return self.role_memory.store

    # ----------------------------------------------------------------- running

    def run(
        self,
        query: str | None = None,
        *,
        run_id: str | None = None,
        scope: str | None = None,
        progress: Callable[[StageDone], None] | None = None,
        started: Callable[[str], None] | None = None,
    ) -> RunResult:
        """Route, dispatch, assign, execute and judge one query; learn from the outcome.

        ``scope`` (a user or conversation id) selects whose long-term memory the run reads
        and extends (needs ``memory``). ``progress`` is called after each stage visit (the
        CLI shows it while real models answer). ``started`` is told the run's id once the
        request is accepted, before any work (a run that stops can then be resumed by id).
        Run failures (guards with no way on,
        unreachable goals, model errors) end the run with status ``failed`` and the reason
        in ``error``; they are not raised.
        """
        query, scope = self.request(query, scope)
        run_id = run_id or uuid.uuid4().hex[:12]
        if self.store is not None and time.monotonic() - self._refreshed > REFRESH_S:
            self._refreshed = time.monotonic()  # learn what other workers learned
            self.learner.submit(self._refresh)
        if started is not None:
            started(run_id)
        ctx = self._context(run_id, query, trace_id=run_id)
        request = request_record(query, ctx.intent.label, ctx.intent.confidence, scope)
        state: dict[str, Any] = {"outputs": [request]}
        return self._execute(ctx, state, state, progress)

    def request(self, query: str | None, scope: str | None = None) -> tuple[str, str | None]:
        """The query and scope a run would be given, checked (InputError: what is wrong
        and how to fix it) and cleaned; ``query`` None is the pipeline's sample query."""
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
        # invalid bytes (a terminal's, a file's) become U+FFFD
        return valid_text(query), (valid_text(scope) if scope is not None else None)

    def submit(
        self, query: str | None = None, *, run_id: str | None = None, scope: str | None = None
    ) -> Any:
        """Queue ``query`` as a durable run for the workers of this pipeline (this
        process, when its engine is a launched worker); returns a handle whose
        ``.result()`` waits for the run's RunResult. Needs ``Runtime(engine=...)``."""
        if self.engine is None:
            raise InputError(
                "submit needs an engine: Runtime(pipeline, engine=Engine(data_dir=...)), "
                "then engine.launch(); or call run() to run in this thread"
            )
        query, scope = self.request(query, scope)
        return self.engine.submit(
            self.pipeline.name, query, run_id=run_id or uuid.uuid4().hex[:12], scope=scope
        )

    def resume(
        self, run_id: str, *, progress: Callable[[StageDone], None] | None = None
    ) -> RunResult:
        """Continue a failed run from its last checkpoint; completed stages are not redone.

        Needs the checkpointer the run was made with (the CLI keeps one under $ORCH_HOME).
        The resumed part is traced as run ``<run_id>-resumed``.
        """
        snapshot = self._checkpoint(run_id)
        if not _started(snapshot):
            raise InputError(f"no checkpoint of run {run_id!r}; `orch trace list` shows runs")
        if self._finished(snapshot):
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
        return _started(snapshot) and not self._finished(snapshot)

    def has_checkpoint(self, run_id: str) -> bool:
        """Whether this runtime's checkpointer holds a state of ``run_id``."""
        if self.checkpointer is None:
            return False
        return _started(self._checkpoint(run_id))

    def settled(self, run_id: str) -> RunResult:
        """The result of finished run ``run_id``, judged again from its checkpoint (a run
        whose process stopped after its last step, before it reported): nothing runs, and
        the policy is credited only if it has not been for this run."""
        snapshot = self._checkpoint(run_id)
        if not _started(snapshot):
            raise InputError(f"no checkpoint of run {run_id!r}; `orch runs list` shows runs")
        records = snapshot.values.get("outputs") or [{}]
        request = request_of(records)
        ctx = self._context(run_id, request.get("query", ""), trace_id=f"{run_id}-settled")
        return self._settle(ctx, snapshot.values, None)

    def _finished(self, snapshot: Any) -> bool:
        """Whether the checkpointed run reached its end: nothing left for LangGraph to run,
        and its last visit at a terminal stage (a run stopped after a stage's writes were
        saved, before the next step was planned, has no next step yet but is not done)."""
        if snapshot.next:
            return False
        records = snapshot.values.get("outputs") or []
        if len(records) < 2 or records[0].get("kind") != "request":
            return bool(records)  # nothing this runtime can continue
        return self.pipeline.machine.is_terminal(records[-1]["stage"])

    def _checkpoint(self, run_id: str) -> Any:
        """The latest LangGraph state snapshot of ``run_id``."""
        if self.checkpointer is None:
            raise InputError("resuming needs a checkpointer; pass one to Runtime(checkpointer=)")
        return self.graph.snapshot(run_id)

    def _context(self, run_id: str, query: str, *, trace_id: str) -> RunContext:
        """A run's context: its root span, its intent and, with no budget, its first
        visits scored and chosen."""
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
            journal=self.journal,
        )
        ctx.record(root, intent.decision)
        if root.is_recording():
            root.set_attribute(ATTR.INTENT, intent.label)
        if self.budget.limit_usd is None:  # first visits' contexts are known: score them now
            ctx.first_visits = first_visits(
                self._worked_stages,
                ctx.features,
                intent.label,
                policy=self.policy,
                eligibility=self.eligibility,
                features=self.features,
            )
        return ctx

    def _execute(
        self,
        ctx: RunContext,
        graph_input: Mapping[str, Any] | None,
        state: Mapping[str, Any],
        progress: Callable[[StageDone], None] | None = None,
    ) -> RunResult:
        """Stream the graph from ``graph_input`` (None: from the checkpoint) and settle."""
        try:
            final, error = self.graph.stream(graph_input, state, ctx, progress)
        except Exception as exc:  # not a run's failure but the caller's: still traced as failed
            root = ctx.root
            if root.is_recording():
                root.set_attribute(ATTR.STATUS, "failed")
            RunTracer.fail(root, redact(f"{type(exc).__name__}: {exc}"))
            root.end()
            raise
        return self._settle(ctx, final, error)

    def _settle(self, ctx: RunContext, final: Mapping[str, Any], error: str | None) -> RunResult:
        """Judge the run whose last state is ``final``, queue its credit, end its trace."""
        result, credit = settle(
            ctx,
            final["outputs"],
            error,
            pipeline=self.pipeline,
            judge=self.judge,
            cost_weight=self.cost_weight,
        )
        # A failed run has no outcome to learn from; resumed to the end, it is credited once.
        if self.learn and credit is not None:
            self._credits.add(credit)
        if self.teams.unsaved():
            self.learner.submit(self.teams.save)
        ctx.root.end()
        return result

    # ----------------------------------------------------------------- learning

    def _credit(self, credits: list[RunCredit]) -> None:
        """Apply a batch of finished runs' credits (on the learner's thread), each run
        once: to the state as stored, with a store."""
        if self.store is not None:
            runs = self.store.credit(self.pipeline.name, self.policy, credits)
            self.runs = runs if runs >= 0 else self.runs  # -1: queued until Redis is back
            return
        with self.policy.lock:
            fresh = [c for c in credits if not (c.run_id and c.run_id in self._credited)]
            self._credited.update(c.run_id for c in fresh if c.run_id)
            self.policy.credit_runs(fresh)
            self.runs += len(fresh)

    def _refresh(self) -> None:
        """Read what other processes learned (on the learner's thread, at most every
        ``REFRESH_S``)."""
        if self.store is not None:
            self.store.refresh(self.pipeline.name, self.policy)

    def warm_start(self, data: RoutingSet, *, stage: str | None = None) -> WarmStart:
        """Credit recorded outcomes (a routing set) to the arms of ``stage`` before the
        policy has runs of its own; see ``orchestrator.routing.warmstart``. ``stage`` may
        be left out when one stage has roles."""
        stage = warm_stage(self.pipeline.name, self._worked_stages, stage)
        used, values, report = recorded_credits(
            data,
            stage=stage,
            pairs=self.policy.candidates(stage),
            pool=self.pool,
            router=self.router,
            features=self.features,
            cost_weight=self.cost_weight,
        )

        def credit(skip: frozenset[str]) -> int:
            self.policy.credit_recorded(used, values)
            return 0  # recorded outcomes, not runs of this runtime

        if self.store is None:
            with self.policy.lock:
                credit(frozenset())
        else:
            arms = list(dict.fromkeys(name for name, _ in used))
            self.store.update(self.pipeline.name, self.policy, credit, arms=arms)
        return report

    def flush(self) -> None:
        """Wait until every finished run's learning is applied (and saved)."""
        self._credits.flush()

    def close(self) -> None:
        """Apply pending learning and stop the learner and health-monitor threads.
        Learning a shared store could not take (Redis away) is kept in ``data_dir`` for
        the next runtime of this pipeline (``unsent_learning``)."""
        self.monitor.stop()
        self._credits.close()
        if isinstance(self.store, RedisPolicyStore) and self._unsent is not None:
            self.unsent_learning = self.store.spill(self._unsent)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _started(snapshot: Any) -> bool:
    """Whether a checkpoint holds a run's request: a process stopped before the first
    step leaves a checkpoint of the graph's input only (its ``outputs`` still empty)."""
    return bool(snapshot and snapshot.values and snapshot.values.get("outputs"))
