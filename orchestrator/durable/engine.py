"""Every run a durable workflow on DBOS: started in process, queued for workers, resumed
by id; the one module that imports ``dbos``.

A run is one DBOS workflow (``orch.run``) with one step that executes its ``RunSpec``
(``host.py``); the workflow's id is the run id. DBOS keeps what a run is (queued,
running, finished, its result) and hands queued runs to workers; LangGraph keeps where a
run is (its checkpoints, after every stage) and the call journal what its calls returned.
A workflow whose process died re-executes its step, which resumes the run from its last
checkpoint: nothing is done twice and there is one persistence scheme per concern.

The engine database is embedded SQLite under $ORCH_HOME (one machine; ``runs.sqlite``
beside ``checkpoints.sqlite``) or Postgres (``postgresql://...``: DBOS's tables, the
checkpoints and the journal in one database that workers on many machines share).

Each pipeline has a queue, ``orch.<pipeline>``, served by the workers given its file;
its concurrency and rate limit come from the pipeline's ``queue`` settings. Each process
gets its own executor id, so a process recovers only its own runs at launch; a worker
that finds a dead worker (``liveness.py``) puts that worker's runs back on their queues.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dbos import DBOS, DBOSClient, SetWorkflowID

from orchestrator.durable.host import Host, RunSpec
from orchestrator.durable.liveness import Executor, Liveness
from orchestrator.errors import InputError
from orchestrator.execution import Checkpointer, RunResult, Runtime, StageDone
from orchestrator.execution.graph import (
    check_postgres,
    postgres_checkpointer,
    sqlite_checkpointer,
)
from orchestrator.redaction import redact

__all__ = ["APP_VERSION", "Engine", "RunHandle", "RunRow", "queue_name"]

APP_VERSION = "orch-1"
"""DBOS application version of the run workflow: a worker runs only workflows of its
version (bump it when ``orch.run``'s inputs or steps change incompatibly)."""
WORKFLOW = "orch.run"
_POLL_S = 0.1
"""How often a worker looks for queued runs."""

_HOST = Host()
"""The runtimes this process serves (one DBOS instance per process: one host)."""


@DBOS.workflow(name=WORKFLOW)
def _run_workflow(spec: dict[str, Any]) -> RunResult:
    """One run, durable: its one step executes it (resuming it when it was started)."""
    return _execute(spec)


@DBOS.step(name="orch.execute", retries_allowed=False)
def _execute(spec: dict[str, Any]) -> RunResult:
    return _HOST.execute(RunSpec.from_dict(spec))


def queue_name(pipeline: str) -> str:
    """The queue of ``pipeline``'s submitted runs."""
    return f"orch.{pipeline}"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRow:
    """One run as ``orch runs list`` shows it."""

    run_id: str
    """The run's id."""
    pipeline: str
    """Its pipeline."""
    status: str
    """``queued``, ``running``, ``stopped`` (its process died; resume it), ``ok``,
    ``escalated``, ``failed`` or ``cancelled``."""
    created_at: float
    """When it was started or submitted (Unix time)."""
    detail: str = ""
    """Why it is in that state, when that needs saying (e.g. no worker serves it)."""
    query: str = ""
    """Its request (shortened)."""


class RunHandle:
    """A started or submitted run: its id, and its result once it is done."""

    def __init__(self, run_id: str, wait: Callable[[float | None], RunResult]) -> None:
        self.run_id = run_id
        self._wait = wait

    def result(self, timeout: float | None = None) -> RunResult:
        """Wait for the run (at most ``timeout`` seconds; TimeoutError after) and return
        its result."""
        return self._wait(timeout)


class Engine:
    """The durable-execution engine of this process (one per process: DBOS is).

    ``url``: ``postgresql://...`` for workers on many machines, else the embedded SQLite
    database under ``data_dir``. ``kind`` says what the process does: ``run`` (runs
    started here, ``orch run``/``resume``), ``worker`` (serves pipeline queues, recovers
    dead workers) or ``client`` (submits and lists; never executes: no DBOS launch).
    ``concurrency``: how many runs a worker executes at once.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        data_dir: Path,
        kind: Literal["run", "worker", "client"] = "worker",
        concurrency: int = 4,
    ) -> None:
        if concurrency < 1:
            raise InputError(f"concurrency must be at least 1, not {concurrency}")
        self.kind = kind
        self.concurrency = concurrency
        self.data_dir = data_dir
        self.url = url
        if url is None:
            data_dir.mkdir(parents=True, exist_ok=True)
            self.system_url = f"sqlite:///{(data_dir / 'runs.sqlite').absolute()}"
        elif url.startswith(("postgresql://", "postgres://")):
            self.system_url = url
        else:
            raise InputError(
                f"engine URL {redact(url)!r} is not a Postgres URL; give "
                "postgresql://USER@HOST:PORT/DB, or leave it out for the embedded database"
            )
        if url is not None:
            check_postgres(url)
        self.executor_id = f"{kind}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._client: DBOSClient | None = None
        self._liveness: Liveness | None = None
        self.launched = False
        """Whether ``launch`` started executing (and ``close`` did not stop it yet)."""
        self._queues: dict[str, tuple[int | None, tuple[int, float] | None]] = {}
        self._checkpointers: list[Checkpointer] = []
        self._own_queue = f"orch.own.{self.executor_id}"
        """Where this process puts a run it resumes, so that it is the one to execute it."""
        _HOST.factory = None

    # ----------------------------------------------------------------- wiring

    def checkpointer(self) -> Checkpointer:
        """A LangGraph checkpointer on this engine's database, for a runtime it runs."""
        if self.url is None:
            saver = sqlite_checkpointer(self.data_dir / "checkpoints.sqlite")
        else:
            saver = postgres_checkpointer(self.url, max_connections=self.concurrency + 4)
        self._checkpointers.append(saver)
        return saver

    def serve(self, runtime: Runtime, *, file: str | None = None) -> None:
        """Execute this process's runs of ``runtime.pipeline`` on ``runtime`` (a worker:
        serve its queue too). Before ``launch``."""
        if self.launched:
            raise InputError("serve every runtime before the engine is launched")
        _HOST.serve(runtime, str(Path(file).absolute()) if file else None)
        pipeline = runtime.pipeline
        self._queues[queue_name(pipeline.name)] = (pipeline.concurrency, pipeline.rate_limit)

    def on_unknown(self, factory: Callable[[RunSpec], Runtime]) -> None:
        """Build runtimes with ``factory`` for runs of pipelines not served (``orch resume``)."""
        _HOST.factory = factory

    def launch(self) -> None:
        """Start executing: DBOS launched with this process's executor id, its queues
        registered, its heartbeat beating (a worker also recovers dead workers)."""
        if self.kind == "client":
            raise InputError("a client engine does not execute runs; use kind='run' or 'worker'")
        config: Any = {
            "name": "orchestrator",
            "system_database_url": self.system_url,
            "executor_id": self.executor_id,
            "application_version": APP_VERSION,
            "log_level": "WARNING",
            "run_admin_server": False,
        }
        DBOS(config=config)
        _quiet_dbos()
        DBOS.listen_queues([*(self._queues if self.kind == "worker" else ()), self._own_queue])
        DBOS.launch()
        self.launched = True
        DBOS.register_queue(self._own_queue, polling_interval_sec=_POLL_S)
        for name, (concurrency, rate) in self._queues.items():
            DBOS.register_queue(
                name,
                # DBOS wants the per-worker limit within the pipeline's overall one
                worker_concurrency=(
                    min(self.concurrency, concurrency or self.concurrency)
                    if self.kind == "worker"
                    else None
                ),
                global_concurrency=concurrency,
                limiter={"limit": rate[0], "period": rate[1]} if rate else None,
                polling_interval_sec=_POLL_S,
                on_conflict="always_update",
            )
        self._liveness = Liveness(self.system_url)
        served = tuple(self._queues) if self.kind == "worker" else ()
        self._liveness.beat(
            self.executor_id,
            kind=self.kind,
            pipelines=tuple(q.removeprefix("orch.") for q in served),
            every=self._recover_dead if self.kind == "worker" else None,
        )

    def close(self, *, drain_s: int | None = None) -> None:
        """Stop executing: take no more runs, let the runs in flight finish for up to
        ``drain_s`` seconds (default: 30 for a worker, else 0), then mark this process
        gone (what is still unfinished goes to live workers at once) and close DBOS and
        the checkpointers."""
        if self.launched:
            drain = drain_s if drain_s is not None else (30 if self.kind == "worker" else 0)
            DBOS.destroy(workflow_completion_timeout_sec=drain)  # heartbeat still beating
            self.launched = False
            if self._liveness is not None:
                self._liveness.leave(self.executor_id, pending=self._pending())
        _HOST.close()
        for saver in self._checkpointers:
            saver.conn.close()  # type: ignore[attr-defined]  # both kinds have one
        self._checkpointers.clear()
        if self._client is not None:
            self._client.destroy()
            self._client = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- runs

    def start(
        self,
        runtime: Runtime,
        query: str | None,
        *,
        run_id: str,
        scope: str | None = None,
        progress: Callable[[StageDone], None] | None = None,
    ) -> RunHandle:
        """Run ``query`` on ``runtime`` in this process, as a durable workflow."""
        spec = RunSpec(
            pipeline=runtime.pipeline.name,
            run_id=run_id,
            query=query,
            scope=scope,
            file=_HOST.file_of(runtime.pipeline.name),
        )
        _HOST.watch(run_id, progress)
        with SetWorkflowID(run_id):
            handle = DBOS.start_workflow(_run_workflow, spec.as_dict())
        return RunHandle(run_id, lambda timeout: _wait(handle, timeout))

    def submit(
        self,
        pipeline: str,
        query: str | None,
        *,
        run_id: str,
        file: str | None = None,
        scope: str | None = None,
    ) -> RunHandle:
        """Queue a run of ``pipeline`` for the workers that serve it."""
        spec = RunSpec(
            pipeline=pipeline,
            run_id=run_id,
            query=query,
            scope=scope,
            file=str(Path(file).absolute()) if file else _HOST.file_of(pipeline),
        )
        options: Any = {
            "queue_name": queue_name(pipeline),
            "workflow_name": WORKFLOW,
            "workflow_id": run_id,
            "app_version": APP_VERSION,
        }
        handle: Any = self.client().enqueue(options, spec.as_dict())
        return RunHandle(run_id, lambda timeout: _wait(handle, timeout))

    def resume(
        self, run_id: str, *, progress: Callable[[StageDone], None] | None = None
    ) -> RunHandle:
        """Continue run ``run_id`` from its last completed step, in this process (a run
        whose process died) or as a new attempt (a run that failed). InputError for an
        unknown run, or one that is finished, queued or still running."""
        row = self.row(run_id)
        if row is None:
            raise InputError(f"no run {run_id!r}; `orch runs list` shows the runs and their ids")
        if row.status in ("ok", "escalated", "cancelled"):
            raise InputError(f"run {run_id!r} already finished ({row.status}); nothing to resume")
        if row.status in ("queued", "running"):
            raise InputError(
                f"run {run_id!r} is {row.status}{f' ({row.detail})' if row.detail else ''}; "
                "it needs no resume"
            )
        _HOST.watch(run_id, progress)
        status = self.client().retrieve_workflow(run_id).get_status()
        spec = RunSpec.from_dict(status.input["args"][0] if status.input else {})
        if row.status == "stopped":  # its workflow is PENDING in a dead process: take it
            liveness = self.liveness()
            dead = next(
                (e for e in liveness.executors() if e.executor_id == status.executor_id), None
            )
            if dead is not None and not liveness.claim(dead):  # one taker: no run twice
                raise InputError(
                    f"run {run_id!r} is being taken over by another process just now; "
                    "`orch runs list` shows where it goes on"
                )
            if dead is not None and dead.kind == "worker":  # its other runs: to their queues
                self._move_runs(dead.executor_id, keep=run_id)
            handle: Any = DBOS.resume_workflow(run_id, queue_name=self._own_queue)
            return RunHandle(run_id, lambda timeout: _wait(handle, timeout))
        attempt = f"{run_id}.{secrets.token_hex(2)}"  # failed: a new attempt of the run
        with SetWorkflowID(attempt):
            handle = DBOS.start_workflow(_run_workflow, spec.as_dict())
        return RunHandle(run_id, lambda timeout: _wait(handle, timeout))

    # ----------------------------------------------------------------- status

    def client(self) -> DBOSClient:
        """A DBOS client of the engine database (the schema created if it is new)."""
        if self._client is None:
            client = DBOSClient(system_database_url=self.system_url, retry_connection_errors=False)
            client._sys_db.run_migrations()  # a fresh database: submit before any worker
            self._client = client
        return self._client

    def row(self, run_id: str) -> RunRow | None:
        """The run ``run_id`` (its latest attempt), or None."""
        found = [r for r in self.runs(limit=None, prefix=run_id) if r.run_id == run_id]
        return found[0] if found else None

    def runs(self, *, limit: int | None = 50, prefix: str | None = None) -> list[RunRow]:
        """The latest runs, newest first, one row per run (its latest attempt)."""
        statuses = self.client().list_workflows(
            name=WORKFLOW,
            sort_desc=True,
            limit=limit * 2 if limit else None,
            workflow_id_prefix=prefix,
            load_output=True,
        )
        executors = {e.executor_id: e for e in self.liveness().executors()}
        now = time.time()
        served = {p for e in executors.values() if e.alive(now) for p in e.pipelines}
        rows: dict[str, RunRow] = {}
        for s in statuses:
            spec = RunSpec.from_dict(s.input["args"][0] if s.input and s.input["args"] else {})
            run_id = spec.run_id or s.workflow_id
            if run_id in rows:
                continue  # an older attempt of a run already listed
            rows[run_id] = _row(s, spec, executors.get(s.executor_id or ""), served, now)
        listed = list(rows.values())
        return listed[:limit] if limit else listed

    def liveness(self) -> Liveness:
        if self._liveness is None:
            self._liveness = Liveness(self.system_url)
        return self._liveness

    # ----------------------------------------------------------------- recovery

    def recover_dead(self) -> list[str]:
        """Put the unfinished runs of dead workers back on their queues (a worker calls
        this after every heartbeat); returns their ids."""
        now = time.time()
        moved: list[str] = []
        liveness = self.liveness()
        for dead in liveness.executors():
            if dead.kind != "worker" or dead.alive(now) or dead.executor_id == self.executor_id:
                continue
            if not liveness.claim(dead):
                continue  # another worker took them
            moved += self._move_runs(dead.executor_id)
        return moved

    def _move_runs(self, executor_id: str, keep: str | None = None) -> list[str]:
        """Put the PENDING runs of dead ``executor_id`` (but ``keep``) back on their
        queues; the caller claimed its heartbeat row, so no other process moves them."""
        moved = []
        for s in DBOS.list_workflows(
            status="PENDING", executor_id=executor_id, name=WORKFLOW, load_input=False
        ):
            if s.workflow_id != keep:
                DBOS.resume_workflow(s.workflow_id, queue_name=s.queue_name)
                moved.append(s.workflow_id)
        return moved

    def _recover_dead(self) -> None:
        self.recover_dead()

    def _pending(self) -> bool:
        """Whether runs of this process are still unfinished."""
        try:
            return bool(
                self.client().list_workflows(
                    status="PENDING", executor_id=self.executor_id, load_input=False, limit=1
                )
            )
        except Exception:
            return True


def _row(s: Any, spec: RunSpec, executor: Executor | None, served: set[str], now: float) -> RunRow:
    """How one workflow status reads as a run."""
    status, detail = "failed", ""
    if s.status in ("ENQUEUED", "DELAYED"):
        status = "queued"
        if spec.pipeline not in served:
            detail = f"no live worker serves pipeline {spec.pipeline!r}: start `orch worker FILE`"
    elif s.status == "PENDING":
        if executor is not None and executor.alive(now):
            status, detail = "running", f"on {executor.host} pid {executor.pid}"
        elif executor is not None and executor.kind == "worker":
            status = "stopped"
            detail = (
                "its worker stopped: a live worker serving the pipeline takes it over, or "
                f"orch resume {spec.run_id}"
            )
        else:
            status, detail = "stopped", f"its process is gone: orch resume {spec.run_id}"
    elif s.status == "SUCCESS" and isinstance(s.output, RunResult):
        status = s.output.status
        detail = s.output.error or ""
    elif s.status == "ERROR":
        detail = redact(f"{type(s.error).__name__}: {s.error}") if s.error else ""
    elif s.status == "CANCELLED":
        status = "cancelled"
    query = (spec.query or "").replace("\n", " ")
    return RunRow(
        run_id=spec.run_id or s.workflow_id,
        pipeline=spec.pipeline,
        status=status,
        created_at=(s.created_at or 0) / 1000,
        detail=detail,
        query=query[:60] + ("..." if len(query) > 60 else ""),
    )


class _RunFailures(logging.Filter):
    """Drops DBOS's log of an exception a run raised: the caller gets it, and the CLI
    prints it in one line (library code does not log what it raises)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Exception encountered in" not in record.getMessage()


def _quiet_dbos() -> None:
    logger = logging.getLogger("dbos")
    if not any(isinstance(f, _RunFailures) for f in logger.filters):
        logger.addFilter(_RunFailures())


def _wait(handle: Any, timeout: float | None) -> RunResult:
    """The result of a DBOS workflow handle, waiting at most ``timeout`` seconds."""
    if timeout is None:
        result: RunResult = handle.get_result()
        return result
    done = threading.Event()
    box: list[Any] = []

    def wait() -> None:
        try:
            box.append(handle.get_result())
        except BaseException as exc:
            box.append(exc)
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"run {handle.get_workflow_id()} did not finish in {timeout} s")
    if isinstance(box[0], BaseException):
        raise box[0]
    found: RunResult = box[0]
    return found
