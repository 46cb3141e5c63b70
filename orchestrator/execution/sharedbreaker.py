"""Circuit breakers shared by every worker through Redis: a model one worker found failing
is not offered by the others either.

``RedisBreakerBoard`` is a ``BreakerBoard`` (same states, same rules) whose state lives
in Redis, one key per model (``<prefix>:<model>``, JSON, expiring once it can no longer
matter). A fault, a success and a probe taken are each a WATCH/MULTI transaction on the
model's key; the decision path (``blocked``) reads the keys of the models it is asked
about at most once a second, so it costs no round trip per decision. Times are wall-clock
(every machine's clock, NTP-synchronised, agrees well within a cooldown). While Redis
cannot be reached the board goes on as a local one: breakers are advice, not state that
must not be lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any, TypeVar

from orchestrator.execution.breaker import BreakerBoard, _Breaker

__all__ = ["RedisBreakerBoard"]

T = TypeVar("T")

PULL_S = 1.0
"""How stale the decision path's view of other workers' breakers may be."""


class RedisBreakerBoard(BreakerBoard):
    """A ``BreakerBoard`` shared through the Redis server at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "orch:breaker",
        threshold: int = 1,
        cooldown_s: float = 30.0,
        max_cooldown_s: float = 600.0,
        timeout_s: float = 1.0,
    ) -> None:
        from memory.redisconn import connect, unreachable_errors, watch_error

        super().__init__(
            threshold=threshold,
            cooldown_s=cooldown_s,
            max_cooldown_s=max_cooldown_s,
            clock=time.time,
        )
        self.url = url
        self.prefix = prefix
        self._r: Any = connect(url, timeout_s=timeout_s)
        self._errors = unreachable_errors()
        self._watch_error = watch_error()
        self._pulled: dict[str, float] = {}

    def _key(self, model: str) -> str:
        return f"{self.prefix}:{model}"

    def blocked(self, models: Iterable[str]) -> dict[str, str]:
        models = list(models)
        now = time.monotonic()
        stale = [m for m in models if now - self._pulled.get(m, -PULL_S) >= PULL_S]
        if stale:
            try:
                values = self._r.mget([self._key(m) for m in stale])
            except self._errors:
                values = None  # Redis away: this worker's own view
            if values is not None:
                with self._lock:
                    for m, raw in zip(stale, values, strict=True):
                        if raw is None:
                            self._b.pop(m, None)
                        else:
                            self._b[m] = _Breaker(**json.loads(raw))
                        self._pulled[m] = now
        return super().blocked(models)

    def taken(self, model: str) -> bool:
        return self._shared(model, lambda: BreakerBoard.taken(self, model))

    def success(self, model: str) -> bool:
        return self._shared(model, lambda: BreakerBoard.success(self, model))

    def failure(self, model: str, kind: str, message: str) -> str:
        return self._shared(model, lambda: BreakerBoard.failure(self, model, kind, message))

    def _shared(self, model: str, change: Callable[[], T]) -> T:
        """``change`` applied to ``model``'s breaker as stored, and stored again."""
        key = self._key(model)
        for _ in range(20):
            pipe = self._r.pipeline()
            done: list[T] = []
            try:
                pipe.watch(key)
                raw = pipe.get(key)
                with self._lock:
                    if raw is None:
                        self._b.pop(model, None)
                    else:
                        self._b[model] = _Breaker(**json.loads(raw))
                done.append(change())
                with self._lock:
                    b = self._b.get(model)
                pipe.multi()
                if b is None or (b.failures == 0 and b.opened_at is None):
                    pipe.delete(key)
                else:
                    pipe.set(key, json.dumps(asdict(b)), ex=int(4 * self.max_cooldown_s))
                pipe.execute()
                self._pulled[model] = time.monotonic()
                return done[0]
            except self._watch_error:
                continue
            except self._errors:  # Redis away: decided locally (once)
                return done[0] if done else change()
            finally:
                pipe.reset()
        return change()
