"""Ours warm-started at cost weights of your choosing: is a target missed between two
points of ``orch eval routing``'s sweep, or not there at all?

Run:  python tests/benchmarks/routing_fine_sweep.py ../shared/data/routing/routerbench \
          --lambdas 0.061,0.062,0.063,0.064 [--seeds 10]

Same splits as ``orch eval routing`` (``replay_common.sweep``) and the same policy
(``routing_eval._run_online("ours_warm")``: LinUCB + pheromone credited with every
recorded outcome of the training queries, then frozen and greedy). Printed per lambda:
mean cost and quality on the held-out queries over the seeds, relative to the best
single model's (chosen on the training queries).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping

import numpy as np
from replay_common import Split, sweep  # this folder: run as a script

from agents import load_routing_set
from orchestrator import routing_eval as R


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="a routing-set folder (queries.jsonl + routing.csv)")
    ap.add_argument("--lambdas", required=True, help="comma-separated cost weights")
    ap.add_argument("--seeds", type=int, default=10, help="shuffles to average (default 10)")
    args = ap.parse_args()
    lambdas = [float(v) for v in args.lambdas.split(",")]
    data = load_routing_set(args.data)
    ctx = R._Context(data)

    def per_seed(split: Split) -> Callable[[float], Mapping[str, np.ndarray]]:
        def choose(lam: float) -> Mapping[str, np.ndarray]:
            learned = R._run_online(
                "ours_warm", data, ctx, split.train, lam, split.c_ref, split.rng
            )
            return {"ours_warm": np.array([learned(int(i), ctx.available[i]) for i in split.test])}

        return choose

    acc, (best_q, best_c), evaluated = sweep(data, args.seeds, per_seed, lambdas)
    print(f"{data.name}: {evaluated} held-out queries per seed, {args.seeds} seeds")
    for lam, pts in zip(lambdas, acc["ours_warm"], strict=True):
        cost = float(np.mean([x for x, _ in pts])) / best_c
        quality = float(np.mean([x for _, x in pts])) / best_q
        print(f"lambda {lam:<8g} cost {cost:.3f}x  quality {quality:.4f}x of the best model")


if __name__ == "__main__":
    main()
