"""Which engine processes are alive: a heartbeat row per process, in the engine database.

Open-source DBOS does not know whether the process that owns a PENDING workflow is still
running. Every process that runs workflows (``orch run``, ``orch resume``, ``orch
worker``, a Python ``Engine``) writes a row here and renews it every ``BEAT_S``; a row
older than ``DEAD_AFTER_S`` is a dead process. A worker that finds a dead worker claims
its row (one ``DELETE``: exactly one claimant wins) and puts the dead worker's runs back
on their queues, where a live worker takes them. Rows also say which pipelines each
worker serves, so ``orch runs list`` can tell a queued run that no live worker serves.

The one module that uses SQLAlchemy directly (DBOS's own database layer).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

__all__ = ["BEAT_S", "DEAD_AFTER_S", "Executor", "Liveness"]

BEAT_S = 2.0
"""How often a live process renews its row."""
DEAD_AFTER_S = 15.0
"""A row not renewed for this long is a dead process (several missed beats, so a
process stalled by a long garbage collection or a busy machine is not taken for dead)."""

_TABLE = sa.Table(
    "orch_executors",
    sa.MetaData(),
    sa.Column("executor_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("pipelines", sa.Text, nullable=False),
    sa.Column("beat_at", sa.Float, nullable=False),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Executor:
    """One process's row."""

    executor_id: str
    """DBOS executor id of the process."""
    kind: str
    """``worker`` (serves queues; recovers dead workers) or ``run`` (one CLI run)."""
    host: str
    """Host name of the machine it runs on."""
    pid: int
    """Its process id there."""
    pipelines: tuple[str, ...]
    """Pipelines whose queues it serves (workers)."""
    beat_at: float
    """When it last renewed its row (Unix time)."""

    def alive(self, now: float | None = None) -> bool:
        """Whether it renewed its row in the last ``DEAD_AFTER_S`` and, on this machine,
        its process still exists (a process killed here is known dead at once)."""
        if (now if now is not None else time.time()) - self.beat_at >= DEAD_AFTER_S:
            return False
        return self.host != socket.gethostname() or _exists(self.pid)


def _driver(url: str) -> str:
    """``url`` with the Postgres driver DBOS uses (psycopg 3) named, as SQLAlchemy needs."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def _exists(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped by its parent
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


class Liveness:
    """Heartbeat rows in the database at ``url`` (a SQLAlchemy URL)."""

    def __init__(self, url: str) -> None:
        self._engine = sa.create_engine(_driver(url), pool_pre_ping=True)
        try:
            _TABLE.create(self._engine, checkfirst=True)
        except sa.exc.DBAPIError:  # another process created it at the same moment
            _TABLE.create(self._engine, checkfirst=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def executors(self) -> list[Executor]:
        """Every row, live or dead."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(_TABLE)).mappings().all()
        return [
            Executor(
                executor_id=r["executor_id"],
                kind=r["kind"],
                host=r["host"],
                pid=r["pid"],
                pipelines=tuple(json.loads(r["pipelines"])),
                beat_at=r["beat_at"],
            )
            for r in rows
        ]

    def beat(
        self,
        executor_id: str,
        *,
        kind: str,
        pipelines: tuple[str, ...] = (),
        every: Callable[[], None] | None = None,
    ) -> None:
        """Write this process's row now and renew it every ``BEAT_S`` on a thread, which
        also calls ``every`` (a worker's check for dead workers) after each beat."""
        row = {
            "executor_id": executor_id,
            "kind": kind,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pipelines": json.dumps(list(pipelines)),
        }
        self._write(row)

        def loop() -> None:
            warned: set[str] = set()
            while not self._stop.wait(BEAT_S):
                try:
                    self._write(row)
                except sa.exc.SQLAlchemyError:
                    continue  # the database is away for a moment: beat again next time
                if every is None:
                    continue
                try:  # a failing check must never stop the beat: a live process that
                    every()  # stopped beating would have its runs taken while it runs them
                except Exception as exc:  # told once, tried again at the next beat
                    text = f"{type(exc).__name__}: {exc}"
                    if text not in warned:
                        warned.add(text)
                        warnings.warn(
                            f"the check for dead workers failed ({text}); it is tried again "
                            "at every heartbeat",
                            RuntimeWarning,
                            stacklevel=1,
                        )

        self._thread = threading.Thread(target=loop, name="orch-heartbeat", daemon=True)
        self._thread.start()

    def _write(self, row: dict[str, object]) -> None:
        with self._engine.begin() as conn:
            done = conn.execute(
                sa.update(_TABLE)
                .where(_TABLE.c.executor_id == row["executor_id"])
                .values(beat_at=time.time())
            )
            if done.rowcount == 0:
                conn.execute(sa.insert(_TABLE).values(**row, beat_at=time.time()))

    def claim(self, executor: Executor) -> bool:
        """Take over dead ``executor``'s runs: True for exactly one caller (its row is
        deleted, unless it beat again since it was found dead)."""
        with self._engine.begin() as conn:
            done = conn.execute(
                sa.delete(_TABLE).where(
                    _TABLE.c.executor_id == executor.executor_id,
                    _TABLE.c.beat_at == executor.beat_at,  # not renewed since found dead
                )
            )
        return done.rowcount == 1

    def leave(self, executor_id: str, *, pending: bool) -> None:
        """Stop beating. With nothing ``pending`` the row goes; otherwise it is marked
        dead at once, so a live worker takes the unfinished runs without waiting."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=BEAT_S + 1)
        with self._engine.begin() as conn:
            where = _TABLE.c.executor_id == executor_id
            if pending:
                conn.execute(sa.update(_TABLE).where(where).values(beat_at=0.0))
            else:
                conn.execute(sa.delete(_TABLE).where(where))
        self._engine.dispose()
