"""``orch trace``: the runs recorded as JSONL traces, and one run as a tree."""

from __future__ import annotations

import click

from orchestrator.cli.common import (
    clean_errors,
    cli,
    data_dir_option,
    data_dir_path,
)

__all__ = ["trace"]


@cli.group()
def trace() -> None:
    """Read the decision traces of past runs (JSONL traces in the data dir)."""


@trace.command("list")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many runs to show, newest first.",
)
@click.option("--pipeline", "pipeline_name", help="Only runs of this pipeline (its name).")
@click.option(
    "--status",
    type=click.Choice(["ok", "escalated", "failed"]),
    help="Only runs that ended so.",
)
@data_dir_option
@clean_errors
def trace_list(
    limit: int, pipeline_name: str | None, status: str | None, data_dir: str | None
) -> None:
    """List traced runs, newest first (--pipeline, --status to narrow them down)."""
    from orchestrator.traceview import list_runs

    runs = list_runs(data_dir_path(data_dir) / "traces")
    if not runs:
        click.echo("no readable traced runs yet; `orch run FILE` records one")
        return
    shown = [
        r
        for r in runs
        if (pipeline_name is None or r.pipeline == pipeline_name)
        and (status is None or r.status == status)
    ]
    if not shown:
        wanted = ", ".join(
            f"{k} {v!r}" for k, v in (("pipeline", pipeline_name), ("status", status)) if v
        )
        pipelines = sorted({r.pipeline for r in runs})
        click.echo(f"no traced run with {wanted} among {len(runs)}; their pipelines: {pipelines}")
        return
    for r in shown[:limit]:
        q = r.query if len(r.query) <= 50 else r.query[:47] + "..."
        click.echo(
            f"{r.run_id}  {r.started:%Y-%m-%d %H:%M:%S}  {r.pipeline:<16} {r.status:<9} "
            f"{r.intent:<10} ${r.cost_usd:.6f}  {q}"
        )


@trace.command("show")
@click.argument("run_id")
@data_dir_option
@clean_errors
def trace_show(run_id: str, data_dir: str | None) -> None:
    """Show RUN_ID (or a unique prefix) as a tree of spans and decisions."""
    from orchestrator.traceview import find_run, load_spans, render_run

    path = find_run(data_dir_path(data_dir) / "traces", run_id)
    click.echo(render_run(load_spans(path)))
