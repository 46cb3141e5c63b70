"""Learning off the decision path: policy updates run on one background thread.

A finished run hands its credit (LinUCB update, pheromone deposit, state save) to the
learner and returns at once; decisions and updates share the policy's lock, so a decision
sees the policy either before or after an update, never halfway. ``flush`` waits for every
submitted update; pending updates are also flushed when the interpreter exits.
``Batcher`` collects finished runs' credits so that a busy runtime applies one batched
update per many runs.
"""

from __future__ import annotations

import atexit
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Batcher", "Learner"]

T = TypeVar("T")


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


class Batcher(Generic[T]):
    """Collects items and hands them to ``apply`` on the learner's thread, in batches.

    The first item after a batch schedules one job, which waits up to ``linger_s`` for
    more items before it applies everything collected: learning lags a run by at most
    ``linger_s``. A batch of ``max_batch`` items, ``flush`` and ``close`` cut the wait short.
    """

    def __init__(
        self,
        learner: Learner,
        apply: Callable[[list[T]], object],
        *,
        linger_s: float,
        max_batch: int,
    ) -> None:
        self._learner = learner
        self._apply = apply
        self.linger_s = linger_s
        self.max_batch = max_batch
        self._items: list[T] = []
        self._lock = threading.Lock()
        self._scheduled = False
        self._wake = threading.Event()
        """Set when collected items should be applied without lingering."""

    def add(self, item: T) -> None:
        """Collect ``item``; it is applied with the batch it joins."""
        with self._lock:
            self._items.append(item)
            schedule, self._scheduled = not self._scheduled, True
            if len(self._items) >= self.max_batch:
                self._wake.set()
        if schedule:
            self._learner.submit(self._drain)

    def _drain(self) -> None:
        """(Learner thread) Linger, then apply every collected item in one call."""
        self._wake.wait(self.linger_s)
        with self._lock:
            items, self._items = self._items, []
            self._scheduled = False
            self._wake.clear()
        if items:
            self._apply(items)

    def flush(self) -> None:
        """Apply what is collected now and wait until the learner ran it (and every job
        before it); re-raises the first error a job raised."""
        self._wake.set()
        self._learner.flush()
        with self._lock:
            if not self._items:  # nothing collected since: later batches linger again
                self._wake.clear()

    def close(self) -> None:
        """Apply what is collected and stop the learner's thread."""
        self._wake.set()
        self._learner.close()
        self._learner.flush()
