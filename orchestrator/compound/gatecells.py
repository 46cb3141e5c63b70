"""The quality gate's cells in Redis, shared by every worker: each (model, group) cell one
key (``<prefix>:<pipeline>:<model>\\x1f<group>``, JSON), changed in a WATCH/MULTI
transaction, so every worker's judged runs count in one rolling window and a revert seen
by one worker holds for all. While Redis cannot be reached, the gate uses its own copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["RedisGateCells"]

T = TypeVar("T")


class RedisGateCells:
    """``GateCells`` of ``pipeline`` in the Redis server at ``url``."""

    def __init__(
        self, url: str, pipeline: str, *, prefix: str = "orch:gate", timeout_s: float = 1.0
    ) -> None:
        from memory.redisconn import connect, unreachable_errors, watch_error

        self.url = url
        self._base = f"{prefix}:{pipeline}"
        self._r: Any = connect(url, timeout_s=timeout_s)
        self._errors = unreachable_errors()
        self._watch_error = watch_error()

    def transact(
        self,
        key: str,
        apply: Callable[[dict[str, Any] | None], T],
        dump: Callable[[], dict[str, Any]],
    ) -> T:
        full = f"{self._base}:{key}"
        done: list[T] = []
        for _ in range(20):
            pipe = self._r.pipeline()
            done.clear()
            try:
                pipe.watch(full)
                raw = pipe.get(full)
                done.append(apply(json.loads(raw) if raw is not None else None))
                pipe.multi()
                pipe.set(full, json.dumps(dump()))
                pipe.execute()
                return done[0]
            except self._watch_error:
                continue
            except self._errors:  # Redis away: the gate's own copy, applied once
                return done[0] if done else apply(None)
            finally:
                pipe.reset()
        return done[0] if done else apply(None)
