"""Circuit breakers for model endpoints: stop offering a failing model, probe it later.

One breaker per pool model. It starts closed (the model is offered). ``threshold``
consecutive endpoint faults open it: the policy stops offering the model's arms for
``cooldown_s``. Then it is half-open: the next decision may pick the model as a probe
(one probe at a time; a probe that never reports back expires after ``cooldown_s``). A
probe that answers closes the breaker; one that fails opens it again for twice the
previous cooldown, up to ``max_cooldown_s``.

    closed --fault x threshold--> open --cooldown--> half-open --ok--> closed
                                    ^                    |
                                    +------fault---------+   (cooldown doubles)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["BreakerBoard", "BreakerState"]


@dataclass(frozen=True, kw_only=True, slots=True)
class BreakerState:
    """A readable snapshot of one model's breaker."""

    model: str
    """Pool model name."""
    state: str
    """``closed``, ``open`` or ``half_open``."""
    failures: int
    """Consecutive endpoint faults."""
    last_fault: str
    """Kind and message of the last fault ('' if none)."""
    retry_in_s: float
    """Seconds until an open breaker lets a probe through (0 otherwise)."""


@dataclass(kw_only=True, slots=True)
class _Breaker:
    failures: int = 0
    opened_at: float | None = None
    cooldown_s: float = 0.0
    probe_at: float | None = None
    last_fault: str = ""


class BreakerBoard:
    """The breakers of every model of a pool; thread-safe; see the module docstring."""

    def __init__(
        self,
        *,
        threshold: int = 1,
        cooldown_s: float = 30.0,
        max_cooldown_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or cooldown_s <= 0 or max_cooldown_s < cooldown_s:
            raise ValueError("breakers need threshold >= 1 and 0 < cooldown_s <= max_cooldown_s")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._b: dict[str, _Breaker] = {}

    def blocked(self, models: Iterable[str]) -> dict[str, str]:
        """Models among ``models`` that may not be offered now, with the reason.

        An open breaker whose cooldown has passed turns half-open and lets one probe
        through: the model is offered until a decision takes it (``taken``).
        """
        out: dict[str, str] = {}
        if not self._b:  # the usual case: nothing ever failed
            return out
        now = self._clock()
        with self._lock:
            for m in models:
                b = self._b.get(m)
                if b is None or b.opened_at is None:
                    continue
                left = b.opened_at + b.cooldown_s - now
                if left > 0:
                    out[m] = f"circuit open for {m!r} ({b.last_fault}); probe in {left:.0f}s"
                elif b.probe_at is not None and now - b.probe_at < self.cooldown_s:
                    out[m] = f"{m!r} is being probed after {b.last_fault}"
        return out

    def taken(self, model: str) -> bool:
        """Note that a decision picked ``model``; returns whether the call is a probe."""
        if not self._b:
            return False
        with self._lock:
            b = self._b.get(model)
            if b is None or b.opened_at is None:
                return False
            b.probe_at = self._clock()  # a probe that never reports expires after cooldown_s
            return True

    def success(self, model: str) -> bool:
        """Record an answer from ``model``; returns whether it closed an open breaker."""
        if not self._b:
            return False
        with self._lock:
            b = self._b.get(model)
            if b is None:
                return False
            was_open = b.opened_at is not None
            self._b[model] = _Breaker()
            return was_open

    def failure(self, model: str, kind: str, message: str) -> str:
        """Record an endpoint fault of ``model``; returns the breaker's state after it."""
        now = self._clock()
        with self._lock:
            b = self._b.setdefault(model, _Breaker())
            b.failures += 1
            b.last_fault = f"{kind}: {message[:160]}"
            if b.opened_at is not None:  # a failed probe: open again, longer
                b.cooldown_s = min(2 * b.cooldown_s, self.max_cooldown_s)
                b.opened_at, b.probe_at = now, None
            elif b.failures >= self.threshold:
                b.opened_at, b.cooldown_s, b.probe_at = now, self.cooldown_s, None
            return "open" if b.opened_at is not None else "closed"

    def states(self) -> list[BreakerState]:
        """Every model that has faulted since its last success."""
        now = self._clock()
        with self._lock:
            out = []
            for m, b in sorted(self._b.items()):
                if b.opened_at is None:
                    state, left = "closed", 0.0
                else:
                    left = max(b.opened_at + b.cooldown_s - now, 0.0)
                    state = "open" if left > 0 else "half_open"
                out.append(
                    BreakerState(
                        model=m,
                        state=state,
                        failures=b.failures,
                        last_fault=b.last_fault,
                        retry_in_s=left,
                    )
                )
            return out
