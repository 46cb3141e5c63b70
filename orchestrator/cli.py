"""The ``orch`` command line. Heavy modules are imported inside commands, so --help is fast."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from orchestrator.errors import ConfigError, InputError

__all__ = ["main"]

TRACE_MODES = ("jsonl", "console", "otlp", "off")


def _clean_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """User mistakes exit 2 with one line on stderr, no traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConfigError, InputError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def _data_dir(value: str | None) -> Path:
    from orchestrator.paths import data_dir

    return data_dir(value)


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    envvar="ORCH_HOME",
    help="Local data directory for policy state, traces and checkpoints "
    "[default: $ORCH_HOME or ~/.local/share/orchestrator].",
)
pipeline_option = click.option(
    "--pipeline", "pipeline_name", help="Which pipeline, if FILE defines several."
)


def _output_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An output file's folder must exist and be writable, checked before a long
    evaluation starts rather than when its results are ready."""
    if value is None:
        return None
    folder = Path(value).expanduser().absolute().parent
    if not folder.is_dir():
        raise click.BadParameter(f"folder {folder} does not exist; create it or write elsewhere")
    if not os.access(folder, os.W_OK):
        raise click.BadParameter(f"folder {folder} is not writable; write elsewhere")
    return value


def output_option(flag: str, dest: str, what: str) -> Callable[[Any], Any]:
    """An option naming a file that a command writes ``what`` to, checked up front."""
    return click.option(
        flag,
        dest,
        type=click.Path(dir_okay=False),
        callback=_output_file,
        help=f"Write {what} to this file (its folder must exist).",
    )


def _write_json(path: str, data: Any) -> None:
    try:
        Path(path).write_text(json.dumps(data, indent=2))
    except OSError as exc:
        raise InputError(f"could not write {path}: {exc.strerror or exc}") from None


pool_option = click.option(
    "--pool",
    "pool_file",
    type=click.Path(dir_okay=False),
    help="Model pool file (TOML or JSON) [default: the pipeline's pool, else the built-in "
    "offline pool].",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orchestrator-runtime", prog_name="orch")
def cli() -> None:
    """Run learning multi-agent pipelines and read why they decided what they did."""


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
@_clean_errors
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
    from orchestrator.engine import Runtime, sqlite_checkpointer
    from orchestrator.errors import StoreUnavailable
    from orchestrator.loader import load_pipeline
    from orchestrator.telemetry import lost_spans, make_provider

    if pool_file and model:
        raise InputError("give either --pool or --model, not both")
    if resume_id and query is not None:
        raise InputError("--resume continues a run with its own query; drop --query")
    pipeline, _ = load_pipeline(file, pipeline_name)
    pool = ModelPool.from_file(pool_file) if pool_file else None
    if model is not None:
        pool = ModelPool.single_litellm(model)
        pool.check_models(where="--model")
    home = _data_dir(data_dir)
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
        try:
            result = (
                runtime.resume(resume_id, progress=show)
                if resume_id
                else runtime.run(query, scope=scope, progress=show)
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


@cli.group()
def skills() -> None:
    """Inspect the skills agents can call."""


@skills.command("list")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@_clean_errors
def skills_list(file: str | None) -> None:
    """List built-in and plugin skills, plus the @skill functions of FILE if given."""
    from skills import Skill, default_registry

    rows = [(e.skill, e.source) for e in default_registry()]
    if file:
        from orchestrator.loader import load_module

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
@_clean_errors
def skills_graph(file: str, pipeline_name: str | None) -> None:
    """Show the tool graph of every stage with a goal in FILE: weights, edges, plans."""
    from orchestrator.loader import load_pipeline

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
@_clean_errors
def trace_list(
    limit: int, pipeline_name: str | None, status: str | None, data_dir: str | None
) -> None:
    """List traced runs, newest first (--pipeline, --status to narrow them down)."""
    from orchestrator.traceview import list_runs

    runs = list_runs(_data_dir(data_dir) / "traces")
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
@_clean_errors
def trace_show(run_id: str, data_dir: str | None) -> None:
    """Show RUN_ID (or a unique prefix) as a tree of spans and decisions."""
    from orchestrator.traceview import find_run, load_spans, render_run

    path = find_run(_data_dir(data_dir) / "traces", run_id)
    click.echo(render_run(load_spans(path)))


@cli.group()
def policy() -> None:
    """Inspect, warm-start or reset the learned assignment policy."""


def _pipeline_named(arg: str, pipeline_name: str | None) -> str:
    """The pipeline name ``arg`` stands for: itself, or the name of the pipeline defined
    in ``arg`` if it is a Python file (``pipeline_name`` picks one of several)."""
    if not arg.endswith(".py"):
        return arg
    from orchestrator.loader import load_pipeline

    return load_pipeline(arg, pipeline_name)[0].name


@policy.command("show")
@click.argument("pipeline", required=False)
@pipeline_option
@data_dir_option
@_clean_errors
def policy_show(pipeline: str | None, pipeline_name: str | None, data_dir: str | None) -> None:
    """Per-arm LinUCB statistics of PIPELINE (a pipeline name, or the file that defines
    it), or the pipelines with saved state."""
    import numpy as np

    from orchestrator.features import DIM
    from orchestrator.policystore import PolicyStore

    home = _data_dir(data_dir)
    store = PolicyStore(home / "policy")
    if pipeline is None:
        names = store.pipelines()
        click.echo(
            "\n".join(names) if names else "no learned policy yet; `orch run FILE` learns one"
        )
        return
    pipeline = _pipeline_named(pipeline, pipeline_name)
    if not store.path(pipeline).exists():
        known = store.pipelines()
        raise InputError(
            f"no learned policy for {pipeline!r} in {home}; "
            + (f"known: {', '.join(known)}" if known else "`orch run FILE` learns one")
        )
    bandit, pheromone, runs = store.load(pipeline, dim=DIM, alpha=0.5)
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
@data_dir_option
@_clean_errors
def policy_warm(
    file: str,
    data_path: str,
    stage: str | None,
    pipeline_name: str | None,
    pool_file: str | None,
    cost_weight: float | None,
    data_dir: str | None,
) -> None:
    """Teach FILE's policy from recorded outcomes of its models before it runs.

    Every record of a model answering a query is credited to the stage's arms of that
    model, with the reward a run would have earned; the bandit then starts from what the
    records show instead of exploring. Pool models match records by their profile's
    model (as replay entries name it) or their name.
    """
    from agents import ModelPool, load_routing_set
    from orchestrator.engine import Runtime
    from orchestrator.loader import load_pipeline

    pipeline, _ = load_pipeline(file, pipeline_name)
    pool = ModelPool.from_file(pool_file) if pool_file else None
    data = load_routing_set(data_path)
    home = _data_dir(data_dir)
    runtime = Runtime(pipeline, pool=pool, data_dir=home, cost_weight=cost_weight)
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
@data_dir_option
@_clean_errors
def policy_reset(pipeline: str, pipeline_name: str | None, data_dir: str | None) -> None:
    """Forget what PIPELINE's policy learned (a pipeline name, or the file that defines it)."""
    from orchestrator.policystore import PolicyStore

    store = PolicyStore(_data_dir(data_dir) / "policy")
    pipeline = _pipeline_named(pipeline, pipeline_name)
    click.echo(
        f"reset {pipeline}" if store.reset(pipeline) else f"{pipeline} had no learned policy"
    )


@cli.group("eval")
def eval_group() -> None:
    """Evaluate the runtime's mechanisms offline on recorded data."""


@eval_group.command("routing")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="A routing-set folder (queries.jsonl + routing.csv), e.g. ../shared/data/routing/mmlupro.",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Shuffles of the queries; results are means over seeds.",
)
@click.option(
    "--train-share",
    type=click.FloatRange(0.05, 0.95),
    default=0.6,
    show_default=True,
    help="Share of each shuffle the policies learn from.",
)
@output_option("--json", "json_out", "the results as JSON")
@output_option("--plot", "plot_out", "the cost-quality frontiers as a PNG (needs matplotlib)")
@_clean_errors
def eval_routing(
    data_dir: str, seeds: int, train_share: float, json_out: str | None, plot_out: str | None
) -> None:
    """Replay recorded model outcomes through every routing policy; print the frontiers."""
    from agents import load_routing_set
    from orchestrator.routing_eval import can_plot, evaluate_routing, plot_frontiers

    if plot_out:
        can_plot()  # before the evaluation, not after it
    data = load_routing_set(data_dir)
    click.echo(f"{data.name}: {len(data.query_ids)} queries x {len(data.models)} models", err=True)
    report = evaluate_routing(
        data, seeds=seeds, train_share=train_share, progress=lambda m: click.echo(m, err=True)
    )
    b, o = report.best_single, report.oracle
    click.echo(
        f"best single model: {b['model']}  quality {b['quality']:.3f}  ${b['cost']:.6f}/query"
    )
    click.echo(f"oracle:            quality {o['quality']:.3f}  ${o['cost']:.6f}/query")
    for name, pts in report.frontier.items():
        shown = "  ".join(f"(${c:.6f}, {q:.3f})" for c, q, _ in pts)
        click.echo(f"{name:<15} {shown}")
    for name in ("ours", "ours_warm"):
        t = report.targets(name)
        below = t[f"{name}_below_knn_at"]
        click.echo(
            f"{name} >= 0.98x best quality at <= 0.5x its cost: "
            f"{t[f'{name}_98pct_quality_at_half_cost']}; {name} on or above kNN (frontiers "
            f"read as curves): {t[f'{name}_on_or_above_knn']}"
            + (f" (below at ${below[0]:.6f})" if below else "")
            + f"; at each of kNN's own points: {t[f'{name}_on_or_above_knn_at_sweep_points']}"
        )
    if json_out:
        _write_json(json_out, report.as_json())
    if plot_out:
        plot_frontiers(report, plot_out)


@eval_group.command("memory")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="A folder of LoCoMo-format conversation files (*.json), e.g. ../shared/data/locomo.",
)
@click.option(
    "--budget-share",
    type=click.FloatRange(0.01, 1.0),
    default=0.15,
    show_default=True,
    help="Context budget per question, as a share of the conversation's full context.",
)
@output_option("--json", "json_out", "the results as JSON")
@_clean_errors
def eval_memory(data_dir: str, budget_share: float, json_out: str | None) -> None:
    """Evidence recall and context tokens of memory tier policies vs full context."""
    from orchestrator.memory_eval import evaluate_memory, load_conversations

    convs = load_conversations(data_dir)
    click.echo(
        f"{len(convs)} conversations, {sum(len(c.questions) for c in convs)} questions",
        err=True,
    )
    report = evaluate_memory(
        convs, budget_share=budget_share, progress=lambda m: click.echo(m, err=True)
    )
    f = report.full_context
    click.echo(f"{'policy':<14} {'recall':>7} {'of full':>8} {'tokens':>8} {'of full':>8}  target")
    click.echo(f"{'full context':<14} {f['recall']:>7.3f} {1:>8.0%} {f['tokens']:>8.0f} {1:>8.0%}")
    for name, p in report.policies.items():
        click.echo(
            f"{name:<14} {p['recall']:>7.3f} {p['recall'] / f['recall']:>8.1%} "
            f"{p['tokens']:>8.0f} {p['tokens'] / f['tokens']:>8.1%}  {report.target(name)}"
        )
    click.echo("target: >= 90% of full-context recall at <= 15% of its tokens")
    if json_out:
        _write_json(json_out, report.as_json())


@eval_group.command("selfheal")
@output_option("--json", "json_out", "the totals per controller and every scenario as JSON")
@click.option(
    "--scenario",
    "only",
    multiple=True,
    help="Run only scenarios whose name contains this text (repeatable), e.g. --scenario dag/.",
)
@_clean_errors
def eval_selfheal(json_out: str | None, only: tuple[str, ...]) -> None:
    """Break tool graphs and models in 21 scenarios; compare ours, ReAct and a static flow.

    Reports per controller: correct outcomes, control-plane model calls, silent failures
    (a wrong answer reported as success) and wall time.
    """
    from orchestrator.selfheal_eval import SCENARIOS, evaluate_selfheal

    chosen = [s for s in SCENARIOS if not only or any(o in s.name for o in only)]
    if not chosen:
        raise InputError(
            f"no scenario matches {list(only)}; scenarios are named like "
            f"{SCENARIOS[0].name!r}, {SCENARIOS[-1].name!r}"
        )
    click.echo(f"{len(chosen)} scenarios x 3 controllers", err=True)
    report = evaluate_selfheal(chosen, progress=lambda m: click.echo(m, err=True))
    click.echo(f"{'controller':<10} {'correct':>8} {'llm calls':>10} {'silent':>7} {'wall s':>8}")
    for name, t in report.totals.items():
        click.echo(
            f"{name:<10} {int(t['correct']):>5}/{report.scenarios:<2} {int(t['llm_calls']):>10} "
            f"{int(t['silent_failures']):>7} {t['wall_s']:>8.3f}"
        )
    targets = report.targets()
    click.echo("targets: " + ", ".join(f"{k}={v}" for k, v in targets.items()))
    if json_out:
        _write_json(json_out, report.as_json())


@eval_group.command("compound")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--model",
    default="standard",
    show_default=True,
    help="The pool model that plays every agent in all three variants.",
)
@click.option(
    "--pool",
    "pool_file",
    type=click.Path(dir_okay=False),
    help="Model pool file (TOML or JSON), e.g. one with a real local or remote model "
    "[default: the built-in offline pool].",
)
@click.option(
    "--queries",
    type=click.IntRange(1),
    help="Use only the first N evaluation queries of each pipeline (real models are slow).",
)
@click.option("--no-gate", is_flag=True, help="Skip the scripted quality-drop scenario.")
@output_option("--json", "json_out", "the results as JSON")
@_clean_errors
def eval_compound(
    files: tuple[str, ...],
    model: str,
    pool_file: str | None,
    queries: int | None,
    no_gate: bool,
    json_out: str | None,
) -> None:
    """LLM calls, tokens and quality: hand-written LangGraph vs our fine vs compound mode.

    FILES are team pipelines that define langgraph_baseline(chat) and QUERIES [default:
    examples/due_diligence.py and examples/market_intel.py, from the repository root].
    Then a scripted judge drops the quality of merged calls over 4 agents on the largest
    pipeline and the run counts how many runs the quality gate takes to revert.
    """
    from agents import ModelPool
    from orchestrator.compound_eval import DEFAULT_FILES, evaluate_compound

    paths = files or DEFAULT_FILES
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise InputError(
            f"no pipeline file {missing[0]!r}; run from the repository root or pass team "
            "pipeline files (orch eval compound examples/due_diligence.py)"
        )
    pool = ModelPool.from_file(pool_file) if pool_file else None
    report = evaluate_compound(
        paths,
        pool=pool,
        model=model,
        queries=queries,
        gate=not no_gate,
        progress=lambda m: click.echo(m, err=True),
    )
    click.echo(
        f"{'pipeline':<15} {'agents':>6} {'variant':<10} {'calls':>6} {'in tok':>7} "
        f"{'out tok':>7} {'quality':>8}  modes"
    )
    for name, p in report.pipelines.items():
        for variant in ("langgraph", "fine", "compound"):
            v = p[variant]
            modes = " ".join(f"{m}x{n}" for m, n in v.get("modes", {}).items())
            click.echo(
                f"{name:<15} {p['agents']:>6} {variant:<10} {v['llm_calls']:>6} "
                f"{v['input_tokens']:>7} {v['output_tokens']:>7} {v['quality']:>8.3f}  {modes}"
            )
        click.echo(
            f"{'':<15} {'':>6} compound saves {report.savings(name):.1%} of LangGraph's "
            "input tokens per run"
        )
    g = report.gate
    if "timeline" in g:
        click.echo(
            f"gate: quality of merged calls over {g['limit_after_drop']} agents dropped at run "
            f"{g['drop_at_run']} of {g['pipeline']}; reverted after {g['runs_to_revert']} runs"
        )
    click.echo("targets: " + ", ".join(f"{k}={v}" for k, v in report.targets().items()))
    if json_out:
        _write_json(json_out, report.as_json())


def main() -> None:
    """Entry point of the ``orch`` script."""
    cli(prog_name="orch")
