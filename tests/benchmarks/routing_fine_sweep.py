"""Ours warm-started at cost weights of your choosing: is a target missed between two
points of ``orch eval routing``'s sweep, or not there at all?

Run:  python tests/benchmarks/routing_fine_sweep.py ../shared/data/routing/routerbench \
          --lambdas 0.061,0.062,0.063,0.064 [--seeds 10] [--context words+query]
      python tests/benchmarks/routing_fine_sweep.py ../shared/data/routing/routerbench \
          --grid 1.1 [--seeds 10] [--context words+query]

Same splits as ``orch eval routing`` (``replay_common.sweep``) and the same policy
(``routing_eval._run_online("ours_warm")``: LinUCB + pheromone credited with every
recorded outcome of the training queries, then frozen and greedy). ``--lambdas`` prints,
per lambda, mean cost and quality on the held-out queries over the seeds, relative to the
best single model's (chosen on the training queries), and the mean and standard error
over seeds of each seed's own quality ratio (so that the precision of a figure near a
target can be read). ``--grid R`` sweeps 0 and the
geometric grid from 0.02 to about 50 in steps of x R (x1.25 is ``orch eval routing``'s
own sweep, ``LAMBDAS``) and prints the summary of ``routing_context.py`` (best point at
<= 0.5x cost, the frontier read as a curve, kNN). ``--context words+query`` adds the
runtime's query features to the replay context, ``--context intent-words`` moves its word
buckets into a block per category (both in ``routing_context.py``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping

import numpy as np
from replay_common import Split, knn_quality, print_summary, sweep  # this folder: run as a script
from routing_context import _IntentWordsContext, _QueryContext

from agents import load_routing_set
from orchestrator.evals.routing import simulation as R


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="a routing-set folder (queries.jsonl + routing.csv)")
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--lambdas", help="comma-separated cost weights")
    which.add_argument("--grid", type=float, help="step of a geometric sweep, e.g. 1.1")
    ap.add_argument("--seeds", type=int, default=10, help="shuffles to average (default 10)")
    ap.add_argument(
        "--context",
        choices=("words", "words+query", "intent-words"),
        default="words",
        help="(default words)",
    )
    args = ap.parse_args()
    if args.grid is not None and args.grid <= 1:
        ap.error("--grid must be above 1")
    if args.lambdas:
        lambdas = [float(v) for v in args.lambdas.split(",")]
    elif args.grid == 1.25:  # orch eval routing's own sweep
        lambdas = list(R.LAMBDAS)
    else:
        steps = math.ceil(math.log(2500) / math.log(args.grid))  # 0.02 x 2500 = 50
        lambdas = [0.0, *(round(0.02 * args.grid**k, 5) for k in range(steps))]
    data = load_routing_set(args.data)
    base = R.ReplayContext(data)
    contexts = {
        "words": lambda: base,
        "words+query": lambda: _QueryContext(base, data),
        "intent-words": lambda: _IntentWordsContext(base, data),
    }
    ctx = contexts[args.context]()
    lex = R.lexical(data.prompts) if args.grid else None

    per_seed_best: list[float] = []  # the best single model's held-out quality, per seed

    def per_seed(split: Split) -> Callable[[float], Mapping[str, np.ndarray]]:
        est = knn_quality(lex, data.quality, split.train, split.test) if lex is not None else None
        best = int(np.nanargmax(np.nanmean(data.quality[split.train], axis=0)))
        per_seed_best.append(float(np.nanmean(data.quality[split.test, best])))

        def choose(lam: float) -> Mapping[str, np.ndarray]:
            learned = R.run_online(
                "ours_warm", data, ctx, split.train, lam, split.c_ref, split.rng
            ).choose
            picks = {
                "ours_warm": np.array([learned(int(i), base.available[i]) for i in split.test])
            }
            if est is not None:
                picks["knn"] = split.knn_picks(est, base.available, lam)
            return picks

        return choose

    acc, (best_q, best_c), evaluated = sweep(data, args.seeds, per_seed, lambdas)
    if args.grid:
        print_summary(
            f"{data.name} ({args.context}, sweep in x{args.grid:g} steps)",
            acc,
            (best_q, best_c),
            seeds=args.seeds,
            evaluated=evaluated,
            reference="knn",
        )
        return
    print(f"{data.name}: {evaluated} held-out queries per seed, {args.seeds} seeds")
    for lam, pts in zip(lambdas, acc["ours_warm"], strict=True):
        cost = float(np.mean([x for x, _ in pts])) / best_c
        quality = float(np.mean([x for _, x in pts])) / best_q
        ratios = np.array([x for _, x in pts]) / np.array(per_seed_best)
        se = float(ratios.std(ddof=1) / math.sqrt(len(ratios))) if len(ratios) > 1 else math.nan
        print(
            f"lambda {lam:<8g} cost {cost:.3f}x  quality {quality:.4f}x of the best model"
            f" (per seed: {ratios.mean():.4f}x ± {se:.4f} standard error)"
        )


if __name__ == "__main__":
    main()
