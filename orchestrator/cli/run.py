"""``orch run``: one query through a pipeline file, its answer, cost and decisions."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from orchestrator.cli.common import (
    TRACE_MODES,
    clean_errors,
    cli,
    data_dir_option,
    data_dir_path,
    pipeline_option,
    pool_option,
)
from orchestrator.errors import InputError

__all__ = ["run"]


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--query", "-q", help="The request to run [default: the pipeline's sample query].")
@pipeline_option
@pool_option
@click.option(
    "--model",
    help="Use this one litellm model string for every role "
    "(e.g. ollama/llama3.2); imports litellm only when it is called.",
)
@click.option(
    "--trace",
    "trace_mode",
    type=click.Choice(TRACE_MODES),
    default="jsonl",
    show_default=True,
    help="Where spans go: JSONL files in the data dir, the "
    "console, an OTLP/HTTP collector, or nowhere.",
)
@click.option(
    "--otlp-endpoint",
    help="OTLP/HTTP traces endpoint for --trace otlp "
    "[default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or http://localhost:4318/v1/traces].",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0, min_open=True),
    help="Spending limit for this run in USD.",
)
@click.option(
    "--cost-weight",
    type=click.FloatRange(min=0),
    help="Reward = quality - COST_WEIGHT * cost in USD: higher prefers cheaper models "
    "[default: 1/budget with --budget, else 20].",
)
@click.option("--no-learn", is_flag=True, help="Do not update the learned policy.")
@click.option(
    "--resume",
    "resume_id",
    metavar="RUN_ID",
    help="Continue a failed run from its last checkpoint instead of starting one.",
)
@click.option(
    "--scope",
    metavar="ID",
    help="Whose long-term memory the run reads and extends (a user or conversation id).",
)
@click.option(
    "--memory-url",
    metavar="URL",
    envvar="ORCH_MEMORY_URL",
    help="Redis URL of memory shared across processes, e.g. redis://127.0.0.1:6379/0 "
    "[default: an in-process store kept in the data dir].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show each stage on stderr as it finishes [default: when stderr is a terminal].",
)
@data_dir_option
@clean_errors
def run(
    file: str,
    query: str | None,
    pipeline_name: str | None,
    pool_file: str | None,
    model: str | None,
    trace_mode: str,
    otlp_endpoint: str | None,
    budget: float | None,
    cost_weight: float | None,
    no_learn: bool,
    resume_id: str | None,
    scope: str | None,
    memory_url: str | None,
    as_json: bool,
    progress: bool | None,
    data_dir: str | None,
) -> None:
    """Run the pipeline defined in FILE on --query (or its sample query)."""
    from agents import ModelPool
    from memory import FallbackStore
    from orchestrator.definition.loader import load_pipeline
    from orchestrator.errors import StoreUnavailable
    from orchestrator.execution import Runtime, sqlite_checkpointer
    from orchestrator.tracing.exporters import lost_spans, make_provider

    if pool_file and model:
        raise InputError("give either --pool or --model, not both")
    if resume_id and query is not None:
        raise InputError("--resume continues a run with its own query; drop --query")
    pipeline, _ = load_pipeline(file, pipeline_name)
    pool = ModelPool.from_file(pool_file) if pool_file else None
    if model is not None:
        pool = ModelPool.single_litellm(model)
        pool.check_models(where="--model")
    home = data_dir_path(data_dir)
    home.mkdir(parents=True, exist_ok=True)
    provider = make_provider(trace_mode, trace_dir=home / "traces", otlp_endpoint=otlp_endpoint)  # type: ignore[arg-type]
    memory: Any = None
    if memory_url and not scope:
        raise InputError("--memory-url needs --scope ID (whose memory to use)")
    if scope:
        if memory_url:
            from memory.redis_store import RedisStore

            memory = RedisStore(memory_url)
            try:  # a run told to share its memory must not quietly keep it to itself
                memory.ping()
            except StoreUnavailable as exc:
                raise InputError(
                    f"{exc}; start Redis there, or fix --memory-url ($ORCH_MEMORY_URL), or "
                    "drop it to keep memory in the data dir"
                ) from None
        else:
            from memory import LocalStore

            memory = LocalStore(home / "memory" / "memory.log")
    checkpointer = sqlite_checkpointer(home / "checkpoints.sqlite")
    try:
        runtime = Runtime(
            pipeline,
            pool=pool,
            data_dir=home,
            tracer_provider=provider,
            checkpointer=checkpointer,
            cost_weight=cost_weight,
            budget_usd=budget,
            learn=not no_learn,
            only_model=model,
            memory=memory,
        )
        if query is None and not resume_id and not pipeline.sample_query:
            raise InputError(f"{file} has no sample_query; pass --query TEXT")
        # with --memory-url the runtime holds Redis behind an in-process fallback: send
        # first what an earlier run kept through an outage; keep what this one cannot send
        shared = runtime.memory if isinstance(runtime.memory, FallbackStore) else None
        unsent = _unsent_file(home, memory_url or "")
        if shared is not None:
            try:
                sent = shared.replay_spilled(unsent)
            except StoreUnavailable as exc:
                raise InputError(f"{exc}; the writes stay in {unsent} for the next run") from None
            if sent:
                click.echo(
                    f"memory: sent {sent} write{'s' if sent != 1 else ''} kept from an "
                    f"earlier run while {memory_url} was down",
                    err=True,
                )
        show = _stage_printer() if (sys.stderr.isatty() if progress is None else progress) else None

        def started(run_id: str) -> None:  # before any work: a killed run can be continued
            click.echo(
                f"started run {run_id} (if it stops: orch run {file} --resume {run_id})", err=True
            )

        try:
            result = (
                runtime.resume(resume_id, progress=show)
                if resume_id
                else runtime.run(query, scope=scope, progress=show, started=started)
            )
            resumable = bool(result.error) and runtime.resumable(result.run_id)
        finally:
            runtime.close()  # learning is applied off the decision path; wait for it
            kept = shared.spill(unsent) if shared is not None else 0
    finally:
        checkpointer.conn.close()  # type: ignore[attr-defined]
        if provider is not None:
            provider.shutdown()  # type: ignore[attr-defined]  # both kinds have it
    lost = lost_spans(provider)
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
    else:
        click.echo(f"answer:  {result.answer or '(none)'}")
        click.echo(
            f"run:     {result.run_id}"
            + (f"   (details: orch trace show {result.run_id})" if trace_mode == "jsonl" else "")
        )
        click.echo(
            f"cost:    ${result.cost_usd:.6f}  ({result.input_tokens} in / "
            f"{result.output_tokens} out tokens)  quality {result.quality:.2f}  "
            f"status {result.status}"
        )
        click.echo(f"summary: {result.summary()}")
    if lost:
        click.echo(
            f"warning: {lost} span(s) of this run did not reach the OTLP collector (the "
            "exporter's message above says why); the run itself is not affected",
            err=True,
        )
    if kept:
        click.echo(
            f"warning: the shared memory store at {memory_url} went down during the run; "
            f"{kept} memory write(s) of this run are kept in {unsent}; the next run with "
            "this --memory-url sends them",
            err=True,
        )
    if result.error:
        click.echo(f"error: {result.error}", err=True)
        if resumable:
            click.echo(
                f"hint:  once the cause is fixed, the same command with --resume "
                f"{result.run_id} (and without --query) continues from the failed stage",
                err=True,
            )
        sys.exit(1)


def _stage_printer() -> Callable[[Any], None]:
    """Prints each finished stage visit on stderr with the time it took."""
    import time

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


def _unsent_file(home: Path, url: str) -> Path:
    """Where a run keeps the memory writes that could not reach the store at ``url``."""
    import hashlib

    return home / "memory" / f"unsent-{hashlib.sha256(url.encode()).hexdigest()[:12]}.jsonl"
