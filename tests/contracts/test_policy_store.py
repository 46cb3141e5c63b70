"""One conformance suite for both policy stores: per-arm JSON files and Redis (a real
redis-server) pass the same tests: round trips, a run credited once however often it is
retried, no update lost under concurrency, learning read by other processes, and an
update that costs what it touched."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from orchestrator.routing import LinUCB, PheromoneTable
from orchestrator.routing.policy import AssignmentPolicy, RunCredit
from orchestrator.routing.policystore import PolicyStore
from orchestrator.routing.redispolicy import RedisPolicyStore
from tests.servers import free_port, redis_server

DIM = 4
ARMS = {"s": [("r", f"m{i}") for i in range(8)]}

Store = PolicyStore | RedisPolicyStore


@pytest.fixture(params=["files", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    prefix = f"t{free_port()}"

    def make() -> Store:  # each call: another process's view of the same state
        if request.param == "files":
            return PolicyStore(tmp_path / "policy")
        return RedisPolicyStore(request.getfixturevalue("redis_url"), prefix=prefix)

    return make


def _policy(store: Store) -> AssignmentPolicy:
    bandit, pheromone, _ = store.load("p", dim=DIM, alpha=0.5)
    return AssignmentPolicy(bandit, ARMS, pheromone=pheromone)


def _credit(run_id: str, arm: str = "r@m0", value: float = 0.8) -> RunCredit:
    return RunCredit([(arm, [1.0, 0.5, 0.0, 0.2])], value, "refund", 1.0, run_id)


def test_credits_round_trip_and_a_run_counts_once(make_store: Callable[[], Store]) -> None:
    store = make_store()
    policy = _policy(store)
    assert store.credit("p", policy, [_credit("run1"), _credit("run2", "r@m1")]) == 2
    # the workflow of run1 retried after a crash: its credit comes again, and is skipped
    assert store.credit("p", policy, [_credit("run1")]) == 2
    bandit, pheromone, runs = make_store().load("p", dim=DIM, alpha=0.5)
    assert runs == 2
    assert bandit.arm_state("r@m0")[2] == 1 and bandit.arm_state("r@m1")[2] == 1
    np.testing.assert_allclose(bandit.arm_state("r@m0")[0], policy.bandit.arm_state("r@m0")[0])
    assert pheromone.table_state("refund") == policy.pheromone.table_state("refund")


def test_no_update_is_lost_under_concurrency(make_store: Callable[[], Store]) -> None:
    stores = [make_store(), make_store()]  # two processes' stores...
    policies = [_policy(s) for s in stores]

    def learn(k: int) -> None:  # ...each with threads crediting the same two arms
        store, policy = stores[k % 2], policies[k % 2]
        for i in range(10):
            store.credit("p", policy, [_credit(f"t{k}-{i}", f"r@m{i % 2}")])

    threads = [threading.Thread(target=learn, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bandit, _, runs = make_store().load("p", dim=DIM, alpha=0.5)
    assert runs == 60
    assert bandit.arm_state("r@m0")[2] + bandit.arm_state("r@m1")[2] == 60
    # equal to one process crediting all 60 in any order (A and b are sums)
    alone = AssignmentPolicy(LinUCB(DIM), ARMS, pheromone=PheromoneTable())
    alone.credit_runs([_credit(f"x{i}", f"r@m{i % 2}") for i in range(60)])
    np.testing.assert_allclose(bandit.arm_state("r@m0")[0], alone.bandit.arm_state("r@m0")[0])
    np.testing.assert_allclose(bandit.arm_state("r@m1")[1], alone.bandit.arm_state("r@m1")[1])


def test_a_process_reads_what_another_learned(make_store: Callable[[], Store]) -> None:
    ours, theirs = make_store(), make_store()
    mine, other = _policy(ours), _policy(theirs)
    theirs.credit("p", other, [_credit("elsewhere", "r@m3")])
    assert mine.bandit.arm_state("r@m3")[2] == 0
    assert ours.refresh("p", mine) >= 1
    assert mine.bandit.arm_state("r@m3")[2] == 1
    assert ours.refresh("p", mine) == 0  # nothing new since


def test_reset_and_listing(make_store: Callable[[], Store]) -> None:
    store = make_store()
    store.credit("p", _policy(store), [_credit("r1")])
    assert store.pipelines() == ["p"] and store.exists("p")
    assert store.reset("p") and not store.exists("p") and not store.reset("p")
    assert store.load("p", dim=DIM, alpha=0.5)[2] == 0


def test_a_file_update_writes_only_the_arms_it_touched(tmp_path: Path) -> None:
    store = PolicyStore(tmp_path / "policy")
    policy = _policy(store)
    store.save("p", policy.bandit, policy.pheromone, 0)
    arms = tmp_path / "policy" / "p" / "arms"
    before = {p.name: p.stat().st_mtime_ns for p in arms.iterdir()}
    store.credit("p", policy, [_credit("one", "r@m5")])
    after = {p.name: p.stat().st_mtime_ns for p in arms.iterdir()}
    assert [n for n in before if before[n] != after[n]] == ["r@m5.json"]


def test_learning_waits_for_a_redis_that_went_away(tmp_path: Path) -> None:
    port = free_port()
    with redis_server(port) as url:
        store = RedisPolicyStore(url, prefix="gone", timeout_s=0.3)
        policy = _policy(store)
        store.credit("p", policy, [_credit("before")])
    assert store.credit("p", policy, [_credit("during", "r@m2")]) == -1  # queued
    assert store.pending == 1
    with redis_server(port) as url:  # back (empty: the test server keeps nothing)
        assert store.credit("p", policy, [_credit("after", "r@m4")]) == 2  # queue first
        assert store.pending == 0
        bandit, _, runs = RedisPolicyStore(url, prefix="gone").load("p", dim=DIM, alpha=0.5)
    assert runs == 2 and bandit.arm_state("r@m2")[2] == 1 and bandit.arm_state("r@m4")[2] == 1


def test_learning_a_process_could_not_send_is_applied_by_the_next(tmp_path: Path) -> None:
    from orchestrator import ScriptedModel
    from orchestrator.execution import Runtime
    from orchestrator.testing import scripted_pool
    from tests.conftest import make_desk

    desk, port = make_desk(), free_port()
    pool = scripted_pool(ScriptedModel(name="m"))
    with redis_server(port) as url:
        store = RedisPolicyStore(url, prefix="spill", timeout_s=0.3)
        runtime = Runtime(desk, pool=pool, data_dir=tmp_path, policy_store=store)
    runtime.run("refund order 1")  # Redis is gone: its learning waits...
    runtime.close()
    assert runtime.unsent_learning == 1  # ...and is kept in the data dir at close
    assert (tmp_path / "policy" / f"unsent-{desk.name}.jsonl").exists()
    with redis_server(port) as url:
        store = RedisPolicyStore(url, prefix="spill")
        again = Runtime(desk, pool=pool, data_dir=tmp_path, policy_store=store)
        again.close()
        assert store.load(desk.name, dim=32, alpha=1.0)[2] == 1  # applied when it was back
    assert not (tmp_path / "policy" / f"unsent-{desk.name}.jsonl").exists()
