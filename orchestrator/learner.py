"""Learning off the decision path: policy updates run on one background thread.

A finished run hands its credit (LinUCB update, pheromone deposit, state save) to the
learner and returns at once; decisions and updates share the policy's lock, so a decision
sees the policy either before or after an update, never halfway. ``flush`` waits for every
submitted update; pending updates are also flushed when the interpreter exits.
"""

from __future__ import annotations

import atexit
import queue
import threading
import weakref
from collections.abc import Callable

__all__ = ["Learner"]


def _close_at_exit(ref: weakref.ref[Learner]) -> None:
    learner = ref()
    if learner is not None:
        learner.close()


class Learner:
    """A single worker thread applying submitted updates in order."""

    def __init__(self, name: str = "orchestrator-learner") -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                job()
            except BaseException as exc:  # kept and re-raised by flush()
                self._errors.append(exc)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the learner thread after every job submitted before it."""
        if not self._thread.is_alive():
            job()  # closed: apply synchronously rather than lose the update
            return
        self._queue.put(job)

    def flush(self) -> None:
        """Wait until every submitted job ran; re-raise the first error one raised."""
        if self._thread.is_alive():
            self._queue.join()
        if self._errors:
            exc, self._errors = self._errors[0], []
            raise exc

    def close(self) -> None:
        """Finish pending jobs and stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
