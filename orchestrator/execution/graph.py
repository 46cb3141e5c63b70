"""A pipeline compiled to a LangGraph ``StateGraph``, streamed and checkpointed: the one
module that imports LangGraph.

One node per stage. A stage with a single next stage gets a plain edge; a branching
stage's node names the next stage in a ``Command`` (its node declares the stage's next
stages as destinations), so neither needs a state channel or a conditional-edge
function. The state is one channel, ``outputs``: the run's records in order
(``records.py``). The control plane travels in LangGraph's run-scoped context
(``RunContext``), not in the state.
"""

from __future__ import annotations

import operator
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import GraphRecursionError
from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime as GraphRuntime
from langgraph.types import Command

from orchestrator.definition import Pipeline, Stage
from orchestrator.errors import InputError, RunError, StateFileError
from orchestrator.execution.journal import (
    CallJournal,
    MemoryJournal,
    PostgresJournal,
    SqliteJournal,
)
from orchestrator.execution.records import Record, StageRecord, trail_of
from orchestrator.execution.run import RunContext, StageDone
from orchestrator.redaction import redact

__all__ = [
    "Checkpointer",
    "RunGraph",
    "RunState",
    "StageFn",
    "check_postgres",
    "journal_for",
    "postgres_checkpointer",
    "sqlite_checkpointer",
]

Checkpointer = BaseCheckpointSaver[Any]
"""Any LangGraph checkpoint saver."""

StageFn = Callable[[Stage, Sequence[Record], RunContext], tuple[StageRecord, str | None]]
"""One stage visit: (stage, the run's records so far, run context) -> (the visit's record,
the next stage or None)."""

_POOL_SIZE = min(32, (os.cpu_count() or 1) + 4)
"""Threads of the pool LangGraph runs a graph's tasks in: ThreadPoolExecutor's default,
given once (LangGraph would otherwise ask the OS for the CPU count at every run)."""


_SETUP_LOCK = 0x6F726368  # "orch": the advisory lock under which tables are created


class RunState(TypedDict, total=False):
    """The checkpointed state of one run: one channel, because LangGraph does work for
    every channel at every step."""

    outputs: Annotated[list[Record], operator.add]
    """The run's records in order: its request, then one record per stage visit."""


class RunGraph:
    """``pipeline`` compiled: each stage's node runs ``visit``; see the module docstring."""

    def __init__(
        self, pipeline: Pipeline, visit: StageFn, checkpointer: Checkpointer | None
    ) -> None:
        self.pipeline = pipeline
        self.checkpointer = checkpointer
        graph: StateGraph[Any, Any, Any, Any] = StateGraph(RunState, context_schema=RunContext)
        for stage in pipeline.stages.values():
            ends = (*stage.next, END) if _branches(stage) else None
            graph.add_node(stage.name, _node(stage, visit), destinations=ends)
        graph.set_entry_point(pipeline.machine.start)
        for stage in pipeline.stages.values():
            if stage.terminal:
                graph.add_edge(stage.name, END)
            elif not _branches(stage):  # no choice to make: a plain edge
                graph.add_edge(stage.name, stage.next[0])
        self._graph = graph.compile(checkpointer=checkpointer)

    def stream(
        self,
        graph_input: Mapping[str, Any] | None,
        state: Mapping[str, Any],
        ctx: RunContext,
        progress: Callable[[StageDone], None] | None = None,
    ) -> tuple[Mapping[str, Any], str | None]:
        """Run the graph from ``graph_input`` (None: from the run's checkpoint, whose
        values are ``state``); ``progress`` is told each visit as it finishes. Returns the
        last state (it survives a failure in a later step) and why the run failed, if it
        did; an exception that is not a run's failure propagates."""
        config: dict[str, Any] = {
            "recursion_limit": self.pipeline.max_steps + 1,
            "max_concurrency": _POOL_SIZE,
        }
        if self.checkpointer is not None:
            config["configurable"] = {"thread_id": ctx.run_id}
        final: Mapping[str, Any] = state
        reported = len(state["outputs"])  # the request and stages done before (resumed)
        try:
            for snapshot in self._graph.stream(
                graph_input, cast(RunnableConfig, config), context=ctx, stream_mode="values"
            ):
                final = snapshot
                if progress is not None and len(snapshot["outputs"]) > reported:
                    reported = len(snapshot["outputs"])
                    progress(_stage_done(snapshot["outputs"]))
        except RunError as exc:
            return final, redact(str(exc))
        except GraphRecursionError:
            return final, (
                f"run exceeded max_steps={self.pipeline.max_steps} (stages so far: "
                f"{' -> '.join(trail_of(final['outputs']))}); a loop never reached a "
                "terminal stage: fix the stages' routes or raise max_steps"
            )
        return final, None

    def snapshot(self, run_id: str) -> Any:
        """The latest LangGraph state snapshot of ``run_id`` (needs a checkpointer)."""
        config = {"configurable": {"thread_id": run_id}}
        return self._graph.get_state(cast(RunnableConfig, config))


def sqlite_checkpointer(path: Path) -> Checkpointer:
    """A LangGraph SQLite checkpointer at ``path`` (close it with ``.conn.close()``).
    StateFileError, the file left as it is, when it is not a readable database."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(path, check_same_thread=False)
    saver = SqliteSaver(conn)
    try:
        # write-ahead log, synced at checkpoints of the log: a commit survives the process
        # being killed (it is in the OS's hands), without an fsync per commit
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        saver.setup()  # creates the tables, or reads that they are there
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StateFileError(
            f"checkpoint database {str(path)!r} is unreadable ({exc}); it was left as it "
            "is: move it away (runs can then no longer be resumed) and run again"
        ) from None
    return saver


def check_postgres(url: str) -> None:
    """InputError, in one line, when the Postgres database at ``url`` does not answer
    within 5 s (checked before anything is started on it)."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        text = str(exc).strip()
        first = text.splitlines()[-1].strip() if text else type(exc).__name__
        raise InputError(
            f"the engine database at {redact(url)} does not answer ({first}); start "
            "Postgres there or fix --engine-url ($ORCH_ENGINE_URL)"
        ) from None


def postgres_checkpointer(url: str, *, max_connections: int = 8) -> Checkpointer:
    """A LangGraph Postgres checkpointer on the database at ``url`` (postgresql://...),
    through a pool of up to ``max_connections`` connections (close it with
    ``.conn.close()``). Any worker on any machine that reaches the database can resume
    any run. InputError when the database does not answer."""
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    check_postgres(url)
    pool: ConnectionPool[Any] = ConnectionPool(
        url,
        min_size=1,
        max_size=max_connections,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=True,
    )
    saver = PostgresSaver(pool)
    with setup_lock(pool):  # workers starting together: one at a time sets the tables up
        saver.setup()
    return saver


@contextmanager
def setup_lock(pool: Any) -> Iterator[None]:
    """Hold the advisory lock under which tables are created. Taken by polling
    ``pg_try_advisory_lock``: a session blocked in ``pg_advisory_lock`` would be a
    transaction that LangGraph's ``CREATE INDEX CONCURRENTLY`` waits for, forever."""
    with pool.connection() as conn:
        while not _first(conn.execute("SELECT pg_try_advisory_lock(%s)", (_SETUP_LOCK,))):
            time.sleep(0.05)
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))


def _first(cursor: Any) -> Any:
    """The first column of a cursor's one row, whether rows are tuples or dicts."""
    row = cursor.fetchone()
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def journal_for(checkpointer: Checkpointer | None) -> CallJournal | None:
    """The call journal that lives with ``checkpointer``'s state: a table of its SQLite
    database, or memory beside an in-memory saver; None without a checkpointer, or for a
    saver this runtime has no journal for (its runs resume, but re-make a stage's calls)."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.sqlite import SqliteSaver

    if type(checkpointer).__name__ == "PostgresSaver":  # not imported unless in use
        serde = checkpointer.serde  # type: ignore[union-attr]
        pool = checkpointer.conn  # type: ignore[union-attr]
        with setup_lock(pool):
            return PostgresJournal(pool, serde.dumps_typed, serde.loads_typed)
    if isinstance(checkpointer, SqliteSaver):
        serde = checkpointer.jsonplus_serde
        return SqliteJournal(
            checkpointer.conn, checkpointer.lock, serde.dumps_typed, serde.loads_typed
        )
    if isinstance(checkpointer, InMemorySaver):
        return MemoryJournal()
    return None


def _node(stage: Stage, visit: StageFn) -> Any:
    """The LangGraph node of ``stage``: a plain update, or a ``Command`` when it branches."""

    def run_stage(state: RunState, runtime: GraphRuntime[RunContext]) -> dict[str, Any]:
        return {"outputs": [visit(stage, state["outputs"], runtime.context)[0]]}

    def branch(state: RunState, runtime: GraphRuntime[RunContext]) -> Command[str]:
        record, nxt = visit(stage, state["outputs"], runtime.context)
        return Command(update={"outputs": [record]}, goto=nxt if nxt is not None else END)

    node: Any = branch if _branches(stage) else run_stage
    node.__name__ = f"stage_{stage.name}"
    return node


def _branches(stage: Stage) -> bool:
    """Whether a visit of ``stage`` chooses between next stages."""
    return not stage.terminal and len(stage.next) > 1


def _stage_done(outputs: Sequence[Mapping[str, Any]]) -> StageDone:
    """The last stage visit of ``outputs`` (a run's records after it)."""
    last = outputs[-1]
    return StageDone(
        stage=last["stage"],
        visit=len(outputs) - 1,
        role=last["role"] or None,
        model=last["model"] if last.get("calls") else None,
        cost_usd=last["cost"],
    )
