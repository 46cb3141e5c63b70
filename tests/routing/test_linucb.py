"""LinUCB: Sherman-Morrison keeps the exact ridge solution; selection and persistence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from orchestrator.routing.features import FeatureBuilder
from orchestrator.routing.linucb import LinUCB
from orchestrator.routing.policy import AssignmentPolicy

DIM = 6
vectors = arrays(np.float64, DIM, elements=st.floats(-1, 1, allow_nan=False, width=32))
steps = st.lists(st.tuples(st.integers(0, 2), vectors, st.floats(-1, 1)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(steps, st.floats(0.1, 5.0))
def test_updates_match_the_batch_ridge_solution(
    history: list[tuple[int, np.ndarray, float]], ridge: float
) -> None:
    bandit = LinUCB(DIM, alpha=1.0, ridge=ridge)
    bandit.ensure_arms(["a", "b", "c"])
    for arm, x, r in history:
        bandit.update(arm, x, r)
    for arm in range(3):
        xs = [x for a, x, _ in history if a == arm]
        rs = [r for a, _, r in history if a == arm]
        a = ridge * np.eye(DIM) + sum((np.outer(x, x) for x in xs), np.zeros((DIM, DIM)))
        b = sum((r * x for x, r in zip(xs, rs, strict=True)), np.zeros(DIM))
        np.testing.assert_allclose(bandit.a_inv[arm], np.linalg.inv(a), atol=1e-8)
        np.testing.assert_allclose(bandit.theta[arm], np.linalg.solve(a, b), atol=1e-8)
        assert bandit.pulls[arm] == len(xs)


@settings(max_examples=100, deadline=None)
@given(vectors.filter(lambda v: np.linalg.norm(v) > 1e-3), st.integers(1, 10))
def test_exploration_bonus_shrinks_as_a_context_is_seen(x: np.ndarray, n: int) -> None:
    bandit = LinUCB(DIM, alpha=1.0)
    bandit.ensure_arms(["a"])
    before = bandit.scores(x).bonus[0]
    for _ in range(n):
        bandit.update(0, x, 0.5)
    after = bandit.scores(x).bonus[0]
    assert after < before
    # uncertainty left: 1 with no evidence, lower once x was seen, the same for any ridge scale
    left = bandit.scores(x).left[0]
    assert bandit.scores(x, slice(0, 1)).left[0] == left and 0.0 <= left < 1.0
    fresh = LinUCB(DIM, ridge=3.0)
    fresh.ensure_arms(["a"])
    assert abs(fresh.scores(x).left[0] - 1.0) < 1e-9
    # the mean moves toward the observed reward
    assert abs(bandit.scores(x).mean[0] - 0.5) < 0.5


def test_policy_prefers_the_arm_that_paid_and_marks_exploration() -> None:
    bandit = LinUCB(DIM, alpha=0.0)
    policy = AssignmentPolicy(bandit, {"s": [("r", "cheap"), ("r", "strong")]})
    x = np.ones(DIM) / DIM
    for _ in range(5):
        policy.credit([("r@strong", x)], 1.0)
        policy.credit([("r@cheap", x)], 0.2)
    chosen = policy.assign("s", x)
    assert (chosen.role, chosen.model) == ("r", "strong")
    assert chosen.decision.explore is False
    assert {c.name for c in chosen.decision.candidates} == {"r@cheap", "r@strong"}
    # with a big exploration weight, the never-seen context favours the uncertain arm
    bandit.alpha = 50.0
    y = np.zeros(DIM)
    y[-1] = 1.0
    policy.credit([("r@cheap", x)], 0.2)
    explored = policy.assign("s", y)
    assert explored.decision.chosen in {"r@cheap", "r@strong"}


def test_excluded_arms_are_never_chosen() -> None:
    policy = AssignmentPolicy(LinUCB(DIM), {"s": [("r", "a"), ("r", "b")]})
    x = np.ones(DIM)
    got = policy.assign("s", x, excluded={"r@a": "budget"})
    assert got.model == "b"
    excluded = [c for c in got.decision.candidates if c.excluded_by]
    assert [(c.name, c.excluded_by, c.score) for c in excluded] == [("r@a", "budget", None)]


scores = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 1))  # ties are likely


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(1, 6))
def test_an_assign_decision_ranks_as_its_definition_says(data: st.DataObject, n: int) -> None:
    """Chosen: the first of the highest-scoring eligible arms; runner-up: the same among
    the other eligible ones; explore: the chosen arm is not the best eligible mean;
    candidates show every arm's score (None where excluded) and what excluded it."""
    names = [f"r@m{i}" for i in range(n)]
    policy = AssignmentPolicy(LinUCB(DIM), {"s": [("r", f"m{i}") for i in range(n)]})
    columns = [data.draw(st.lists(scores, min_size=n, max_size=n)) for _ in range(2)]
    mean, bonus = columns
    tau = data.draw(st.lists(st.sampled_from([0.0, 0.1, 0.4]), min_size=n, max_size=n))
    left = data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=n, max_size=n))
    out = data.draw(st.sets(st.integers(0, n - 1), max_size=n - 1))
    excluded = {names[i]: f"rule {i}" for i in sorted(out)}
    got = policy.assign("s", None, excluded=excluded, scored=(mean, bonus, tau, left)).decision
    w = policy.pheromone_weight
    ucb = [mean[i] + bonus[i] + w * left[i] * tau[i] for i in range(n)]
    eligible = [i for i in range(n) if i not in out]

    def first_best(of: list[int], key: list[float]) -> int:
        return next(i for i in of if key[i] == max(key[j] for j in of))

    best = first_best(eligible, ucb)
    assert got.chosen == names[best]
    assert got.explore is (best != first_best(eligible, mean))
    others = [i for i in eligible if i != best]
    runner_up = names[first_best(others, ucb)] if others else None
    assert (f" vs {runner_up} " in got.reason) if runner_up else (" vs " not in got.reason)
    assert [(c.name, c.score, c.excluded_by) for c in got.candidates] == [
        (names[i], None if i in out else ucb[i], excluded.get(names[i])) for i in range(n)
    ]


def test_state_round_trip_and_corruption() -> None:
    bandit = LinUCB(DIM, alpha=0.3)
    bandit.ensure_arms(["x", "y"])
    bandit.update(1, np.arange(DIM, dtype=float), 0.7)
    again = LinUCB.from_state(bandit.to_state())
    np.testing.assert_allclose(again.theta, bandit.theta)
    assert again.arms == ["x", "y"] and list(again.pulls) == [0, 1]
    broken = bandit.to_state()
    broken["a_inv"] = broken["a_inv"][:1]
    with pytest.raises(ValueError):
        LinUCB.from_state(broken)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), vectors, st.floats(-1, 1)), min_size=1, max_size=24))
def test_batched_credit_equals_sequential_updates(
    pairs: list[tuple[int, np.ndarray, float]],
) -> None:
    """One batch with repeated arms and a reward per pair (several runs credited at once:
    rank-k Woodbury per arm) ends where one Sherman-Morrison update per pair ends."""
    one, many = LinUCB(DIM), LinUCB(DIM)
    for b in (one, many):
        b.ensure_arms(["a", "b", "c"])
    for arm, x, r in pairs:
        one.update(arm, x, r)
    many.update_many(
        [a for a, _, _ in pairs],
        np.asarray([x for _, x, _ in pairs]),
        np.asarray([r for _, _, r in pairs]),
    )
    np.testing.assert_allclose(many.a_inv, one.a_inv, atol=1e-8)
    np.testing.assert_allclose(many.theta, one.theta, atol=1e-8)
    np.testing.assert_allclose(many.b, one.b, atol=1e-12)
    np.testing.assert_array_equal(many.pulls, one.pulls)


def test_a_warm_start_sized_batch_equals_sequential_updates() -> None:
    """Hundreds of pairs per arm (recorded outcomes credited at once) take the direct
    form, A += X^T X and one inverse, and still end where one update per pair ends."""
    rng = np.random.default_rng(3)
    arms = rng.integers(0, 3, size=600)
    xs = rng.uniform(-1, 1, size=(600, DIM))
    rewards = rng.uniform(-1, 1, size=600)
    one, many = LinUCB(DIM), LinUCB(DIM)
    for b in (one, many):
        b.ensure_arms(["a", "b", "c"])
        b.update(0, xs[0], 0.5)  # not from the prior: the inverse of a learned A^-1
    for a, x, r in zip(arms, xs, rewards, strict=True):
        one.update(int(a), x, float(r))
    many.update_many(list(arms), xs, rewards)
    assert min(np.bincount(arms)) > DIM  # every arm went the direct way
    np.testing.assert_allclose(many.a_inv, one.a_inv, atol=1e-10)
    np.testing.assert_allclose(many.theta, one.theta, atol=1e-8)
    np.testing.assert_array_equal(many.pulls, one.pulls)


@pytest.mark.parametrize(
    "layout",
    [
        {"a": [("r", "m1"), ("r", "m2")], "b": [("q", "m1"), ("r", "m1")]},  # r@m1 shared
        {"a": [("r", "m1"), ("r", "m2")], "b": [("q", "m1"), ("q", "m2")]},  # one pass
        {"a": [("r", "m1")], "c": [("p", "m1")], "b": [("q", "m1"), ("q", "m2")]},
    ],
    ids=["shared-arm", "adjacent", "three-stages"],
)
@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), vectors, st.floats(-1, 1)), max_size=20), vectors, vectors
)
def test_batched_stage_scoring_equals_scoring_each_stage(
    layout: dict[str, list[tuple[str, str]]],
    history: list[tuple[int, np.ndarray, float]],
    x1: np.ndarray,
    x2: np.ndarray,
) -> None:
    """A run's first visits, scored in one pass (or stage by stage when arms are shared),
    score like each visit scored alone with its full context."""
    policy = AssignmentPolicy(LinUCB(DIM, alpha=0.7), layout)
    for arm, x, r in history:
        policy.credit(
            [(policy.bandit.arms[arm % len(policy.bandit.arms)], x)], r, intent="i", quality=1.0
        )
    stages = list(layout)
    hot = [(3 * j + 1) % DIM for j in range(len(stages))]
    c = (x1 + x2) / 2
    c[hot] = 0.0
    batch = policy.score_stages(stages, c, hot, "i")
    assert set(batch) == set(stages)
    for stage, h in zip(stages, hot, strict=True):
        x = c.copy()
        x[h] = 1.0
        direct = policy.assign(stage, x, intent="i")
        batched = policy.assign(stage, None, intent="i", scored=batch[stage])
        assert batched.decision.chosen == direct.decision.chosen
        for c1, c2 in zip(batched.decision.candidates, direct.decision.candidates, strict=True):
            np.testing.assert_allclose(
                [c1.score, c1.mean, c1.bonus, c1.pheromone],
                [c2.score, c2.mean, c2.bonus, c2.pheromone],
                atol=1e-9,
            )


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), vectors, st.floats(-1, 1)), max_size=20), vectors)
def test_decision_path_scores_equal_array_scores_through_updates_and_new_arms(
    history: list[tuple[int, np.ndarray, float]], x: np.ndarray
) -> None:
    bandit = LinUCB(DIM, alpha=0.7)
    bandit.ensure_arms(["a", "b", "c"])
    bandit.ucb_lists(x, 0, 3)  # caches a view of the arms that later updates must not stale
    for step, (arm, xa, r) in enumerate(history):
        if step == len(history) // 2:
            bandit.ensure_arms(["d", "e"])  # re-stacks the arrays
        bandit.update(arm % len(bandit.arms), xa, r)
    for start, stop in ((0, 3), (1, len(bandit.arms))):
        mean, bonus, left = bandit.ucb_lists(x, start, stop)
        s = bandit.scores(x, slice(start, stop))
        np.testing.assert_allclose(mean, s.mean, atol=1e-12)
        np.testing.assert_allclose(bonus, s.bonus, atol=1e-12)
        np.testing.assert_allclose(left, s.left, atol=1e-12)


@given(
    st.lists(st.sampled_from(["triage", "resolve", "review", "s1", "s2"]), min_size=1, max_size=5)
)
def test_first_visit_contexts_are_the_stage_vectors(stages: list[str]) -> None:
    features = FeatureBuilder()
    base = features.base(query="refund order 123, is it broken?", intent="refund", confidence=0.6)
    c, hot = features.first_visits(base, stages)
    for stage, h in zip(stages, hot, strict=True):
        assert c[h] == 0.0
        x = c.copy()
        x[h] = 1.0
        assert x.tolist() == features.stage_list(base, stage=stage)
