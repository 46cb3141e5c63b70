"""Evaluation of routing policies by replay of recorded model outcomes.

For each seed the recorded queries are shuffled and split: the policies learn online on the
first part, seeing only the outcome of the model they chose (bandit feedback, as in a live
run), and are then evaluated, frozen and greedy, on the rest. Every reported quality is the
mean per evaluated query and every cost the mean USD per evaluated query; no policy is ever
scored on a query it learned from. The kNN router (RouteLLM style) instead learns from the
full recorded table of the training queries, as a supervised router would, and so does
``ours_warm``: ours warm-started from that table (``Runtime.warm_start``), then frozen.

Reward for learning and choosing is ``quality - lam * cost / c_ref``, where c_ref is the
mean cost per query of the best single model on the training queries: ``lam`` is the
quality a user would give up to save one best-model query's worth of spend. A policy's
regret at ``lam`` is the oracle's mean reward per evaluated query (the best recorded model
for each query at that ``lam``) minus the policy's.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from agents import RoutingSet
from orchestrator.errors import InputError
from orchestrator.routing.intent import tokenize
from orchestrator.routing.linucb import ALPHA, LinUCB
from orchestrator.routing.pheromone import PheromoneTable

__all__ = ["LAMBDAS", "POLICIES", "RoutingReport", "can_plot", "evaluate_routing", "plot_frontiers"]

LAMBDAS = (0.0, *(round(0.02 * 1.25**k, 4) for k in range(36)))
"""The cost weights swept: 0, then a geometric grid from 0.02 to about 50 (x1.25 steps),
so that every policy's points span from its best quality down to the cheapest model's
cost without wide gaps."""
POLICIES = (
    "ours",
    "ours_warm",
    "linucb",
    "pheromone",
    "epsilon_greedy",
    "random",
    "cheapest",
    "knn",
)
"""``ours_warm`` is ours warm-started from the training queries' recorded outcomes of every
model (``Runtime.warm_start``), the information kNN learns from; the other learners get
bandit feedback only."""
ONLINE = ("ours", "linucb", "pheromone", "epsilon_greedy")
"""The policies that learn online, choosing as they go: their regret while learning is
reported too."""
_HASH_DIM = 4096


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
    (``_at_half_cost``); the precision of the 0.98x target's verdict. NaN: in some seed the
    policy has no point that cheap; standard error None with one seed."""

    @property
    def frontier(self) -> dict[str, list[list[float]]]:
        """Each policy's Pareto frontier: its sweep points no other of its points beats."""
        return {k: _pareto(v) for k, v in self.points.items()}

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
        below = _above(mine, knn, 1.0 / max(self.evaluated, 1))
        return {
            f"{policy}_98pct_quality_at_half_cost": bool(hits),
            f"{policy}_points_meeting_it": [[c, q] for c, q, *_ in hits],
            f"{policy}_on_or_above_knn": below is None,
            f"{policy}_below_knn_at": below,
            f"{policy}_on_or_above_knn_at_sweep_points": _dominates(mine, knn),
        }


def _pareto(points: Sequence[Sequence[float]]) -> list[list[float]]:
    """Points not beaten by a cheaper-or-equal point of higher quality, by rising cost."""
    out: list[list[float]] = []
    for p in sorted(points, key=lambda p: (p[0], -p[1])):
        if not out or p[1] > out[-1][1]:
            out.append(list(p))
    return out


def _curve(front: Sequence[Sequence[float]], cost: float, tol: float = 1e-9) -> float:
    """A frontier read as a curve at ``cost``: straight lines between its points, its best
    quality beyond its dearest point, its cheapest point's quality down to ``tol`` (a
    relative share) below that point's cost, -inf below that."""
    if not front or cost < front[0][0] * (1 - tol):
        return -math.inf
    for (c0, q0, *_), (c1, q1, *_) in itertools.pairwise(front):
        if cost <= c1:
            return q0 if c1 <= c0 else q0 + (q1 - q0) * (max(cost, c0) - c0) / (c1 - c0)
    return float(front[-1][1])


def _above(
    ours: Sequence[Sequence[float]], other: Sequence[Sequence[float]], resolution: float = 1e-9
) -> list[float] | None:
    """None if ``ours`` lies on or above ``other`` at every cost level, both read as curves
    (``_curve``), else the first [cost, ours' quality, other's quality] where it is below.

    Both curves are straight between their points, so checking at every point of either
    checks every cost. Curves rather than points: a sweep samples a continuous trade-off,
    and two sampled curves that interleave on a rising stretch would otherwise each "beat"
    the other at its own points, whichever lies above. ``resolution`` is what one query
    can change in a mean over the evaluated queries (1 / their number): a quality gap, or
    a relative cost gap, smaller than that is not one the data can show.
    """
    for c in sorted({p[0] for p in (*ours, *other)}):
        mine, theirs = _curve(ours, c, resolution), _curve(other, c, resolution)
        if mine < theirs - resolution:
            return [c, mine, theirs]
    return None


def _dominates(ours: Sequence[Sequence[float]], other: Sequence[Sequence[float]]) -> bool:
    """Whether, at every cost of ``other``'s points, some ours point costing no more is as
    good: the strict reading, at the sweep points only."""
    for c, q, *_ in other:
        best = max((oq for oc, oq, *_ in ours if oc <= c * (1 + 1e-9)), default=-math.inf)
        if best < q - 1e-9:
            return False
    return True


class _Context:
    """Per-query inputs shared by the policies.

    The context vector is a bias, the intent (the recorded category, as the intent router
    would label it) one-hot, and hashed query words: the runtime's feature ingredients,
    with an exact intent block because a routing set's categories are known up front.
    """

    def __init__(self, data: RoutingSet) -> None:
        cats = sorted(set(data.categories))
        col = {c: 1 + i for i, c in enumerate(cats)}
        words = 16
        self.dim = 1 + len(cats) + words
        x = np.zeros((len(data.prompts), self.dim))
        x[:, 0] = 1.0
        for i, (p, c) in enumerate(zip(data.prompts, data.categories, strict=True)):
            x[i, col[c]] = 1.0
            toks = tokenize(p)
            for t in toks:
                x[i, 1 + len(cats) + zlib.crc32(t.encode()) % words] += 1.0 / max(len(toks), 1)
        self.x = x
        self.intents = list(data.categories)
        self.available = ~np.isnan(data.quality)


def _lexical(prompts: Sequence[str]) -> np.ndarray:
    """Hashed tf-idf vectors (rows L2-normalised) for the kNN router."""
    rows = [tokenize(p) for p in prompts]
    df: dict[int, int] = {}
    hashed = []
    for toks in rows:
        h = [zlib.crc32(t.encode()) % _HASH_DIM for t in toks]
        hashed.append(h)
        for j in set(h):
            df[j] = df.get(j, 0) + 1
    n = len(rows)
    idf = np.zeros(_HASH_DIM, dtype=np.float32)
    for j, d in df.items():
        idf[j] = math.log(1 + n / d)
    m = np.zeros((n, _HASH_DIM), dtype=np.float32)
    for i, h in enumerate(hashed):
        for j in h:
            m[i, j] += 1.0
    m *= idf
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.maximum(norms, 1e-9)


Chooser = Callable[[int, np.ndarray], int]


class _Learned(NamedTuple):
    """A policy after its training stream."""

    choose: Chooser
    """Its frozen, greedy choice of a model for a query (index, available models)."""
    earned: float | None
    """Its mean reward per training query while it learned online (None: it learned
    offline, from the recorded table)."""


def _run_online(
    kind: str,
    data: RoutingSet,
    ctx: _Context,
    train: np.ndarray,
    lam: float,
    c_ref: float,
    rng: np.random.Generator,
    alpha: float = ALPHA,
    weight: float = 0.5,
) -> _Learned:
    """Learn ``kind`` on the training stream, choosing as it goes (bandit feedback).

    ``ours_warm`` instead credits every recorded (training query, model) outcome in one
    batch, as ``Runtime.warm_start`` does, and then chooses as ours."""
    n_models = len(data.models)
    bandit = LinUCB(ctx.dim, alpha=alpha)
    bandit.ensure_arms(list(data.models))
    pher = PheromoneTable()
    pher.ensure_arms(list(data.models))
    means = np.zeros(n_models)
    pulls = np.zeros(n_models)

    def reward(i: int, a: int) -> float:
        return float(data.quality[i, a] - lam * data.cost[i, a] / c_ref)

    if kind == "ours_warm":
        at, arm = np.nonzero(ctx.available[train])
        rows = train[at]
        bandit.update_many(
            arm.tolist(), ctx.x[rows], data.quality[rows, arm] - lam * data.cost[rows, arm] / c_ref
        )
        kind, train = "ours", train[:0]  # chosen as ours; nothing left to learn online

    def score(i: int, avail: np.ndarray, explore: bool) -> np.ndarray:
        if kind in ("ours", "linucb"):
            s = bandit.scores(ctx.x[i])
            total = s.mean + (s.bonus if explore else 0.0)
            if kind == "ours":  # as AssignmentPolicy: pheromone fades as the arm learns
                total = total + weight * s.left * pher.levels(ctx.intents[i])
            return np.where(avail, total, -np.inf)
        if kind == "pheromone":
            tau = pher.levels(ctx.intents[i])
            if explore:  # ant-colony choice: probability proportional to the level
                w = np.where(avail, tau + 1e-6, 0.0)
                pick = rng.choice(n_models, p=w / w.sum())
                return np.where(np.arange(n_models) == pick, 1.0, 0.0)
            return np.where(avail, tau, -np.inf)
        # epsilon-greedy over context-free mean rewards
        if explore and rng.random() < 0.1:
            return np.where(avail, rng.random(n_models), -np.inf)
        est = np.where(pulls > 0, means, np.inf)  # try every model once
        return np.where(avail, est, -np.inf)

    earned = 0.0
    for i in train:
        avail = ctx.available[i]
        a = int(np.argmax(score(int(i), avail, explore=True)))
        r = reward(int(i), a)
        earned += r
        if kind in ("ours", "linucb"):
            bandit.update(a, ctx.x[i], r)
        if kind in ("ours", "pheromone"):
            pher.update(ctx.intents[i], [a], float(data.quality[i, a]), r)
        pulls[a] += 1
        means[a] += (r - means[a]) / pulls[a]

    return _Learned(
        lambda i, avail: int(np.argmax(score(i, avail, explore=False))),
        earned / len(train) if len(train) else None,
    )


@dataclass
class _SeedResult:
    """One seed's results: the best single model on its training queries (name, held-out
    quality, held-out cost); per policy and the oracle, one (cost, quality, regret) per
    lambda; per policy that learns online, its regret per training query while learning,
    per lambda."""

    single: tuple[str, float, float]
    points: dict[str, list[tuple[float, float, float]]]
    learning: dict[str, list[float]]


def _evaluate_seed(
    data: RoutingSet, ctx: _Context, lex: np.ndarray, seed: int, train_share: float, k: int
) -> _SeedResult:
    """Every policy over the lambda sweep on shuffle ``seed`` of ``data``: a function of the
    seed alone, so seeds run in any order or process give the same numbers."""
    q_all, c_all = data.quality, data.cost
    n = len(data.query_ids)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    cut = int(n * train_share)
    train, test = order[:cut], order[cut:]
    train_q = np.nanmean(q_all[train], axis=0)
    train_c = np.nanmean(c_all[train], axis=0)
    best = int(np.nanargmax(train_q))
    c_ref = float(train_c[best])
    test_avail = ctx.available[test]
    single = (
        data.models[best],
        float(np.nanmean(q_all[test, best])),
        float(np.nanmean(c_all[test, best])),
    )
    # kNN: quality of each model averaged over the nearest training queries
    sims = lex[test] @ lex[train].T
    nearest = np.argpartition(-sims, kth=min(k, len(train) - 1), axis=1)[:, :k]
    del sims
    with warnings.catch_warnings():  # a model no neighbour has a record for: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        knn_q = np.nanmean(q_all[train][nearest], axis=1)  # (test, models)
    knn_q = np.where(np.isnan(knn_q), train_q, knn_q)
    points: dict[str, list[tuple[float, float, float]]] = {p: [] for p in (*POLICIES, "oracle")}
    learning: dict[str, list[float]] = {p: [] for p in ONLINE}
    rows = np.arange(len(test))
    train_avail = ctx.available[train]
    for lam in LAMBDAS:
        picks: dict[str, np.ndarray] = {}
        value = q_all[test] - lam * c_all[test] / c_ref
        train_value = np.where(train_avail, q_all[train] - lam * c_all[train] / c_ref, -np.inf)
        best_earned = float(np.mean(np.max(train_value, axis=1)))  # the oracle's, learning
        picks["oracle"] = np.nanargmax(np.where(test_avail, value, -np.inf), axis=1)
        picks["knn"] = np.argmax(
            np.where(test_avail, knn_q - lam * train_c / c_ref, -np.inf), axis=1
        )
        picks["cheapest"] = np.argmin(np.where(test_avail, c_all[test], np.inf), axis=1)
        picks["random"] = np.array([rng.choice(np.flatnonzero(av)) for av in test_avail])
        for kind in ("ours", "ours_warm", "linucb", "pheromone", "epsilon_greedy"):
            learned = _run_online(kind, data, ctx, train, lam, c_ref, rng)
            picks[kind] = np.array([learned.choose(int(i), ctx.available[i]) for i in test])
            if learned.earned is not None:
                learning[kind].append(best_earned - learned.earned)
        best_value = value[rows, picks["oracle"]]
        for name, pick in picks.items():
            points[name].append(
                (
                    float(np.mean(c_all[test][rows, pick])),
                    float(np.mean(q_all[test][rows, pick])),
                    float(np.mean(best_value - value[rows, pick])),
                )
            )
    return _SeedResult(single=single, points=points, learning=learning)


_worker: tuple[RoutingSet, _Context, np.ndarray, float, int] | None = None
"""A worker process's set, its contexts and kNN vectors (built once per process)."""


def _start_worker(data: RoutingSet, train_share: float, k: int) -> None:
    """(In a worker process, once) build what every seed of ``data`` reads."""
    global _worker
    _worker = (data, _Context(data), _lexical(data.prompts), train_share, k)


def _seed_in_worker(seed: int) -> _SeedResult:
    assert _worker is not None, "_start_worker runs first"
    data, ctx, lex, train_share, k = _worker
    return _evaluate_seed(data, ctx, lex, seed, train_share, k)


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
    results: dict[int, _SeedResult] = {}

    def done(seed: int, result: _SeedResult) -> None:
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
        ctx, lex = _Context(data), _lexical(data.prompts)
        for seed in range(seeds):
            done(seed, _evaluate_seed(data, ctx, lex, seed, train_share, k))
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
        report.at_half_cost[name] = _at_half_cost(per_seed, name)
    for name in ONLINE:
        report.learning_regret[name] = [
            float(np.mean([r.learning[name][li] for r in per_seed])) for li in range(len(LAMBDAS))
        ]
    return report


def _at_half_cost(per_seed: Sequence[_SeedResult], name: str) -> tuple[float, float | None]:
    """Mean and standard error over seeds of ``name``'s quality at half the seed's best
    single model's held-out cost, relative to that model's held-out quality, each seed's
    frontier read as a curve (``_curve``). NaN if some seed has no point that cheap (or
    its best model is never right, so no ratio exists).

    The report's frontiers average each lambda's point over seeds first; this reads every
    seed on its own, so the spread between seeds says how far the mean can be trusted."""
    ratios = []
    for r in per_seed:
        _, quality, cost = r.single
        front = _pareto([(c, q) for c, q, _ in r.points[name]])
        ratios.append(_curve(front, 0.5 * cost) / quality if quality > 0 else math.nan)
    arr = np.array(ratios)
    if not np.isfinite(arr).all():
        return math.nan, None
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else None
    return float(arr.mean()), se


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


_NO_PLOTTING = "--plot needs matplotlib: pip install matplotlib"


def can_plot() -> None:
    """Raise InputError if ``plot_frontiers`` cannot work (matplotlib is missing)."""
    if importlib.util.find_spec("matplotlib") is None:
        raise InputError(_NO_PLOTTING)


def plot_frontiers(report: RoutingReport, path: str) -> None:
    """Write the cost-quality frontiers of ``report`` as a PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError(_NO_PLOTTING) from None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, pts in report.frontier.items():
        if name in ("random", "cheapest"):  # single points: grey marks, not a line's colour
            mark = {"random": "x", "cheapest": "+"}[name]
            ax.scatter(
                [p[0] for p in pts], [p[1] for p in pts], s=30, marker=mark, color="0.4", label=name
            )
        else:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
    b, o = report.best_single, report.oracle
    ax.scatter(
        [b["cost"]],
        [b["quality"]],
        marker="*",
        s=120,
        color="k",
        label=f"best single ({b['model']})",
    )
    ax.scatter([o["cost"]], [o["quality"]], marker="^", s=60, color="gray", label="oracle")
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per query (USD, log scale)")
    ax.set_ylabel("mean quality per query")
    ax.set_title(f"{report.data}: {report.evaluated} held-out queries x {report.seeds} seeds")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise InputError(f"could not write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
