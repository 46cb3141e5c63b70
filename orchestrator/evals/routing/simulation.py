"""Replaying recorded model outcomes through every routing policy, one seed at a time.

For each seed the recorded queries are shuffled and split: the policies learn online on the
first part, seeing only the outcome of the model they chose (bandit feedback, as in a live
run), and are then evaluated, frozen and greedy, on the rest. Every reported quality is the
mean per evaluated query and every cost the mean USD per evaluated query; no policy is ever
scored on a query it learned from. The kNN router (RouteLLM style) instead learns from the
full recorded table of the training queries, as a supervised router would, and so does
``ours_warm``: ours warm-started from that table (``Runtime.warm_start``), then frozen.
"Ours" ranks models with the runtime's own scoring function (``routing.arm_scores``).

Reward for learning and choosing is ``quality - lam * cost / c_ref``, where c_ref is the
mean cost per query of the best single model on the training queries: ``lam`` is the
quality a user would give up to save one best-model query's worth of spend. A policy's
regret at ``lam`` is the oracle's mean reward per evaluated query (the best recorded model
for each query at that ``lam``) minus the policy's.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from agents import RoutingSet
from orchestrator.routing import ALPHA, PHEROMONE_WEIGHT, LinUCB, PheromoneTable, arm_scores
from orchestrator.routing.intent import tokenize

__all__ = [
    "LAMBDAS",
    "ONLINE",
    "POLICIES",
    "Learned",
    "ReplayContext",
    "SeedResult",
    "evaluate_seed",
    "lexical",
    "run_online",
]

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


class ReplayContext:
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


def lexical(prompts: Sequence[str]) -> np.ndarray:
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


class Learned(NamedTuple):
    """A policy after its training stream."""

    choose: Chooser
    """Its frozen, greedy choice of a model for a query (index, available models)."""
    earned: float | None
    """Its mean reward per training query while it learned online (None: it learned
    offline, from the recorded table)."""


def run_online(
    kind: str,
    data: RoutingSet,
    ctx: ReplayContext,
    train: np.ndarray,
    lam: float,
    c_ref: float,
    rng: np.random.Generator,
    alpha: float = ALPHA,
    weight: float = PHEROMONE_WEIGHT,
) -> Learned:
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
    zeros = np.zeros(n_models)  # no exploration bonus: the frozen policy's choice

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
        if kind == "ours":  # the runtime's policy: AssignmentPolicy's scores
            s = bandit.scores(ctx.x[i])
            bonus = s.bonus if explore else zeros
            tau = pher.levels(ctx.intents[i])
            mean, left = s.mean.tolist(), s.left.tolist()
            total = arm_scores(mean, bonus.tolist(), tau.tolist(), left, weight)
            return np.where(avail, total, -np.inf)
        if kind == "linucb":
            s = bandit.scores(ctx.x[i])
            return np.where(avail, s.mean + (s.bonus if explore else 0.0), -np.inf)
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

    return Learned(
        lambda i, avail: int(np.argmax(score(i, avail, explore=False))),
        earned / len(train) if len(train) else None,
    )


@dataclass
class SeedResult:
    """One seed's results: the best single model on its training queries (name, held-out
    quality, held-out cost); per policy and the oracle, one (cost, quality, regret) per
    lambda; per policy that learns online, its regret per training query while learning,
    per lambda."""

    single: tuple[str, float, float]
    points: dict[str, list[tuple[float, float, float]]]
    learning: dict[str, list[float]]


def evaluate_seed(
    data: RoutingSet, ctx: ReplayContext, lex: np.ndarray, seed: int, train_share: float, k: int
) -> SeedResult:
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
            learned = run_online(kind, data, ctx, train, lam, c_ref, rng)
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
    return SeedResult(single=single, points=points, learning=learning)
