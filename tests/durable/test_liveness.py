"""Heartbeat rows: a process keeps beating whatever its dead-worker check does, and a dead
row is claimed by exactly one taker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator.durable import liveness
from orchestrator.durable.liveness import Liveness


def test_a_failing_check_does_not_stop_the_beat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(liveness, "BEAT_S", 0.05)
    rows = Liveness(f"sqlite:///{tmp_path / 'engine.sqlite'}")
    checks = []

    def broken() -> None:
        checks.append(1)
        raise RuntimeError("the engine database said no")

    with pytest.warns(RuntimeWarning, match="check for dead workers failed"):
        rows.beat("w1", kind="worker", every=broken)
        first = rows.executors()[0].beat_at
        time.sleep(0.5)
    (me,) = rows.executors()
    assert me.beat_at > first and len(checks) >= 3  # still beating, still checking
    rows.leave("w1", pending=False)


def test_a_dead_row_has_one_taker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'engine.sqlite'}"
    rows = Liveness(url)
    rows.beat("w2", kind="worker")
    rows.leave("w2", pending=True)  # stopped with runs unfinished: dead at once
    dead = Liveness(url).executors()[0]
    assert not dead.alive()
    assert [Liveness(url).claim(dead), Liveness(url).claim(dead)] == [True, False]
