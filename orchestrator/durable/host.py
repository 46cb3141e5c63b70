"""The runtimes a process serves, and one queued or started run executed on them.

A run's workflow carries a ``RunSpec``: which pipeline, the query, the run id and where
the pipeline is defined. The process that executes it looks the pipeline's ``Runtime``
up here (the runtime ``orch run`` or ``orch worker`` built, with its options); a process
that was not given the pipeline (``orch resume`` of a run by id) builds one from the
spec's file. Executing a spec is idempotent per run: a run with a checkpoint is resumed
from it, a run whose checkpoint is finished is settled from it without running again,
and only a run with no checkpoint starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.errors import InputError
from orchestrator.execution import RunResult, Runtime, StageDone

__all__ = ["Host", "RunSpec"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSpec:
    """What a run's workflow is given: enough for any process to execute it."""

    pipeline: str
    """Name of the pipeline."""
    run_id: str
    """The run's id (the workflow's id, or the id of the run it continues)."""
    query: str | None = None
    """The request (None: the pipeline's sample query)."""
    scope: str | None = None
    """Whose long-term memory the run uses."""
    file: str | None = None
    """Absolute path of the file that defines the pipeline (None: defined in Python)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        return cls(
            pipeline=str(data.get("pipeline") or ""),
            run_id=str(data.get("run_id") or ""),
            query=data.get("query"),
            scope=data.get("scope"),
            file=data.get("file"),
        )


Factory = Callable[[RunSpec], Runtime]
"""Builds the runtime of a spec's pipeline in a process that does not serve it."""


class Host:
    """The runtimes this process serves, by pipeline name."""

    def __init__(self) -> None:
        self._runtimes: dict[str, Runtime] = {}
        self._files: dict[str, str | None] = {}
        self._progress: dict[str, Callable[[StageDone], None]] = {}
        self._built: list[Runtime] = []
        self._lock = threading.Lock()
        self.factory: Factory | None = None
        """How to build a runtime for a spec of a pipeline not served (None: refuse)."""

    def serve(self, runtime: Runtime, file: str | None = None) -> None:
        """Run this process's runs of ``runtime.pipeline`` on ``runtime``."""
        with self._lock:
            self._runtimes[runtime.pipeline.name] = runtime
            self._files[runtime.pipeline.name] = file

    def pipelines(self) -> tuple[str, ...]:
        """Names of the pipelines served."""
        return tuple(self._runtimes)

    def file_of(self, pipeline: str) -> str | None:
        return self._files.get(pipeline)

    def runtime(self, spec: RunSpec) -> Runtime:
        """The runtime of ``spec``'s pipeline: served, else built by ``factory``."""
        with self._lock:
            found = self._runtimes.get(spec.pipeline)
            if found is not None:
                return found
            if self.factory is None or spec.file is None:
                raise InputError(
                    f"this process does not serve pipeline {spec.pipeline!r} and cannot load "
                    "it (the run was defined in Python); run it where it is defined"
                )
            built = self.factory(spec)
            self._runtimes[spec.pipeline] = built
            self._files[spec.pipeline] = spec.file
            self._built.append(built)
            return built

    def watch(self, run_id: str, progress: Callable[[StageDone], None] | None) -> None:
        """Tell ``progress`` each stage of ``run_id`` executed in this process."""
        if progress is not None:
            self._progress[run_id] = progress

    def execute(self, spec: RunSpec) -> RunResult:
        """Execute ``spec``'s run: resume it from its checkpoint, settle it when its
        checkpoint is finished, or start it (see the module docstring)."""
        runtime = self.runtime(spec)
        progress = self._progress.pop(spec.run_id, None)
        if runtime.checkpointer is not None and runtime.has_checkpoint(spec.run_id):
            if runtime.resumable(spec.run_id):
                return runtime.resume(spec.run_id, progress=progress)
            return runtime.settled(spec.run_id)
        return runtime.run(spec.query, run_id=spec.run_id, scope=spec.scope, progress=progress)

    def close(self) -> None:
        """Forget every runtime; close those this host built itself (served ones are
        their owners')."""
        with self._lock:
            built, self._built = self._built, []
            self._runtimes.clear()
            self._files.clear()
            self._progress.clear()
        for runtime in built:
            runtime.close()
