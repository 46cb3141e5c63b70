"""Redis-backed memory, shared across processes (connected through ``redisconn``).

Plain Redis commands only (any Redis >= 6.2, no modules). Per (tier, scope):

- ``{prefix}:{tier}:{scope}:items`` a HASH id -> item JSON;
- ``{prefix}:{tier}:{scope}:order`` a ZSET of ids scored by write order (a counter), so
  the cap drops the oldest with one ZREMRANGEBYRANK;
- ``{prefix}:{tier}:scopes`` a SET of scopes.

Per-item TTLs are kept in the item (filtered on read, purged on write); both keys of a
scope also expire a TTL after its last write, so an abandoned scope frees its memory.
Connection failures become ``StoreUnavailable``; a malformed URL is an ``InputError``.
"""

from __future__ import annotations

from typing import Any

from memory.item import MemoryItem, check_tier
from memory.store import Limits
from orchestrator.errors import StoreUnavailable
from orchestrator.redaction import redact

__all__ = ["RedisStore"]


class RedisStore:
    """A MemoryStore on a Redis server at ``url`` (e.g. ``redis://127.0.0.1:6379/0``)."""

    def __init__(
        self,
        url: str,
        *,
        limits: Limits | None = None,
        prefix: str = "orch:mem",
        timeout_s: float = 2.0,
    ) -> None:
        from memory.redisconn import connect, unreachable_errors

        self.limits = limits or Limits()
        self.prefix = prefix
        self.url = url
        self._errors = unreachable_errors()
        self._r: Any = connect(url, timeout_s=timeout_s)

    def ping(self) -> None:
        """Check that the server answers; raises ``StoreUnavailable`` if it does not."""
        self._call("reach it", self._r.ping)

    def _keys(self, tier: str, scope: str) -> tuple[str, str]:
        base = f"{self.prefix}:{check_tier(tier)}:{scope}"
        return f"{base}:items", f"{base}:order"

    def _call(self, what: str, fn: Any) -> Any:
        try:
            return fn()
        except self._errors as exc:
            raise StoreUnavailable(  # the URL may hold a password: redacted
                redact(
                    f"Redis at {self.url} is unreachable ({type(exc).__name__}: {exc}) while "
                    f"trying to {what}"
                )
            ) from None

    def put(self, item: MemoryItem) -> None:
        """Write (or replace) one item; the tier's cap drops the oldest of its scope."""
        import time

        item = self.limits.stamp(item, time.time())
        items_key, order_key = self._keys(item.tier, item.scope)
        cap = self.limits.cap(item.tier)
        ttl = float(self.limits.ttl_s.get(item.tier, 0.0))

        def write() -> None:
            seq = self._r.incr(f"{self.prefix}:counter")
            pipe = self._r.pipeline()
            pipe.hset(items_key, item.id, item.to_json())
            pipe.zadd(order_key, {item.id: seq})
            pipe.sadd(f"{self.prefix}:{item.tier}:scopes", item.scope)
            pipe.zrange(order_key, 0, -(cap + 1))  # ids beyond the cap, oldest first
            res = pipe.execute()
            drop = res[3]
            if drop:
                pipe = self._r.pipeline()
                pipe.hdel(items_key, *drop)
                pipe.zrem(order_key, *drop)
                pipe.execute()
            if ttl > 0:
                pipe = self._r.pipeline()
                pipe.expire(items_key, int(ttl) + 1)
                pipe.expire(order_key, int(ttl) + 1)
                pipe.execute()

        self._call(f"write {item.tier} item {item.id!r}", write)

    def items(self, tier: str, scope: str) -> list[MemoryItem]:
        """Live items of a scope, oldest first."""
        import time

        items_key, order_key = self._keys(tier, scope)

        def read() -> list[MemoryItem]:
            pipe = self._r.pipeline()
            pipe.zrange(order_key, 0, -1)
            pipe.hgetall(items_key)
            ids, raw = pipe.execute()
            now = time.time()
            out = []
            for i in ids:
                body = raw.get(i)
                if body is None:
                    continue
                item = MemoryItem.from_json(body)
                if not item.expired(now):
                    out.append(item)
            order = {it.id: n for n, it in enumerate(out)}
            return sorted(out, key=lambda it: (it.seq, order[it.id]))

        out: list[MemoryItem] = self._call(f"read {tier} items of {scope!r}", read)
        return out

    def delete(self, tier: str, scope: str, item_id: str) -> bool:
        """Remove one item."""
        items_key, order_key = self._keys(tier, scope)

        def remove() -> bool:
            pipe = self._r.pipeline()
            pipe.hdel(items_key, item_id)
            pipe.zrem(order_key, item_id)
            return bool(pipe.execute()[0])

        return bool(self._call(f"delete {tier} item {item_id!r}", remove))

    def scopes(self, tier: str) -> list[str]:
        """Scopes with items of ``tier``."""
        check_tier(tier)
        raw = self._call("list scopes", lambda: self._r.smembers(f"{self.prefix}:{tier}:scopes"))
        out = sorted(s.decode() if isinstance(s, bytes) else str(s) for s in raw)
        return [
            s for s in out if self._call("count", lambda s=s: self._r.zcard(self._keys(tier, s)[1]))
        ]

    def memory_bytes(self) -> int:
        """Bytes the server uses (INFO memory), for the boundedness check."""
        return int(self._call("read INFO", lambda: self._r.info("memory"))["used_memory"])
