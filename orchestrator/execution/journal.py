"""The call journal: what a run's calls returned, recorded before the run moves on, so
that a resumed run never makes a completed call again.

LangGraph checkpoints a run after each stage; a run stopped inside a stage (a crash, a
kill) resumes from the start of that stage. The journal makes that re-run safe: each
skill call, model call and assignment of a visit is recorded under a key that names what
it was (run, stage, visit number, which call), and a re-run visit takes the recorded
value instead of calling again. A side-effecting skill therefore runs at most once per
key; the one window no record can close, a crash inside the call itself, is the key's
job (``skills.idempotency_key()``: the same key on every retry, for the service to
deduplicate).

The journal lives in the run's checkpoint database, beside LangGraph's tables (one store
serves both); a runtime without a checkpointer keeps no journal (its runs cannot be
resumed anyway).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["MISSING", "CallJournal", "MemoryJournal", "PostgresJournal", "SqliteJournal"]

MISSING: Any = object()
"""What ``CallJournal.get`` returns for a call never recorded."""


class CallJournal(Protocol):
    """Recorded call results, by run and key.

    Contract: ``put`` is durable when it returns and keeps the first value recorded for
    a key (a call is recorded once); ``get`` returns ``MISSING`` for an unknown key; both
    are safe from several threads.
    """

    def get(self, run_id: str, key: str) -> Any:
        """The value recorded for ``key`` of ``run_id``, or ``MISSING``."""
        ...

    def put(self, run_id: str, key: str, value: Any) -> None:
        """Record ``value`` for ``key`` of ``run_id`` (a second put of a key is ignored)."""
        ...

    def first(self, run_id: str, prefix: str) -> Any:
        """The value of the first key of ``run_id`` that starts with ``prefix``, in the
        order they were recorded, or ``MISSING``."""
        ...


class MemoryJournal:
    """A journal in this process's memory (for a runtime with an in-memory checkpointer)."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str, key: str) -> Any:
        return self._values.get((run_id, key), MISSING)

    def put(self, run_id: str, key: str, value: Any) -> None:
        with self._lock:
            self._values.setdefault((run_id, key), value)

    def first(self, run_id: str, prefix: str) -> Any:
        with self._lock:
            for (run, key), value in self._values.items():  # in insertion order
                if run == run_id and key.startswith(prefix):
                    return value
        return MISSING


Dumps = Callable[[Any], tuple[str, bytes]]
Loads = Callable[[tuple[str, bytes]], Any]


class SqliteJournal:
    """The journal as a table of a SQLite checkpoint database, written on its connection
    under its lock (``SqliteSaver.conn`` / ``.lock``), values serialised as the
    checkpointer serialises state (``dumps``, ``loads``)."""

    def __init__(
        self, conn: sqlite3.Connection, lock: threading.Lock, dumps: Dumps, loads: Loads
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._dumps = dumps
        self._loads = loads
        with lock:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS orch_calls (run_id TEXT NOT NULL, key TEXT NOT NULL,"
                " type TEXT NOT NULL, value BLOB, PRIMARY KEY (run_id, key))"
            )
            conn.commit()

    def get(self, run_id: str, key: str) -> Any:
        with self._lock:
            row = self._conn.execute(
                "SELECT type, value FROM orch_calls WHERE run_id = ? AND key = ?", (run_id, key)
            ).fetchone()
        return MISSING if row is None else self._loads((row[0], row[1]))

    def put(self, run_id: str, key: str, value: Any) -> None:
        kind, data = self._dumps(value)
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO orch_calls (run_id, key, type, value) VALUES (?, ?, ?, ?)",
                (run_id, key, kind, data),
            )
            self._conn.commit()  # durable before the run moves on

    def first(self, run_id: str, prefix: str) -> Any:
        with self._lock:
            row = self._conn.execute(
                "SELECT type, value FROM orch_calls WHERE run_id = ? AND substr(key, 1, ?) = ?"
                " ORDER BY rowid LIMIT 1",
                (run_id, len(prefix), prefix),
            ).fetchone()
        return MISSING if row is None else self._loads((row[0], row[1]))


class PostgresJournal:
    """The journal as a table of a Postgres checkpoint database, written through the
    checkpointer's connection pool (``PostgresSaver.conn``: a psycopg ``ConnectionPool``
    in autocommit mode), values serialised as the checkpointer serialises state. Any
    worker on any machine reads what another recorded."""

    def __init__(self, pool: Any, dumps: Dumps, loads: Loads) -> None:
        self._pool = pool
        self._dumps = dumps
        self._loads = loads
        with pool.connection() as conn:  # its caller holds the lock tables are made under
            conn.execute(
                "CREATE TABLE IF NOT EXISTS orch_calls (run_id TEXT NOT NULL, key TEXT NOT NULL,"
                " type TEXT NOT NULL, value BYTEA, at BIGSERIAL, PRIMARY KEY (run_id, key))"
            )

    def get(self, run_id: str, key: str) -> Any:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT type, value FROM orch_calls WHERE run_id = %s AND key = %s",
                (run_id, key),
            ).fetchone()
        return MISSING if row is None else self._loads(_typed(row))

    def put(self, run_id: str, key: str, value: Any) -> None:
        kind, data = self._dumps(value)
        with self._pool.connection() as conn:  # autocommit: durable when execute returns
            conn.execute(
                "INSERT INTO orch_calls (run_id, key, type, value) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (run_id, key) DO NOTHING",
                (run_id, key, kind, data),
            )

    def first(self, run_id: str, prefix: str) -> Any:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT type, value FROM orch_calls WHERE run_id = %s AND left(key, %s) = %s"
                " ORDER BY at LIMIT 1",
                (run_id, len(prefix), prefix),
            ).fetchone()
        return MISSING if row is None else self._loads(_typed(row))


def _typed(row: Any) -> tuple[str, bytes]:
    """A (type, value) row as the serde reads it, whether rows are tuples or dicts."""
    if isinstance(row, dict):
        return row["type"], bytes(row["value"])
    return row[0], bytes(row[1])
