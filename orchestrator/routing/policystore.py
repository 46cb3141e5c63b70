"""Policy state on disk: one JSON file per pipeline, written atomically, never reset silently.

Several processes may learn for one pipeline: each update (``update``) is
load-apply-save under an exclusive lock on ``.<pipeline>.lock``, so no process
overwrites another's learning.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydantic

from orchestrator.errors import StateFileError
from orchestrator.routing.linucb import LinUCB
from orchestrator.routing.pheromone import PheromoneTable
from orchestrator.routing.policy import AssignmentPolicy

__all__ = ["PolicyStore"]

VERSION = 2  # 2 added the pheromone tables; version-1 files load with empty ones


class _StateFile(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    version: int
    pipeline: str
    updated: float
    runs: int = pydantic.Field(ge=0)
    bandit: dict[str, Any]
    pheromone: dict[str, Any] | None = None


class PolicyStore:
    """Loads and saves the learned policy of each pipeline under ``<data>/policy/``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, pipeline: str) -> Path:
        """The state file of ``pipeline``."""
        return self.directory / f"{pipeline}.json"

    def load(self, pipeline: str, *, dim: int, alpha: float) -> tuple[LinUCB, PheromoneTable, int]:
        """The saved bandit, pheromone tables and run count, or fresh ones if none was saved.

        A file that cannot be read raises StateFileError and is left as it is.
        """
        path = self.path(pipeline)
        if not path.exists():
            return LinUCB(dim, alpha=alpha), PheromoneTable(), 0
        fix = (
            f"it was left untouched; move it away or run `orch policy reset {pipeline}` to "
            "start learning afresh"
        )
        try:
            state = _StateFile.model_validate_json(path.read_bytes())
            if state.version not in (1, VERSION):
                raise ValueError(f"version {state.version}, this runtime reads 1 and {VERSION}")
            bandit = LinUCB.from_state(state.bandit)
            pheromone = (
                PheromoneTable.from_state(state.pheromone) if state.pheromone else PheromoneTable()
            )
        except (pydantic.ValidationError, ValueError, KeyError, TypeError, AttributeError) as exc:
            reason = str(exc).splitlines()[0]
            raise StateFileError(
                f"policy state {str(path)!r} is corrupt ({reason}); {fix}"
            ) from None
        if bandit.dim != dim:
            raise StateFileError(
                f"policy state {str(path)!r} has {bandit.dim} features but this runtime uses "
                f"{dim}; {fix}"
            )
        bandit.alpha = alpha
        return bandit, pheromone, state.runs

    @contextlib.contextmanager
    def locked(self, pipeline: str) -> Iterator[None]:
        """Hold the pipeline's lock file, so that processes update its state one at a time."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / f".{pipeline}.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def update(
        self,
        pipeline: str,
        policy: AssignmentPolicy,
        change: Callable[[], object],
        *,
        runs: int,
        dim: int,
        alpha: float,
    ) -> int:
        """Apply ``change`` (a change of ``policy``) to the state as saved, and save it:
        under the pipeline's lock, the saved state is reloaded into ``policy`` (other
        processes may have learned meanwhile), changed, and written back with ``runs``
        more runs learned from. Returns the run count saved."""
        with self.locked(pipeline):
            bandit, pheromone, stored = self.load(pipeline, dim=dim, alpha=alpha)
            with policy.lock:
                policy.adopt(bandit, pheromone)
                change()
            self.save(pipeline, policy.bandit, policy.pheromone, stored + runs)
        return stored + runs

    def save(self, pipeline: str, bandit: LinUCB, pheromone: PheromoneTable, runs: int) -> Path:
        """Write atomically (temp file + rename) so a crash never leaves half a file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(pipeline)
        body = {
            "version": VERSION,
            "pipeline": pipeline,
            "updated": time.time(),
            "runs": runs,
            "bandit": bandit.to_state(),
            "pheromone": pheromone.to_state(),
        }
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body), "utf-8")
        os.replace(tmp, path)
        return path

    def reset(self, pipeline: str) -> bool:
        """Delete the saved state of ``pipeline``; returns whether there was one."""
        path = self.path(pipeline)
        if path.exists():
            path.unlink()
            return True
        return False

    def pipelines(self) -> list[str]:
        """Pipelines with saved state."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json"))
