"""The learner applies updates off the decision path, in order, and loses none."""

from __future__ import annotations

import threading
import time

import pytest

from orchestrator.learner import Learner


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
