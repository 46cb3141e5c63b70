"""``orch runs list``, ``orch resume``, ``orch worker`` and ``orch submit``: durable runs,
their queues and the workers that execute them."""

from __future__ import annotations

import signal
import sys
import time
from typing import Any

import click

from orchestrator.cli.common import (
    clean_errors,
    cli,
    data_dir_option,
    data_dir_path,
    pipeline_option,
    pool_option,
)
from orchestrator.cli.wiring import (
    engine_url_option,
    otlp_option,
    progress_option,
    state_url_option,
    trace_option,
)
from orchestrator.errors import InputError

__all__ = ["resume", "runs", "submit", "worker"]


@cli.group()
def runs() -> None:
    """Durable runs: what is queued, running, stopped, failed or finished."""


@runs.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@engine_url_option
@data_dir_option
@clean_errors
def list_runs(limit: int, as_json: bool, engine_url: str | None, data_dir: str | None) -> None:
    """The latest runs, newest first, with their status and what to do about it."""
    import json
    from dataclasses import asdict

    from orchestrator.durable import Engine

    home = data_dir_path(data_dir)
    if engine_url is None and not (home / "runs.sqlite").exists():
        click.echo(f"no runs yet in {home}; start one with `orch run FILE`")
        return
    with Engine(engine_url, data_dir=home, kind="client") as engine:
        rows = engine.runs(limit=limit)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo("no runs yet; start one with `orch run FILE` or `orch submit FILE`")
        return
    click.echo(f"{'RUN':<14} {'PIPELINE':<16} {'STATUS':<10} {'STARTED':<19}  QUERY / DETAIL")
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at))
        click.echo(f"{r.run_id:<14} {r.pipeline:<16} {r.status:<10} {when:<19}  {r.query}")
        if r.detail:
            click.echo(f"{'':<14} {'':<16} {'':<10} {'':<19}  -> {r.detail}")


@cli.command()
@click.argument("run_id")
@pool_option
@trace_option
@otlp_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@progress_option
@engine_url_option
@state_url_option
@data_dir_option
@clean_errors
def resume(
    run_id: str,
    pool_file: str | None,
    trace_mode: str,
    otlp_endpoint: str | None,
    as_json: bool,
    progress: bool | None,
    engine_url: str | None,
    state_url: str | None,
    data_dir: str | None,
) -> None:
    """Continue run RUN_ID from its last completed step (a run whose process died, or
    one that failed): completed tool calls and paid model replies are not made again."""
    from orchestrator.cli.wiring import Options, print_result, show_progress, wired

    options = Options(
        home=data_dir_path(data_dir),
        pool_file=pool_file,
        trace_mode=trace_mode,
        otlp_endpoint=otlp_endpoint,
        engine_url=engine_url,
        state_url=state_url,
    )
    with wired(options) as w:
        w.engine.launch()
        result = w.engine.resume(run_id, progress=show_progress(progress)).result()
    print_result(result, as_json=as_json, traced=trace_mode == "jsonl")
    if result.error:
        click.echo(f"error: {result.error}", err=True)
        sys.exit(1)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Runs this worker executes at once.",
)
@pool_option
@trace_option
@otlp_option
@click.option(
    "--budget",
    type=click.FloatRange(min=0, min_open=True),
    help="Spending limit of each run in USD.",
)
@click.option("--no-learn", is_flag=True, help="Do not update the learned policy.")
@click.option(
    "--memory-url",
    metavar="URL",
    envvar="ORCH_MEMORY_URL",
    help="Redis URL of memory shared across processes [default: a store in the data dir].",
)
@engine_url_option
@state_url_option
@data_dir_option
@clean_errors
def worker(
    files: tuple[str, ...],
    concurrency: int,
    pool_file: str | None,
    trace_mode: str,
    otlp_endpoint: str | None,
    budget: float | None,
    no_learn: bool,
    memory_url: str | None,
    engine_url: str | None,
    state_url: str | None,
    data_dir: str | None,
) -> None:
    """Execute queued runs of the pipelines defined in FILES until stopped (Ctrl-C or
    SIGTERM). Runs of a worker killed without stopping are taken over by a live worker
    within about 20 s."""
    from orchestrator.cli.wiring import Options, wired

    options = Options(
        home=data_dir_path(data_dir),
        pool_file=pool_file,
        trace_mode=trace_mode,
        otlp_endpoint=otlp_endpoint,
        budget=budget,
        learn=not no_learn,
        memory_url=memory_url,
        engine_url=engine_url,
        state_url=state_url,
    )
    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    with wired(options, kind="worker", concurrency=concurrency) as w:
        names = [w.runtime(f).pipeline.name for f in files]
        w.engine.launch()
        signal.signal(signal.SIGTERM, on_signal)
        click.echo(
            f"worker {w.engine.executor_id}: serving {', '.join(names)} with "
            f"concurrency {concurrency} on {engine_url or w.engine.system_url}; "
            "Ctrl-C stops",
            err=True,
        )
        try:
            while not stop["now"]:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        click.echo(
            "worker: stopping: no new runs; the runs in flight get up to 30 s to finish, "
            "then go to a live worker",
            err=True,
        )


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--query", "-q", help="The request [default: the pipeline's sample query].")
@pipeline_option
@click.option("--scope", metavar="ID", help="Whose long-term memory the run uses.")
@click.option("--wait", is_flag=True, help="Wait for the run and print its result.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="With --wait, give up waiting after this many seconds (the run goes on).",
)
@click.option("--json", "as_json", is_flag=True, help="With --wait, print the result as JSON.")
@engine_url_option
@data_dir_option
@clean_errors
def submit(
    file: str,
    query: str | None,
    pipeline_name: str | None,
    scope: str | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
    engine_url: str | None,
    data_dir: str | None,
) -> None:
    """Queue a run of the pipeline in FILE for the workers that serve it; print its id."""
    import uuid

    from orchestrator.cli.wiring import print_result
    from orchestrator.definition.loader import load_pipeline
    from orchestrator.durable import Engine

    pipeline, _ = load_pipeline(file, pipeline_name)
    if query is not None and not query.strip():
        raise InputError("the query is empty; pass the request text (--query TEXT)")
    if query is None and not pipeline.sample_query:
        raise InputError(f"{file} has no sample_query; pass --query TEXT")
    query = query if query is not None else pipeline.sample()  # listed with the run
    run_id = uuid.uuid4().hex[:12]
    with Engine(engine_url, data_dir=data_dir_path(data_dir), kind="client") as engine:
        handle = engine.submit(pipeline.name, query, run_id=run_id, file=file, scope=scope)
        served = {p for e in engine.liveness().executors() if e.alive() for p in e.pipelines}
        click.echo(run_id)
        if pipeline.name not in served:
            click.echo(
                f"warning: no live worker serves pipeline {pipeline.name!r}; the run waits "
                f"in its queue until one does (orch worker {file})",
                err=True,
            )
        if not wait:
            return
        try:
            result = handle.result(timeout)
        except TimeoutError:
            click.echo(
                f"error: run {run_id} did not finish in {timeout:g} s; it goes on "
                "(`orch runs list` shows it)",
                err=True,
            )
            sys.exit(1)
    print_result(result, as_json=as_json, traced=True)
    if result.error:
        click.echo(f"error: {result.error}", err=True)
        sys.exit(1)
