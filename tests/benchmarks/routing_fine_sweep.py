"""Ours warm-started at cost weights of your choosing: is a target missed between two
points of ``orch eval routing``'s sweep, or not there at all?

Run:  python tests/benchmarks/routing_fine_sweep.py ../shared/data/routing/routerbench \
          --lambdas 0.061,0.062,0.063,0.064 [--seeds 10]

Same splits as ``orch eval routing`` (seed s: shuffle with default_rng(s), 60% to learn
from, the rest held out) and the same policy (``routing_eval._run_online("ours_warm")``:
LinUCB + pheromone credited with every recorded outcome of the training queries, then
frozen and greedy). Printed per lambda: mean cost and quality on the held-out queries
over the seeds, relative to the best single model's (chosen on the training queries).
"""

from __future__ import annotations

import argparse

import numpy as np

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
    q, c = data.quality, data.cost
    n = len(data.query_ids)
    cut = int(n * 0.6)
    points: dict[float, list[tuple[float, float]]] = {lam: [] for lam in lambdas}
    best: list[tuple[float, float]] = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        train, test = order[:cut], order[cut:]
        b = int(np.nanargmax(np.nanmean(q[train], axis=0)))
        c_ref = float(np.nanmean(c[train, b]))
        best.append((float(np.nanmean(q[test, b])), float(np.nanmean(c[test, b]))))
        rows = np.arange(len(test))
        for lam in lambdas:
            choose = R._run_online("ours_warm", data, ctx, train, lam, c_ref, rng)
            pick = np.array([choose(int(i), ctx.available[i]) for i in test])
            points[lam].append(
                (float(np.mean(c[test][rows, pick])), float(np.mean(q[test][rows, pick])))
            )
    best_q = float(np.mean([x for x, _ in best]))
    best_c = float(np.mean([x for _, x in best]))
    print(f"{data.name}: {n - cut} held-out queries per seed, {args.seeds} seeds")
    for lam, pts in points.items():
        cost = float(np.mean([x for x, _ in pts])) / best_c
        quality = float(np.mean([x for _, x in pts])) / best_q
        print(f"lambda {lam:<8g} cost {cost:.3f}x  quality {quality:.4f}x of the best model")


if __name__ == "__main__":
    main()
