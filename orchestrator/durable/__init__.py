"""Durable runs: every run a DBOS workflow, queues and workers, recovery of dead workers.

``engine`` (the ``Engine``: DBOS wiring, start, submit, resume, list, recovery), ``host``
(the runtimes a process serves and one run spec executed on them), ``liveness``
(heartbeat rows: which engine processes are alive). The engine imports DBOS (about 1 s)
when its names are first read.
"""

from typing import TYPE_CHECKING

from orchestrator._lazy import lazy_exports

__all__ = ["Engine", "Executor", "RunHandle", "RunRow", "RunSpec"]

_WHERE = {
    "Engine": "orchestrator.durable.engine",
    "RunHandle": "orchestrator.durable.engine",
    "RunRow": "orchestrator.durable.engine",
    "RunSpec": "orchestrator.durable.host",
    "Executor": "orchestrator.durable.liveness",
}

if TYPE_CHECKING:
    from orchestrator.durable.engine import Engine, RunHandle, RunRow
    from orchestrator.durable.host import RunSpec
    from orchestrator.durable.liveness import Executor

__getattr__ = lazy_exports(__name__, _WHERE)
