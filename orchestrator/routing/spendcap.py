"""A spend cap shared by every run of a pipeline over a time window, held atomically
across threads, processes and machines.

Before a model call its expected cost is reserved in the window's ledger; a reservation
that would take the window's spend past the cap is refused (the call is not made: the
run fails with ``BudgetExhausted`` and a ``budget`` decision says why). After the call
the reservation is settled to the real cost. Windows are fixed (aligned to the Unix
epoch: a ``per_s`` of one day resets at 00:00 UTC).

Two ledgers: ``FileLedger`` (a SQLite file in the data dir: every process on one
machine) and ``RedisLedger`` (one Lua script per reservation on plain Redis: every
machine).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from orchestrator.definition import SpendCap
from orchestrator.errors import StoreUnavailable
from orchestrator.redaction import redact

__all__ = ["FileLedger", "RedisLedger", "Reservation", "SpendLedger", "window_of"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Reservation:
    """What a reservation asked for, and the window's spend it saw."""

    granted: bool
    """Whether the expected cost fits under the cap (and is now reserved)."""
    window: int
    """Start of the window (Unix seconds)."""
    usd: float
    """The reserved amount."""
    total_usd: float
    """The window's spend and reservations after this one (before it, if refused)."""


def window_of(cap: SpendCap, now: float | None = None) -> int:
    """The start of the window ``now`` falls in."""
    t = time.time() if now is None else now
    return int(t // cap.per_s * cap.per_s)


class SpendLedger(Protocol):
    """Spend per (pipeline, window). Contract: ``reserve`` is atomic (no two callers
    both get a reservation that together pass the cap); ``settle`` replaces a granted
    reservation by the real cost; both are safe from several threads and processes."""

    def reserve(self, pipeline: str, cap: SpendCap, usd: float) -> Reservation: ...

    def settle(self, pipeline: str, reservation: Reservation, actual_usd: float) -> None: ...

    def spent(self, pipeline: str, cap: SpendCap) -> float: ...


class FileLedger:
    """The ledger as a SQLite table in ``path`` (BEGIN IMMEDIATE: one writer at a time)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            path, check_same_thread=False, timeout=30, isolation_level=None
        )
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS orch_spend (pipeline TEXT NOT NULL, window INTEGER"
                " NOT NULL, usd REAL NOT NULL, PRIMARY KEY (pipeline, window))"
            )

    def reserve(self, pipeline: str, cap: SpendCap, usd: float) -> Reservation:
        window = window_of(cap)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute(
                    "SELECT usd FROM orch_spend WHERE pipeline = ? AND window = ?",
                    (pipeline, window),
                ).fetchone()
                total = row[0] if row else 0.0
                if total + usd > cap.usd:
                    self._conn.execute("ROLLBACK")
                    return Reservation(granted=False, window=window, usd=usd, total_usd=total)
                self._conn.execute(
                    "INSERT INTO orch_spend (pipeline, window, usd) VALUES (?, ?, ?) ON CONFLICT"
                    " (pipeline, window) DO UPDATE SET usd = usd + excluded.usd",
                    (pipeline, window, usd),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return Reservation(granted=True, window=window, usd=usd, total_usd=total + usd)

    def settle(self, pipeline: str, reservation: Reservation, actual_usd: float) -> None:
        if not reservation.granted:
            return
        with self._lock:
            self._conn.execute(
                "UPDATE orch_spend SET usd = usd + ? WHERE pipeline = ? AND window = ?",
                (actual_usd - reservation.usd, pipeline, reservation.window),
            )

    def spent(self, pipeline: str, cap: SpendCap) -> float:
        with self._lock:
            row = self._conn.execute(
                "SELECT usd FROM orch_spend WHERE pipeline = ? AND window = ?",
                (pipeline, window_of(cap)),
            ).fetchone()
        return float(row[0]) if row else 0.0

    def close(self) -> None:
        self._conn.close()


_RESERVE = """
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local usd = tonumber(ARGV[1])
if total + usd > tonumber(ARGV[2]) then return {0, tostring(total)} end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, tostring(total + usd)}
"""


class RedisLedger:
    """The ledger in Redis: ``<prefix>:<pipeline>:<window>`` holds the window's spend;
    a reservation is one Lua script (check and add atomically), kept a window past its
    end."""

    def __init__(self, url: str, *, prefix: str = "orch:spend", timeout_s: float = 2.0) -> None:
        from memory.redisconn import connect, unreachable_errors

        self.url = url
        self.prefix = prefix
        self._r: Any = connect(url, timeout_s=timeout_s)
        self._errors = unreachable_errors()
        self._script: Any = self._r.register_script(_RESERVE)

    def _key(self, pipeline: str, window: int) -> str:
        return f"{self.prefix}:{pipeline}:{window}"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:  # a cap that cannot be checked refuses: spend is held
            raise StoreUnavailable(
                redact(
                    f"Redis at {self.url} is unreachable ({type(exc).__name__}: {exc}) while "
                    "checking the pipeline's spend cap; no model call is made without it"
                )
            ) from None

    def reserve(self, pipeline: str, cap: SpendCap, usd: float) -> Reservation:
        window = window_of(cap)
        ok, total = self._call(
            self._script,
            keys=[self._key(pipeline, window)],
            args=[repr(usd), repr(cap.usd), int(2 * cap.per_s) + 1],
        )
        return Reservation(granted=bool(ok), window=window, usd=usd, total_usd=float(total))

    def settle(self, pipeline: str, reservation: Reservation, actual_usd: float) -> None:
        if reservation.granted:
            self._call(
                self._r.incrbyfloat,
                self._key(pipeline, reservation.window),
                actual_usd - reservation.usd,
            )

    def spent(self, pipeline: str, cap: SpendCap) -> float:
        value = self._call(self._r.get, self._key(pipeline, window_of(cap)))
        return float(value) if value is not None else 0.0
