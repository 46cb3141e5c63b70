"""What the routing experiment scripts share: the kNN reference and the printed summary.

The splits and lambda sweep are ``orch eval routing``'s (``orchestrator/evals/routing/``);
these scripts compare variants of a policy on them, so they read its frontiers the same way.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from agents import RoutingSet, load_routing_set
from orchestrator.evals.routing import frontier as F
from orchestrator.evals.routing import simulation as R

K = 25
"""Neighbours of the kNN router, as in ``orch eval routing``."""
TRAIN_SHARE = 0.6


@dataclass(frozen=True)
class Split:
    """One seed's shuffle of a routing set, as ``orch eval routing`` makes it."""

    rng: np.random.Generator
    train: np.ndarray
    test: np.ndarray
    train_cost: np.ndarray
    """Each model's mean cost over the training queries."""
    c_ref: float
    """The best single model's (on the training queries) mean training cost."""

    def knn_picks(self, est: np.ndarray, available: np.ndarray, lam: float) -> np.ndarray:
        """The kNN router's choice per test query: estimated quality minus lam times the
        model's mean training cost, over the models with a record."""
        value = est - lam * self.train_cost / self.c_ref
        return np.argmax(np.where(available[self.test], value, -np.inf), axis=1)


Accumulated = dict[str, list[list[tuple[float, float]]]]
"""policy -> per lambda of the sweep, its (mean cost, mean quality) per seed."""


def load_args(doc: str) -> tuple[RoutingSet, int]:
    """The scripts' command line: a routing-set folder and ``--seeds``; the loaded set."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("data", help="a routing-set folder (queries.jsonl + routing.csv)")
    ap.add_argument("--seeds", type=int, default=5, help="shuffles to average (default 5)")
    args = ap.parse_args()
    return load_routing_set(args.data), args.seeds


def sweep(
    data: RoutingSet,
    seeds: int,
    per_seed: Callable[[Split], Callable[[float], Mapping[str, np.ndarray]]],
    lambdas: Sequence[float] = R.LAMBDAS,
) -> tuple[Accumulated, tuple[float, float], int]:
    """Over ``seeds`` shuffles and every lambda of ``lambdas`` (``orch eval routing``'s
    sweep unless given), the mean cost and quality on the held-out queries of what
    ``per_seed(split)(lam)`` picks (policy -> model per test query). Returns them, the
    best single model's (quality, cost), and the held-out count."""
    q, c = data.quality, data.cost
    n = len(data.query_ids)
    cut = int(n * TRAIN_SHARE)
    acc: Accumulated = {}
    best_q, best_c = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        train, test = order[:cut], order[cut:]
        train_c = np.nanmean(c[train], axis=0)
        best = int(np.nanargmax(np.nanmean(q[train], axis=0)))
        best_q.append(float(np.nanmean(q[test, best])))
        best_c.append(float(np.nanmean(c[test, best])))
        choose = per_seed(Split(rng, train, test, train_c, float(train_c[best])))
        rows = np.arange(len(test))
        for li, lam in enumerate(lambdas):
            for name, pick in choose(lam).items():
                point = (float(np.mean(c[test][rows, pick])), float(np.mean(q[test][rows, pick])))
                acc.setdefault(name, [[] for _ in lambdas])[li].append(point)
        print(f"seed {seed + 1}/{seeds} done", file=sys.stderr, flush=True)
    return acc, (float(np.mean(best_q)), float(np.mean(best_c))), n - cut


def knn_quality(
    vectors: np.ndarray, quality: np.ndarray, train: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """(test, models): each model's mean recorded quality over the K training queries most
    similar to each test query (rows of ``vectors`` are unit length); a model none of them
    recorded gets its mean over all training queries."""
    nearest = np.argpartition(-(vectors[test] @ vectors[train].T), kth=K, axis=1)[:, :K]
    with warnings.catch_warnings():  # a model no neighbour has a record for: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        est = np.nanmean(quality[train][nearest], axis=1)
        fallback = np.nanmean(quality[train], axis=0)
    missing = np.isnan(est)
    est[missing] = np.broadcast_to(fallback, est.shape)[missing]
    return est


def print_summary(
    name: str,
    acc: Mapping[str, Sequence[Sequence[tuple[float, float]]]],
    best: tuple[float, float],
    *,
    seeds: int,
    evaluated: int,
    reference: str,
) -> None:
    """Per policy in ``acc`` (lambda -> its (cost, quality) per seed): the best quality
    relative to the best single model among the seed-averaged Pareto points that cost at
    most half of it, its frontier read as a curve at 0.5x and 0.3x that cost, and where
    it first lies below ``reference``'s curve (``frontier.above``)."""
    bq, bc = best
    fronts = {
        k: F.pareto(
            [[float(np.mean([c for c, _ in p])), float(np.mean([q for _, q in p]))] for p in per]
        )
        for k, per in acc.items()
    }
    print(f"{name}: best single model {bq:.4f} at ${bc:.6f} per query, {seeds} seeds")
    width = max(len(k) for k in fronts) + 2
    for policy, front in fronts.items():
        half = [p for p in front if p[0] <= 0.5 * bc]
        top = max(half, key=lambda p: p[1]) if half else None
        best_text = f"{top[1] / bq:.4f}x at {top[0] / bc:.2f}x" if top else "none"
        below = None if policy == reference else F.above(front, fronts[reference], 1 / evaluated)
        where = "no" if below is None else f"at ${below[0]:.6f} ({below[1]:.4f} vs {below[2]:.4f})"
        print(
            f"  {policy:{width}s} best <= 0.5x cost: {best_text} | curve at 0.5x: "
            f"{F.curve(front, 0.5 * bc) / bq:.4f}x, at 0.3x: {F.curve(front, 0.3 * bc) / bq:.4f}x"
            f" | below {reference}: {where}"
        )
