"""Tool health: signals raise and lower the tool graph's penalties; probes run on a thread."""

from __future__ import annotations

import time

import pytest

from orchestrator.tools.health import HealthMonitor, ToolHealth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_health_signals_raise_and_lower_penalties() -> None:
    clock = Clock()
    h = ToolHealth(failure_weight=0.5, timeout_weight=1.0, rate_limit_weight=5, clock=clock)
    h.record("a", "ok")
    assert h.penalties() == {}
    h.record("a", "error")
    h.record("a", "timeout")
    assert h.penalties() == {"a": pytest.approx(0.5 * 2 + 1.0)}
    assert h.describe("a") == "2 recent failure(s), 1 timeout(s)"
    clock.now += 60  # one half-life: the failure counts halve
    assert h.penalties() == {"a": pytest.approx(0.5 * 1)}
    h.record("a", "ok")  # a success clears them
    assert h.penalties() == {}
    h.record("b", "rate_limited", retry_after_s=5)
    assert h.penalties() == {"b": 5}
    clock.now += 5
    assert h.penalties() == {}
    h.flag("c", 2.5, "vendor incident")
    clock.now += 600
    assert h.penalties() == {"c": 2.5} and "vendor incident" in h.describe("c")
    h.flag("c", 0)
    assert h.penalties() == {}
    with pytest.raises(ValueError, match="unknown tool outcome"):
        h.record("a", "meh")


def test_health_monitor_probes_concurrently_and_reports() -> None:
    up = {"value": False}
    h = ToolHealth()
    mon = HealthMonitor(h, {"svc": lambda: up["value"], "boom": lambda: 1 / 0}, interval_s=0.05)
    mon.start()
    try:
        deadline = time.monotonic() + 5
        while "svc" not in h.penalties() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "svc" in h.penalties() and "boom" in h.penalties()  # a raising probe: down
        up["value"] = True
        while "svc" in h.penalties() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "svc" not in h.penalties()
    finally:
        mon.stop()
    assert mon.check_once() == {"svc": True, "boom": False}
