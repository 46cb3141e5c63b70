"""``orch trace``: the runs recorded as JSONL traces, and one run as a tree."""

from __future__ import annotations

import datetime as _dt
import re

import click

from orchestrator.cli.common import (
    clean_errors,
    cli,
    data_dir_option,
    data_dir_path,
)
from orchestrator.errors import InputError

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
    from orchestrator.tracing.viewer import list_runs

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
    from orchestrator.tracing.viewer import find_run, load_spans, render_run

    path = find_run(data_dir_path(data_dir) / "traces", run_id)
    click.echo(render_run(load_spans(path)))


_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _age(ctx: click.Context, param: click.Parameter, value: str | None) -> _dt.timedelta | None:
    if value is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", value.lower())
    if not m:
        raise click.BadParameter(
            f"{value!r} is not an age; write a number and a unit: 30m, 12h, 7d or 2w"
        )
    return _dt.timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


@trace.command("prune")
@click.option(
    "--older-than",
    "older_than",
    metavar="AGE",
    callback=_age,
    help="Remove runs that started more than AGE ago: 30m, 12h, 7d or 2w.",
)
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    metavar="N",
    help="Never remove the N newest runs; given alone, remove every run but them.",
)
@click.option("--pipeline", "pipeline_name", help="Only runs of this pipeline (its name).")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@data_dir_option
@clean_errors
def trace_prune(
    older_than: _dt.timedelta | None,
    keep: int | None,
    pipeline_name: str | None,
    dry_run: bool,
    data_dir: str | None,
) -> None:
    """Remove old run traces (--older-than AGE, --keep N or both) to free the disk.

    Each traced run is one file of 10-25 KB; nothing removes them but this command.
    Files that are not readable traces are left alone."""
    from orchestrator.tracing.viewer import prune_runs

    done = prune_runs(
        data_dir_path(data_dir) / "traces",
        older_than=older_than,
        keep=keep,
        pipeline=pipeline_name,
        dry_run=dry_run,
    )
    if dry_run:
        for r in done.removed[:20]:
            click.echo(f"{r.run_id}  {r.started:%Y-%m-%d %H:%M:%S}  {r.pipeline:<16} {r.status}")
        if len(done.removed) > 20:
            click.echo(f"... and {len(done.removed) - 20} more")
    verb = "would remove" if dry_run else "removed"
    left = "would be left" if dry_run else "left"
    n = len(done.removed)
    line = f"{verb} {n} traced run{'s' * (n != 1)} ({_size(done.freed_bytes)}); {done.left} {left}"
    if done.partials:
        line += f"; {verb} {len(done.partials)} left-over partial write(s)"
    click.echo(line)
    if done.failed:
        path, why = done.failed[0]
        more = f" (and {len(done.failed) - 1} more)" if len(done.failed) > 1 else ""
        raise InputError(
            f"could not remove {str(path)!r}: {why}{more}; check the folder's permissions"
        )
