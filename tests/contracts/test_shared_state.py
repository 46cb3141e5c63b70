"""Circuit breakers and the quality gate shared through a real redis-server: what one
worker learns about a model or a team holds for every worker, no judged run is lost
under concurrency, and a Redis that went away leaves each worker deciding on its own."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from orchestrator.compound import Compound
from orchestrator.compound.gate import QualityGate
from orchestrator.compound.gatecells import RedisGateCells
from orchestrator.execution import sharedbreaker
from orchestrator.execution.sharedbreaker import RedisBreakerBoard
from tests.servers import free_port, redis_server


def test_a_fault_one_worker_saw_keeps_the_model_from_every_worker(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sharedbreaker, "PULL_S", 0.0)  # read the store at every decision
    prefix = f"b{free_port()}"
    ours, theirs = (RedisBreakerBoard(redis_url, prefix=prefix) for _ in range(2))
    assert theirs.blocked(["m", "n"]) == {}
    assert ours.failure("m", "http_503", "Service Unavailable") == "open"
    blocked = theirs.blocked(["m", "n"])
    assert list(blocked) == ["m"] and "circuit open for 'm' (http_503" in blocked["m"]
    theirs.success("m")  # a probe elsewhere answered: closed for everyone
    assert ours.blocked(["m"]) == {}


def test_breakers_decide_locally_while_redis_is_away(tmp_path: Path) -> None:
    port = free_port()
    with redis_server(port) as url:
        board = RedisBreakerBoard(url, prefix="away", timeout_s=0.3)
    assert board.failure("m", "timeout", "no answer") == "open"  # Redis gone: local
    assert "m" in board.blocked(["m"])


def test_every_worker_judged_runs_count_in_one_gate_window(redis_url: str) -> None:
    prefix = f"g{free_port()}"
    policy = Compound(window=50)
    gates = [QualityGate(policy) for _ in range(2)]
    for gate in gates:
        gate.cells = RedisGateCells(redis_url, "p", prefix=prefix)

    def judge(k: int) -> None:
        for _ in range(10):
            gates[k % 2].observe("m", "g", "fine", 0.9, stage="s")

    threads = [threading.Thread(target=judge, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fresh = QualityGate(policy)
    fresh.cells = RedisGateCells(redis_url, "p", prefix=prefix)
    choice = fresh.choose("m", "g", stage="s", savings={"standard": (2, 100)})
    assert choice.mode == "standard"  # fine's quality is established by the others' runs
    assert fresh.rolling("m", "g", "fine") == pytest.approx(0.9)
    assert fresh.to_json()["cells"][0]["runs"] == 40  # no judged run lost
