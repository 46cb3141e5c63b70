"""``orch skills``: the skills a pipeline can call, and its tool graphs."""

from __future__ import annotations

import click

from orchestrator.cli.common import (
    clean_errors,
    cli,
    pipeline_option,
)

__all__ = ["skills"]


@cli.group()
def skills() -> None:
    """Inspect the skills agents can call."""


@skills.command("list")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@clean_errors
def skills_list(file: str | None) -> None:
    """List built-in and plugin skills, plus the @skill functions of FILE if given."""
    from skills import Skill, default_registry

    rows = [(e.skill, e.source) for e in default_registry()]
    if file:
        from orchestrator.definition.loader import load_module

        module = load_module(file)
        known = {s.name for s, _ in rows}
        rows += [
            (v, file) for v in vars(module).values() if isinstance(v, Skill) and v.name not in known
        ]
    width = max(len(s.name) for s, _ in rows)
    for s, source in sorted(rows, key=lambda r: (r[1] != file, r[1], r[0].name)):
        args = ", ".join(s.params)
        click.echo(f"{s.name:<{width}}  ({args}) -> {s.produces:<12} [{source}]  {s.description}")


@skills.command("graph")
@click.argument("file", type=click.Path(dir_okay=False))
@pipeline_option
@clean_errors
def skills_graph(file: str, pipeline_name: str | None) -> None:
    """Show the tool graph of every stage with a goal in FILE: weights, edges, plans."""
    from orchestrator.definition.loader import load_pipeline

    pipeline, _ = load_pipeline(file, pipeline_name)
    if not pipeline.tool_graphs:
        click.echo(f"pipeline {pipeline.name!r} has no stage with a goal, so no tool graph")
        return
    for (stage, role), graph in pipeline.tool_graphs.items():
        click.echo(f"stage {stage!r}, role {role!r}:")
        for line in graph.describe():
            click.echo("  " + line)
        for goal, lesser in pipeline.demotions.get((stage, role), {}).items():
            click.echo(f"  fallback goal {goal!r}:")
            for line in lesser.describe()[1:]:
                click.echo("  " + line)
