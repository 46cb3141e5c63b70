"""``orch run``: one query through a pipeline file, its answer, cost and decisions."""

from __future__ import annotations

import sys

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
@trace_option
@otlp_option
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
    help="Continue a stopped or failed run from its last checkpoint instead of starting "
    "one (as `orch resume RUN_ID`, with this FILE's options).",
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
@progress_option
@engine_url_option
@state_url_option
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
    engine_url: str | None,
    state_url: str | None,
    data_dir: str | None,
) -> None:
    """Run the pipeline defined in FILE on --query (or its sample query).

    The run is a durable workflow: its id is printed on stderr before any work, and a run
    killed at any moment continues with `orch resume RUN_ID`.
    """
    import uuid

    from orchestrator.cli.wiring import Options, print_result, show_progress, wired
    from orchestrator.tracing.exporters import lost_spans

    if pool_file and model:
        raise InputError("give either --pool or --model, not both")
    if resume_id and query is not None:
        raise InputError("--resume continues a run with its own query; drop --query")
    if memory_url and not scope:
        raise InputError("--memory-url needs --scope ID (whose memory to use)")
    options = Options(
        home=data_dir_path(data_dir),
        pool_file=pool_file,
        model=model,
        trace_mode=trace_mode,
        otlp_endpoint=otlp_endpoint,
        budget=budget,
        cost_weight=cost_weight,
        learn=not no_learn,
        memory_url=memory_url,
        engine_url=engine_url,
        state_url=state_url,
    )
    show = show_progress(progress)
    with wired(options) as w:
        runtime = w.runtime(file, pipeline_name, scoped=bool(scope))
        if query is None and not resume_id and not runtime.pipeline.sample_query:
            raise InputError(f"{file} has no sample_query; pass --query TEXT")
        w.engine.launch()
        if resume_id:
            handle = w.engine.resume(resume_id, progress=show)
        else:
            query, scope = runtime.request(query, scope)
            run_id = uuid.uuid4().hex[:12]
            # before any work: a killed run can be continued
            click.echo(f"started run {run_id} (if it stops: orch resume {run_id})", err=True)
            handle = w.engine.start(runtime, query, run_id=run_id, scope=scope, progress=show)
        result = handle.result()
        resumable = bool(result.error) and runtime.resumable(result.run_id)
    lost = lost_spans(w.provider)
    print_result(result, as_json=as_json, traced=trace_mode == "jsonl")
    if lost:
        click.echo(
            f"warning: {lost} span(s) of this run did not reach the OTLP collector (the "
            "exporter's message above says why); the run itself is not affected",
            err=True,
        )
    if w.kept:
        click.echo(
            f"warning: the shared memory store at {memory_url} went down during the run; "
            f"{w.kept} memory write(s) of this run are kept in {w.kept_in}; the next run "
            "with this --memory-url sends them",
            err=True,
        )
    if result.error:
        click.echo(f"error: {result.error}", err=True)
        if resumable:
            click.echo(
                f"hint:  once the cause is fixed, `orch resume {result.run_id}` continues "
                "from the failed stage",
                err=True,
            )
        sys.exit(1)
