"""Tool health: runtime signals raise or lower the weights of the tool graph's edges.

Every tool call reports its outcome (ok, error, timeout, rate-limited); a user or a probe
may flag a tool as risky. Each signal adds to the tool's penalty, which is added to the
weight of every edge into it, so the planner prefers healthy tools before any of them
fails in a run; a success clears the failure part, failure counts halve each
``half_life_s`` without a new signal, a rate limit lasts as long as the service asked,
and an explicit risk flag stays until it is cleared. Probes (a skill's ``probe=`` function) run on a
``HealthMonitor`` thread, concurrently with the runs. A plan reads one snapshot of the
penalties (``penalties``), so planning is deterministic for equal inputs.

A tool that fails inside a run is not merely penalised: that run's route sets it to
infinity (``toolgraph.Route.fail``) and replans.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["HealthMonitor", "ToolHealth"]

OUTCOMES = ("ok", "error", "timeout", "rate_limited")


@dataclass(kw_only=True, slots=True)
class _Signals:
    failures: int = 0
    timeouts: int = 0
    limited_until: float = 0.0
    risk: float = 0.0
    risk_reason: str = ""
    at: float = 0.0


class ToolHealth:
    """Penalties per tool from runtime signals; thread-safe; see the module docstring."""

    def __init__(
        self,
        *,
        failure_weight: float = 0.5,
        timeout_weight: float = 1.0,
        rate_limit_weight: float = 5.0,
        half_life_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min(failure_weight, timeout_weight, rate_limit_weight) < 0 or half_life_s <= 0:
            raise ValueError("health weights must be >= 0 and half_life_s > 0")
        self.failure_weight = failure_weight
        self.timeout_weight = timeout_weight
        self.rate_limit_weight = rate_limit_weight
        self.half_life_s = half_life_s
        self._clock = clock
        self._lock = threading.Lock()
        self._s: dict[str, _Signals] = {}

    def record(self, tool: str, outcome: str, *, retry_after_s: float | None = None) -> None:
        """One call's outcome: ``ok``, ``error``, ``timeout`` or ``rate_limited``."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown tool outcome {outcome!r}; use one of {OUTCOMES}")
        if outcome == "ok" and tool not in self._s:
            return  # the usual case: a healthy tool stays without an entry
        now = self._clock()
        with self._lock:
            s = self._s.setdefault(tool, _Signals())
            self._decay(s, now)
            if outcome == "ok":
                s.failures, s.timeouts = 0, 0
            elif outcome == "error":
                s.failures += 1
            elif outcome == "timeout":
                s.failures += 1
                s.timeouts += 1
            else:
                wait = retry_after_s if retry_after_s is not None else self.half_life_s
                s.limited_until = max(s.limited_until, now + wait)
            s.at = now

    def flag(self, tool: str, risk: float, reason: str = "") -> None:
        """Set an explicit risk weight on ``tool``; it stays until set to 0."""
        if not risk >= 0 or math.isinf(risk):
            raise ValueError(f"risk of {tool!r} must be a finite number >= 0, got {risk}")
        now = self._clock()
        with self._lock:
            s = self._s.setdefault(tool, _Signals())
            self._decay(s, now)
            s.risk, s.risk_reason, s.at = risk, reason, now

    def _decay(self, s: _Signals, now: float) -> None:
        if s.at and now > s.at:
            halvings = int((now - s.at) / self.half_life_s)
            if halvings:
                s.failures >>= halvings
                s.timeouts >>= halvings
                s.at += halvings * self.half_life_s

    def penalties(self) -> dict[str, float]:
        """Extra weight per tool now (tools without one are absent): a planning snapshot."""
        if not self._s:
            return {}
        now = self._clock()
        out: dict[str, float] = {}
        with self._lock:
            for tool, s in self._s.items():
                self._decay(s, now)
                p = (
                    s.failures * self.failure_weight
                    + s.timeouts * self.timeout_weight
                    + s.risk
                    + (self.rate_limit_weight if now < s.limited_until else 0.0)
                )
                if p > 0:
                    out[tool] = p
        return out

    def describe(self, tool: str) -> str:
        """Why ``tool`` carries a penalty, in a few words ('' when it has none)."""
        s = self._s.get(tool)
        if s is None:
            return ""
        parts = []
        if s.failures:
            parts.append(f"{s.failures} recent failure(s)")
        if s.timeouts:
            parts.append(f"{s.timeouts} timeout(s)")
        if self._clock() < s.limited_until:
            parts.append("rate-limited")
        if s.risk:
            parts.append(f"risk {s.risk:g}" + (f" ({s.risk_reason})" if s.risk_reason else ""))
        return ", ".join(parts)


class HealthMonitor:
    """Runs tool probes on a background thread every ``interval_s`` and reports them.

    A probe is a function of no arguments returning whether the tool's service is up; one
    that raises counts as down. Start with ``start()``, stop with ``stop()``.
    """

    def __init__(
        self,
        health: ToolHealth,
        probes: Mapping[str, Callable[[], bool]],
        *,
        interval_s: float = 10.0,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.health = health
        self.probes = dict(probes)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> dict[str, bool]:
        """Run every probe now and report it; returns tool -> up."""
        out = {}
        for tool, probe in self.probes.items():
            try:
                up = bool(probe())
            except Exception:
                up = False
            self.health.record(tool, "ok" if up else "error")
            out[tool] = up
        return out

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check_once()

    def start(self) -> HealthMonitor:
        """Start probing in the background (no-op without probes or if running)."""
        if self.probes and self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="orchestrator-health", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the probing thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
