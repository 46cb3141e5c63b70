"""The routing policy with the cost taken as known: an experiment, not the shipped policy.

Run:  python tests/benchmarks/routing_known_cost.py ../shared/data/routing/routerbench [--seeds 5]

Same splits and lambda sweep as ``orch eval routing`` (seed s: shuffle with
default_rng(s), learn online on 60% with bandit feedback, evaluate frozen and greedy on
the rest). Compared, each as shipped and as a variant:

- shipped (``simulation.run_online`` itself): LinUCB (and, for "ours", the fading
  pheromone term) learns the reward ``quality - lam * cost / c_ref`` of the model it chose;
- known cost: LinUCB learns quality only, and the score subtracts ``lam / c_ref`` times
  the model's running mean cost over its own calls so far (an untried model counts as
  free until it is tried). kNN, the reference, subtracts each model's mean training cost;
- query cost: LinUCB learns quality only, and the score subtracts ``lam / c_ref`` times
  this query's expected cost on the model: its prompt tokens at the model's input price
  plus the model's running mean of output tokens over its own calls (all calls' mean
  until it is tried) at its output price. Prices are configuration in a deployment (a
  pool file); here each model's two prices are fitted to its recorded costs.

Printed per policy: the best quality (relative to the best single model) among the
seed-averaged Pareto points that cost at most half the best single model, its frontier
read as a curve at exactly half, and where it first lies below kNN's curve (if it does).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from replay_common import (  # this folder: run as a script
    Split,
    knn_quality,
    load_args,
    print_summary,
    sweep,
)

from agents import RoutingSet
from orchestrator.evals.routing import simulation as R
from orchestrator.routing.linucb import LinUCB
from orchestrator.routing.pheromone import PheromoneTable

KINDS = (
    "ours",
    "ours_known_cost",
    "ours_query_cost",
    "linucb",
    "linucb_known_cost",
    "linucb_query_cost",
)


def prices(data: RoutingSet) -> np.ndarray:
    """(models, 2): each model's USD per input and per output token, least squares over
    its records (what a pool file states)."""
    out = np.zeros((len(data.models), 2))
    for a in range(len(data.models)):
        ok = ~np.isnan(data.cost[:, a])
        tokens = np.stack([data.input_tokens[ok, a], data.output_tokens[ok, a]], axis=1)
        out[a] = np.linalg.lstsq(tokens, data.cost[ok, a], rcond=None)[0]
    return out


def learn_known_cost(
    kind: str, data: RoutingSet, ctx: R.ReplayContext, train: np.ndarray, lam: float, c_ref: float
) -> Callable[[int, np.ndarray], int]:
    """The variant: ``_run_online`` for "ours" / "linucb", but LinUCB learns quality only
    and the score subtracts each model's running mean cost; its frozen greedy chooser."""
    n = len(data.models)
    per_query = kind.endswith("_query_cost")
    price = prices(data) if per_query else np.zeros((n, 2))
    out_tokens = np.zeros(n)
    bandit = LinUCB(ctx.dim, alpha=1.0)
    bandit.ensure_arms(list(data.models))
    pher = PheromoneTable()
    pher.ensure_arms(list(data.models))
    spent, calls = np.zeros(n), np.zeros(n)
    with_pher = kind.startswith("ours")

    def score(i: int, avail: np.ndarray, explore: bool) -> np.ndarray:
        s = bandit.scores(ctx.x[i])
        total = s.mean + (s.bonus if explore else 0.0)
        if per_query:
            mean_out = np.where(
                calls > 0, out_tokens / np.maximum(calls, 1), out_tokens.sum() / max(calls.sum(), 1)
            )
            expected = price[:, 0] * np.nan_to_num(data.input_tokens[i]) + price[:, 1] * mean_out
            total = total - lam * expected / c_ref
        else:
            total = total - lam * np.divide(spent, np.maximum(calls, 1)) / c_ref
        if with_pher:
            total = total + 0.5 * s.left * pher.levels(ctx.intents[i])
        return np.where(avail, total, -np.inf)

    for i in map(int, train):
        a = int(np.argmax(score(i, ctx.available[i], explore=True)))
        q, c = float(data.quality[i, a]), float(data.cost[i, a])
        r = q - lam * c / c_ref
        bandit.update(a, ctx.x[i], q)
        spent[a] += c
        calls[a] += 1
        out_tokens[a] += float(data.output_tokens[i, a])
        if with_pher:
            pher.update(ctx.intents[i], [a], q, r)
    return lambda i, avail: int(np.argmax(score(i, avail, explore=False)))


def main() -> None:
    data, seeds = load_args(__doc__)
    ctx, lex = R.ReplayContext(data), R.lexical(data.prompts)

    def per_seed(split: Split) -> Callable[[float], dict[str, np.ndarray]]:
        knn_q = knn_quality(lex, data.quality, split.train, split.test)

        def choose(lam: float) -> dict[str, np.ndarray]:
            picks = {"knn": split.knn_picks(knn_q, ctx.available, lam)}
            for kind in KINDS:
                given = (kind, data, ctx, split.train, lam, split.c_ref)
                learned = (
                    learn_known_cost(*given)
                    if kind.endswith(("_known_cost", "_query_cost"))  # else the shipped one
                    else R.run_online(*given, split.rng).choose
                )
                picks[kind] = np.array([learned(int(i), ctx.available[i]) for i in split.test])
            return picks

        return choose

    acc, best, evaluated = sweep(data, seeds, per_seed)
    print_summary(data.name, acc, best, seeds=seeds, evaluated=evaluated, reference="knn")


if __name__ == "__main__":
    main()
