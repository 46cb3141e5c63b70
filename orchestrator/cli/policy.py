"""``orch policy``: show, warm-start and reset a pipeline's learned policy."""

from __future__ import annotations

import difflib

import click

from orchestrator.cli.common import (
    clean_errors,
    cli,
    data_dir_option,
    data_dir_path,
    pipeline_option,
    pool_option,
)
from orchestrator.cli.wiring import policy_store, state_url_option
from orchestrator.errors import InputError

__all__ = ["policy"]


@cli.group()
def policy() -> None:
    """Inspect, warm-start or reset the learned assignment policy."""


def _pipeline_named(arg: str, pipeline_name: str | None) -> str:
    """The pipeline name ``arg`` stands for: itself, or the name of the pipeline defined
    in ``arg`` if it is a Python file (``pipeline_name`` picks one of several)."""
    if not arg.endswith(".py"):
        return arg
    from orchestrator.definition.loader import load_pipeline

    return load_pipeline(arg, pipeline_name)[0].name


@policy.command("show")
@click.argument("pipeline", required=False)
@pipeline_option
@state_url_option
@data_dir_option
@clean_errors
def policy_show(
    pipeline: str | None, pipeline_name: str | None, state_url: str | None, data_dir: str | None
) -> None:
    """Per-arm LinUCB statistics of PIPELINE (a pipeline name, or the file that defines
    it), or the pipelines with saved state."""
    import numpy as np

    from orchestrator.routing.features import DIM
    from orchestrator.routing.linucb import ALPHA

    home = data_dir_path(data_dir)
    store = policy_store(home, state_url)
    if pipeline is None:
        names = store.pipelines()
        click.echo(
            "\n".join(names) if names else "no learned policy yet; `orch run FILE` learns one"
        )
        return
    pipeline = _pipeline_named(pipeline, pipeline_name)
    if not store.exists(pipeline):
        known = store.pipelines()
        close = difflib.get_close_matches(pipeline, known, n=1)
        raise InputError(
            f"no learned policy for {pipeline!r} in {state_url or home}; "
            + (f"did you mean {close[0]!r}? " if close else "")
            + (f"known: {', '.join(known)}" if known else "`orch run FILE` learns one")
        )
    bandit, pheromone, runs = store.load(pipeline, dim=DIM, alpha=ALPHA)
    click.echo(f"pipeline {pipeline}: {runs} runs learned from, {len(bandit.arms)} arms")
    click.echo("LinUCB arms (pulls, weight on the bias feature, |theta|):")
    for i, arm in enumerate(bandit.arms):
        click.echo(
            f"  {arm:<32} pulls {int(bandit.pulls[i]):>5}  bias {bandit.theta[i][0]:+.3f}"
            f"  |theta| {float(np.linalg.norm(bandit.theta[i])):.3f}"
        )
    for intent in pheromone.intents():
        levels = pheromone.levels(intent)
        ranked = sorted(zip(pheromone.arms, levels, strict=True), key=lambda t: -t[1])
        shown = ", ".join(f"{a} {v:.3f}" for a, v in ranked[:6])
        click.echo(f"pheromone[{intent}]: {shown}")


@policy.command("warm")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(file_okay=False),
    help="A routing-set folder of recorded model outcomes (queries.jsonl + routing.csv), "
    "e.g. examples/data/mmlupro-sample.",
)
@click.option("--stage", help="The stage the records stand for [default: the one with roles].")
@pipeline_option
@pool_option
@click.option(
    "--cost-weight",
    type=click.FloatRange(min=0),
    help="Reward = quality - COST_WEIGHT * cost in USD; use the one your runs use "
    "[default: as `orch run`: 1/budget if the pipeline has one, else 20].",
)
@state_url_option
@data_dir_option
@clean_errors
def policy_warm(
    file: str,
    data_path: str,
    stage: str | None,
    pipeline_name: str | None,
    pool_file: str | None,
    cost_weight: float | None,
    state_url: str | None,
    data_dir: str | None,
) -> None:
    """Teach FILE's policy from recorded outcomes of its models before it runs.

    Every record of a model answering a query is credited to the stage's arms of that
    model, with the reward a run would have earned; the bandit then starts from what the
    records show instead of exploring. Pool models match records by their profile's
    model (as replay entries name it) or their name.
    """
    from agents import ModelPool, load_routing_set
    from orchestrator.definition.loader import load_pipeline
    from orchestrator.execution import Runtime

    pipeline, _ = load_pipeline(file, pipeline_name)
    pool = ModelPool.from_file(pool_file) if pool_file else None
    data = load_routing_set(data_path)
    home = data_dir_path(data_dir)
    runtime = Runtime(
        pipeline,
        pool=pool,
        data_dir=home,
        cost_weight=cost_weight,
        policy_store=policy_store(home, state_url) if state_url else None,
    )
    try:
        done = runtime.warm_start(data, stage=stage)
    finally:
        runtime.close()
    click.echo(
        f"warm-started {pipeline.name}, stage {done.stage!r}: {done.queries} recorded "
        f"queries of {data.name!r}, {done.credits} credits at cost weight {runtime.cost_weight:g}"
    )
    for arm, n in done.arms.items():
        click.echo(f"  {arm:<32} {n:>6} credits")
    if done.unmatched:
        click.echo(f"  no records of: {', '.join(done.unmatched)} (their arms still explore)")
    click.echo(f"`orch policy show {pipeline.name}` shows the learned statistics")


@policy.command("reset")
@click.argument("pipeline")
@pipeline_option
@state_url_option
@data_dir_option
@clean_errors
def policy_reset(
    pipeline: str, pipeline_name: str | None, state_url: str | None, data_dir: str | None
) -> None:
    """Forget what PIPELINE's policy learned (a pipeline name, or the file that defines it)."""
    store = policy_store(data_dir_path(data_dir), state_url)
    pipeline = _pipeline_named(pipeline, pipeline_name)
    click.echo(
        f"reset {pipeline}" if store.reset(pipeline) else f"{pipeline} had no learned policy"
    )
