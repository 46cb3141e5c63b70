"""What the commands that execute runs share: the runtime built from a pipeline file and
the options, the durable engine, each stage shown as it ends, the result printed."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from orchestrator.cli.common import TRACE_MODES
from orchestrator.errors import InputError

__all__ = [
    "Options",
    "engine_url_option",
    "otlp_option",
    "policy_store",
    "print_result",
    "progress_option",
    "show_progress",
    "stage_printer",
    "state_url_option",
    "trace_option",
    "wired",
]

engine_url_option = click.option(
    "--engine-url",
    metavar="URL",
    envvar="ORCH_ENGINE_URL",
    help="Postgres URL of the engine database shared by workers on many machines, e.g. "
    "postgresql://orch@db:5432/orch ($ORCH_ENGINE_URL) [default: embedded SQLite in the "
    "data dir].",
)


trace_option = click.option(
    "--trace",
    "trace_mode",
    type=click.Choice(TRACE_MODES),
    default="jsonl",
    show_default=True,
    help="Where spans go: JSONL files in the data dir, the console, an OTLP/HTTP collector, "
    "or nowhere.",
)
otlp_option = click.option(
    "--otlp-endpoint",
    help="OTLP/HTTP traces endpoint for --trace otlp "
    "[default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or http://localhost:4318/v1/traces].",
)

progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show each stage on stderr as it finishes [default: when stderr is a terminal].",
)

state_url_option = click.option(
    "--state-url",
    metavar="URL",
    envvar="ORCH_STATE_URL",
    help="Redis URL of the learned state shared by every worker, e.g. "
    "redis://127.0.0.1:6379/0 ($ORCH_STATE_URL) [default: JSON files in the data dir].",
)


def policy_store(home: Path, state_url: str | None) -> Any:
    """The policy store: Redis at ``state_url`` (checked to answer), else the data dir's."""
    from orchestrator.errors import StoreUnavailable
    from orchestrator.routing.policystore import PolicyStore

    if not state_url:
        return PolicyStore(home / "policy")
    from orchestrator.routing.redispolicy import RedisPolicyStore

    store = RedisPolicyStore(state_url)
    try:
        store.ping()
    except StoreUnavailable as exc:
        raise InputError(
            f"{exc}; start Redis there, or fix --state-url ($ORCH_STATE_URL), or drop it "
            "to keep the learned state in the data dir"
        ) from None
    return store


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """The options that decide how a command's runtimes are built."""

    home: Path
    pool_file: str | None = None
    model: str | None = None
    trace_mode: str = "jsonl"
    otlp_endpoint: str | None = None
    budget: float | None = None
    cost_weight: float | None = None
    learn: bool = True
    memory_url: str | None = None
    engine_url: str | None = None
    state_url: str | None = None


class Wired:
    """A command's engine, runtimes and trace provider, closed together."""

    def __init__(self, options: Options, kind: str, concurrency: int) -> None:
        from orchestrator.durable import Engine
        from orchestrator.tracing.exporters import make_provider

        self.options = options
        options.home.mkdir(parents=True, exist_ok=True)
        self.engine = Engine(
            options.engine_url,
            data_dir=options.home,
            kind=kind,  # type: ignore[arg-type]
            concurrency=concurrency,
        )
        self.provider = make_provider(
            options.trace_mode,  # type: ignore[arg-type]
            trace_dir=options.home / "traces",
            otlp_endpoint=options.otlp_endpoint,
        )
        self.runtimes: list[Any] = []
        self.store = policy_store(options.home, options.state_url) if options.state_url else None
        self._memories: list[tuple[Any, Path]] = []
        self.kept = 0
        """Memory writes kept in the data dir because the shared store was down."""
        self.kept_in: Path | None = None
        """The file they are kept in."""
        self.engine.on_unknown(
            lambda spec: self.runtime(spec.file or "", spec.pipeline, scoped=bool(spec.scope))
        )

    def runtime(self, file: str, pipeline_name: str | None = None, *, scoped: bool = True) -> Any:
        """The runtime of the pipeline in ``file``, served by this command's engine."""
        from agents import ModelPool
        from orchestrator.definition.loader import load_pipeline
        from orchestrator.execution import Runtime

        o = self.options
        pipeline, _ = load_pipeline(file, pipeline_name)
        pool = ModelPool.from_file(o.pool_file) if o.pool_file else None
        if o.model is not None:
            pool = ModelPool.single_litellm(o.model)
            pool.check_models(where="--model")
        runtime = Runtime(
            pipeline,
            pool=pool,
            data_dir=o.home,
            tracer_provider=self.provider,
            checkpointer=self.engine.checkpointer(),
            cost_weight=o.cost_weight,
            budget_usd=o.budget,
            learn=o.learn,
            only_model=o.model,
            memory=self._memory() if scoped else None,
            policy_store=self.store,
            ledger=self._ledger() if pipeline.spend_cap is not None else None,
            **self._shared(pipeline.name),
        )
        self.runtimes.append(runtime)
        if not self.engine.launched:  # later: built for one run by id, the engine keeps it
            self.engine.serve(runtime, file=file)
        return runtime

    def _shared(self, pipeline: str) -> dict[str, Any]:
        """With --state-url, the circuit breakers and the quality gate in Redis too."""
        if not self.options.state_url:
            return {}
        from orchestrator.compound.gatecells import RedisGateCells
        from orchestrator.execution.sharedbreaker import RedisBreakerBoard

        url = self.options.state_url
        return {"breakers": RedisBreakerBoard(url), "gate_cells": RedisGateCells(url, pipeline)}

    def _ledger(self) -> Any:
        """The spend cap's ledger: Redis with --state-url (every machine), else None
        (the runtime's default: a file in the data dir, every process of this machine)."""
        if not self.options.state_url:
            return None
        from orchestrator.routing.spendcap import RedisLedger

        return RedisLedger(self.options.state_url)

    def _memory(self) -> Any:
        """Long-term memory for scoped runs: Redis behind an in-process fallback with
        --memory-url (what an earlier run kept through an outage sent first), else a
        store in the data dir."""
        from memory import FallbackStore, LocalStore
        from orchestrator.errors import StoreUnavailable

        o = self.options
        if not o.memory_url:
            return LocalStore(o.home / "memory" / "memory.log")
        from memory.redis_store import RedisStore

        store = RedisStore(o.memory_url)
        try:  # a run told to share its memory must not quietly keep it to itself
            store.ping()
        except StoreUnavailable as exc:
            raise InputError(
                f"{exc}; start Redis there, or fix --memory-url ($ORCH_MEMORY_URL), or "
                "drop it to keep memory in the data dir"
            ) from None
        shared = FallbackStore(store)
        unsent = unsent_file(o.home, o.memory_url)
        try:
            sent = shared.replay_spilled(unsent)
        except StoreUnavailable as exc:
            raise InputError(f"{exc}; the writes stay in {unsent} for the next run") from None
        if sent:
            click.echo(
                f"memory: sent {sent} write{'s' if sent != 1 else ''} kept from an earlier "
                f"run while {o.memory_url} was down",
                err=True,
            )
        self._memories.append((shared, unsent))
        return shared

    def close(self) -> None:
        """Stop the engine (a worker lets its runs in flight finish first), apply
        pending learning, keep unsent memory and learning, flush spans."""
        try:
            self.engine.close()
        finally:
            try:
                for runtime in self.runtimes:
                    runtime.close()  # learning is applied off the decision path; wait for it
                    if runtime.unsent_learning:
                        click.echo(
                            f"warning: the state store at {self.options.state_url} was "
                            f"unreachable; the learning of {runtime.unsent_learning} run(s) "
                            "is kept in the data dir and applied by the next run with this "
                            "--state-url",
                            err=True,
                        )
                for shared, unsent in self._memories:
                    kept = shared.spill(unsent)
                    if kept:
                        self.kept, self.kept_in = self.kept + kept, unsent
            finally:
                if self.provider is not None:
                    self.provider.shutdown()  # type: ignore[attr-defined]  # both kinds have it


@contextmanager
def wired(options: Options, *, kind: str = "run", concurrency: int = 4) -> Iterator[Wired]:
    """A command's engine and runtimes for the ``with`` block; closed after it."""
    w = Wired(options, kind, concurrency)
    try:
        yield w
    finally:
        w.close()


def unsent_file(home: Path, url: str) -> Path:
    """Where a run keeps the memory writes that could not reach the store at ``url``."""
    return home / "memory" / f"unsent-{hashlib.sha256(url.encode()).hexdigest()[:12]}.jsonl"


def stage_printer() -> Callable[[Any], None]:
    """Prints each finished stage visit on stderr with the time it took."""
    last = time.perf_counter()

    def show(done: Any) -> None:
        nonlocal last
        now = time.perf_counter()
        who = f"{done.role}@{done.model}" if done.model else (done.role or "-")
        click.echo(
            f"  {done.visit:>2} {done.stage:<14} {who:<28} ${done.cost_usd:.6f}  "
            f"{now - last:.1f} s",
            err=True,
        )
        last = now

    return show


def show_progress(progress: bool | None) -> Callable[[Any], None] | None:
    """The stage printer when asked for (default: when stderr is a terminal)."""
    return stage_printer() if (sys.stderr.isatty() if progress is None else progress) else None


def print_result(result: Any, *, as_json: bool, traced: bool) -> None:
    """A run's result as ``orch run`` prints it: answer, run id, cost, summary (or JSON)."""
    if as_json:
        click.echo(
            json.dumps(
                {
                    "run_id": result.run_id,
                    "status": result.status,
                    "answer": result.answer,
                    "intent": result.intent,
                    "trail": list(result.trail),
                    "cost_usd": result.cost_usd,
                    "quality": result.quality,
                    "reward": result.reward,
                    "error": result.error,
                    "decisions": [d.as_dict() for d in result.decisions],
                },
                indent=2,
            )
        )
        return
    click.echo(f"answer:  {result.answer or '(none)'}")
    click.echo(
        f"run:     {result.run_id}"
        + (f"   (details: orch trace show {result.run_id})" if traced else "")
    )
    click.echo(
        f"cost:    ${result.cost_usd:.6f}  ({result.input_tokens} in / "
        f"{result.output_tokens} out tokens)  quality {result.quality:.2f}  "
        f"status {result.status}"
    )
    click.echo(f"summary: {result.summary()}")
