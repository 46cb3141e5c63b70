"""The learner applies updates off the decision path, in order, and loses none."""

from __future__ import annotations

import threading
import time

import pytest

from orchestrator.routing.learner import Batcher, Learner


def test_jobs_run_in_order_on_another_thread_and_flush_waits() -> None:
    learner = Learner()
    seen: list[int] = []
    threads: set[str] = set()

    def job(i: int) -> None:
        time.sleep(0.001)
        seen.append(i)
        threads.add(threading.current_thread().name)

    for i in range(20):
        learner.submit(lambda i=i: job(i))
    learner.flush()
    assert seen == list(range(20))
    assert threads == {"orchestrator-learner"}
    learner.close()


def test_errors_surface_at_flush_and_close_keeps_pending_work() -> None:
    learner = Learner()
    learner.submit(lambda: (_ for _ in ()).throw(ValueError("bad update")))
    with pytest.raises(ValueError, match="bad update"):
        learner.flush()
    done: list[str] = []
    learner.submit(lambda: (time.sleep(0.01), done.append("slow")))
    learner.close()
    assert done == ["slow"]
    learner.submit(lambda: done.append("after close"))  # applied synchronously, not lost
    assert done == ["slow", "after close"]


def test_batcher_lingers_then_applies_everything_collected_in_one_call() -> None:
    batches: list[list[int]] = []
    batcher: Batcher[int] = Batcher(Learner(), batches.append, linger_s=30.0, max_batch=100)
    for i in range(5):
        batcher.add(i)
    time.sleep(0.05)
    assert batches == []  # lingering for more
    started = time.perf_counter()
    batcher.flush()  # cuts the linger short
    assert time.perf_counter() - started < 5.0
    assert batches == [[0, 1, 2, 3, 4]]
    batcher.add(5)
    batcher.close()  # applies what is collected
    assert batches == [[0, 1, 2, 3, 4], [5]]


def test_a_full_batch_is_applied_without_lingering() -> None:
    applied = threading.Event()
    batches: list[list[int]] = []

    def apply(items: list[int]) -> None:
        batches.append(items)
        applied.set()

    batcher: Batcher[int] = Batcher(Learner(), apply, linger_s=30.0, max_batch=3)
    for i in range(3):
        batcher.add(i)
    assert applied.wait(5.0)
    assert batches == [[0, 1, 2]]
    batcher.close()
