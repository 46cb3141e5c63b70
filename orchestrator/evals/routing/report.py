"""``orch eval routing``: every policy over the cost-weight sweep on several seeds, spread
over worker processes, and the report of their frontiers, regrets and verdicts.

A seed's numbers are a function of the seed alone (``simulation.evaluate_seed``), so the
seeds run in any order or process give the same report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents import RoutingSet
from orchestrator.errors import InputError
from orchestrator.evals.routing.frontier import above, curve, dominates, pareto
from orchestrator.evals.routing.simulation import (
    LAMBDAS,
    ONLINE,
    POLICIES,
    ReplayContext,
    SeedResult,
    evaluate_seed,
    lexical,
)

__all__ = ["RoutingReport", "at_half_cost", "evaluate_routing"]


@dataclass(kw_only=True)
class RoutingReport:
    """Results over all seeds (means over seeds of per-query means)."""

    data: str
    queries: int
    evaluated: int
    seeds: int
    best_single: dict[str, Any]
    oracle: dict[str, float]
    points: dict[str, list[list[float]]] = field(default_factory=dict)
    """policy -> [[cost, quality, lam, regret], ...], one point per lambda of the sweep;
    regret: the oracle's mean reward per query at that lambda minus the policy's."""
    learning_regret: dict[str, list[float]] = field(default_factory=dict)
    """policy learning online -> its regret per training query while it learned (the
    oracle's mean reward minus the one it earned, exploring), one per lambda."""
    at_half_cost: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    """policy -> (mean, standard error) over seeds of its quality at half the best single
    model's cost, relative to that model's quality, each seed's own frontier read as a curve
    (``at_half_cost``); the precision of the 0.98x target's verdict. NaN: in some seed the
    policy has no point that cheap; standard error None with one seed."""

    @property
    def frontier(self) -> dict[str, list[list[float]]]:
        """Each policy's Pareto frontier: its sweep points no other of its points beats."""
        return {k: pareto(v) for k, v in self.points.items()}

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape (frontier points as [cost, quality])."""
        return {
            "data": self.data,
            "queries": self.queries,
            "evaluated_per_seed": self.evaluated,
            "seeds": self.seeds,
            "best_single": self.best_single,
            "oracle": self.oracle,
            "frontier": {k: [[c, q] for c, q, *_ in v] for k, v in self.frontier.items()},
            "points": self.points,
            "learning_regret": self.learning_regret,
            "lambdas": list(LAMBDAS),
            "at_half_cost": {
                k: {"quality_vs_best": None if math.isnan(m) else m, "standard_error": se}
                for k, (m, se) in self.at_half_cost.items()
            },
            "targets": self.targets() | self.targets("ours_warm"),
        }

    def targets(self, policy: str = "ours") -> dict[str, Any]:
        """The two acceptance checks for ``policy``: cheap near-best quality, and on or
        above kNN. The keys name ``policy`` (``ours_98pct_quality_at_half_cost``, ...)."""
        bq, bc = self.best_single["quality"], self.best_single["cost"]
        mine, knn = self.frontier.get(policy, []), self.frontier.get("knn", [])
        hits = [p for p in mine if p[1] >= 0.98 * bq and p[0] <= 0.5 * bc]
        below = above(mine, knn, 1.0 / max(self.evaluated, 1))
        return {
            f"{policy}_98pct_quality_at_half_cost": bool(hits),
            f"{policy}_points_meeting_it": [[c, q] for c, q, *_ in hits],
            f"{policy}_on_or_above_knn": below is None,
            f"{policy}_below_knn_at": below,
            f"{policy}_on_or_above_knn_at_sweep_points": dominates(mine, knn),
        }


_worker: tuple[RoutingSet, ReplayContext, np.ndarray, float, int] | None = None
"""A worker process's set, its contexts and kNN vectors (built once per process)."""


def _start_worker(data: RoutingSet, train_share: float, k: int) -> None:
    """(In a worker process, once) build what every seed of ``data`` reads."""
    global _worker
    _worker = (data, ReplayContext(data), lexical(data.prompts), train_share, k)


def _seed_in_worker(seed: int) -> SeedResult:
    assert _worker is not None, "_start_worker runs first"
    data, ctx, lex, train_share, k = _worker
    return evaluate_seed(data, ctx, lex, seed, train_share, k)


def evaluate_routing(
    data: RoutingSet,
    *,
    seeds: int = 3,
    train_share: float = 0.6,
    k: int = 25,
    jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> RoutingReport:
    """Run every policy over the lambda sweep on ``seeds`` shuffles of ``data``, the
    seeds spread over ``jobs`` processes (the same numbers as one process gives)."""
    if not 0 < train_share < 1:
        raise ValueError("train_share must be between 0 and 1")
    if seeds < 1 or jobs < 1:
        raise ValueError("seeds and jobs must be at least 1")
    say = progress or (lambda _: None)
    jobs = min(jobs, seeds)
    n = len(data.query_ids)
    say(
        f"{seeds} seed(s), each {len(LAMBDAS)} lambdas x {len(POLICIES)} policies"
        + (f", {jobs} processes" if jobs > 1 else "")
    )
    started = time.perf_counter()
    results: dict[int, SeedResult] = {}

    def done(seed: int, result: SeedResult) -> None:
        results[seed] = result
        finished = len(results)
        elapsed = time.perf_counter() - started
        # a process works through one seed at a time: rounds of ``jobs`` seeds
        per_round = elapsed / math.ceil(finished / jobs)
        left = per_round * math.ceil((seeds - finished) / jobs)
        say(
            f"seed {seed + 1}/{seeds} done"
            + (f", {finished} of {seeds} finished" if jobs > 1 else "")
            + f" ({elapsed:.0f} s so far"
            + (f", about {_duration(left)} left)" if left else ")")
        )

    if jobs == 1:
        ctx, lex = ReplayContext(data), lexical(data.prompts)
        for seed in range(seeds):
            done(seed, evaluate_seed(data, ctx, lex, seed, train_share, k))
    else:
        with ProcessPoolExecutor(
            max_workers=jobs, initializer=_start_worker, initargs=(data, train_share, k)
        ) as pool:
            futures = {pool.submit(_seed_in_worker, seed): seed for seed in range(seeds)}
            try:
                for future in as_completed(futures):
                    done(futures[future], future.result())
            except BrokenProcessPool:
                raise InputError(
                    f"a process of the evaluation ended abruptly (out of memory?); run again "
                    f"with fewer processes than {jobs} (--jobs 1 runs in this one)"
                ) from None
            except BaseException:  # an error or Ctrl-C: do not start the seeds left
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    per_seed = [results[seed] for seed in range(seeds)]
    models = [r.single[0] for r in per_seed]
    best_model = max(set(models), key=models.count)
    report = RoutingReport(
        data=data.name,
        queries=n,
        evaluated=n - int(n * train_share),
        seeds=seeds,
        best_single={
            "model": best_model,
            "quality": float(np.mean([r.single[1] for r in per_seed])),
            "cost": float(np.mean([r.single[2] for r in per_seed])),
        },
        oracle={
            "quality": float(np.mean([r.points["oracle"][0][1] for r in per_seed])),
            "cost": float(np.mean([r.points["oracle"][0][0] for r in per_seed])),
        },
    )
    for name in POLICIES:
        report.points[name] = [
            [
                float(np.mean([r.points[name][li][0] for r in per_seed])),
                float(np.mean([r.points[name][li][1] for r in per_seed])),
                lam,
                float(np.mean([r.points[name][li][2] for r in per_seed])),
            ]
            for li, lam in enumerate(LAMBDAS)
        ]
    for name in POLICIES:
        report.at_half_cost[name] = at_half_cost(per_seed, name)
    for name in ONLINE:
        report.learning_regret[name] = [
            float(np.mean([r.learning[name][li] for r in per_seed])) for li in range(len(LAMBDAS))
        ]
    return report


def at_half_cost(per_seed: Sequence[SeedResult], name: str) -> tuple[float, float | None]:
    """Mean and standard error over seeds of ``name``'s quality at half the seed's best
    single model's held-out cost, relative to that model's held-out quality, each seed's
    frontier read as a curve (``curve``). NaN if some seed has no point that cheap (or
    its best model is never right, so no ratio exists).

    The report's frontiers average each lambda's point over seeds first; this reads every
    seed on its own, so the spread between seeds says how far the mean can be trusted."""
    ratios = []
    for r in per_seed:
        _, quality, cost = r.single
        front = pareto([(c, q) for c, q, _ in r.points[name]])
        ratios.append(curve(front, 0.5 * cost) / quality if quality > 0 else math.nan)
    arr = np.array(ratios)
    if not np.isfinite(arr).all():
        return math.nan, None
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else None
    return float(arr.mean()), se


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
