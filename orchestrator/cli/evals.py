"""``orch eval``: the evaluations (routing replay, memory, self-healing, compound)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import click

from orchestrator.cli.common import (
    clean_errors,
    cli,
    output_option,
    write_json,
)
from orchestrator.errors import InputError

__all__ = ["eval_group"]

REGRET_AT = (0.0, 0.1, 1.0, 10.0)
"""Cost weights at which `orch eval routing` prints each policy's regret (the nearest of
its sweep's)."""


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
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes to spread the seeds over [default: one per CPU, at most one per seed]; "
    "the results are the same for any number.",
)
@output_option("--json", "json_out", "the results as JSON")
@output_option("--plot", "plot_out", "the cost-quality frontiers as a PNG (needs matplotlib)")
@clean_errors
def eval_routing(
    data_dir: str,
    seeds: int,
    train_share: float,
    jobs: int | None,
    json_out: str | None,
    plot_out: str | None,
) -> None:
    """Replay recorded model outcomes through every routing policy; print the frontiers."""
    from agents import load_routing_set
    from orchestrator.evals.routing import LAMBDAS, can_plot, evaluate_routing, plot_frontiers

    if plot_out:
        can_plot()  # before the evaluation, not after it
    data = load_routing_set(data_dir)
    click.echo(f"{data.name}: {len(data.query_ids)} queries x {len(data.models)} models", err=True)
    report = evaluate_routing(
        data,
        seeds=seeds,
        train_share=train_share,
        jobs=jobs or os.cpu_count() or 1,
        progress=lambda m: click.echo(m, err=True),
    )
    b, o = report.best_single, report.oracle
    click.echo(
        f"best single model: {b['model']}  quality {b['quality']:.3f}  ${b['cost']:.6f}/query"
    )
    click.echo(f"oracle:            quality {o['quality']:.3f}  ${o['cost']:.6f}/query")
    for name, pts in report.frontier.items():
        shown = "  ".join(f"(${c:.6f}, {q:.3f})" for c, q, *_ in pts)
        click.echo(f"{name:<15} {shown}")
    at = [min(range(len(LAMBDAS)), key=lambda i: abs(LAMBDAS[i] - w)) for w in REGRET_AT]
    click.echo(
        "regret against the oracle (its mean reward per query minus the policy's) at lambda "
        + " / ".join(f"{LAMBDAS[i]:g}" for i in at)
        + ":"
    )
    for name, pts in report.points.items():
        click.echo(f"  {name:<15} " + " / ".join(f"{pts[i][3]:.4f}" for i in at))
    click.echo("and per training query while learning (choosing as they learn):")
    for name, regrets in report.learning_regret.items():
        click.echo(f"  {name:<15} " + " / ".join(f"{regrets[i]:.4f}" for i in at))
    click.echo(
        "at half the best model's cost, each seed's frontier read as a curve (quality as a "
        f"share of the best model's; mean ± standard error over {report.seeds} seed(s)):"
    )
    for name, (mean, se) in report.at_half_cost.items():
        if math.isnan(mean):
            click.echo(f"  {name:<15} no point that cheap in some seed")
        else:
            click.echo(f"  {name:<15} {mean:.4f}x" + (f" ± {se:.4f}" if se is not None else ""))
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
        write_json(json_out, report.as_json())
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
@clean_errors
def eval_memory(data_dir: str, budget_share: float, json_out: str | None) -> None:
    """Evidence recall and context tokens of memory tier policies vs full context."""
    from orchestrator.evals.memory import evaluate_memory, load_conversations

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
        write_json(json_out, report.as_json())


@eval_group.command("selfheal")
@output_option("--json", "json_out", "the totals per controller and every scenario as JSON")
@click.option(
    "--scenario",
    "only",
    multiple=True,
    help="Run only scenarios whose name contains this text (repeatable), e.g. --scenario dag/.",
)
@clean_errors
def eval_selfheal(json_out: str | None, only: tuple[str, ...]) -> None:
    """Break tool graphs and models in 21 scenarios; compare ours, ReAct and a static flow.

    Reports per controller: correct outcomes, control-plane model calls, silent failures
    (a wrong answer reported as success) and wall time.
    """
    from orchestrator.evals.selfheal import SCENARIOS, evaluate_selfheal

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
        write_json(json_out, report.as_json())


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
@clean_errors
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
    from orchestrator.evals.compound import DEFAULT_FILES, evaluate_compound

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
        write_json(json_out, report.as_json())
