"""Memory stores: the in-process default (persisted), and the fallback wrapper around a
shared store.

Every store is bounded by construction: per tier, a cap on items per scope (the oldest go
first) and a TTL. The same conformance tests run against ``LocalStore`` and
``memory.redis_store.RedisStore``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import NamedTuple, Protocol

from memory.item import MemoryItem, check_tier
from orchestrator.errors import MemoryItemError, StateFileError, StoreUnavailable

__all__ = [
    "FallbackStore",
    "Limits",
    "LocalStore",
    "MemoryStore",
    "Outage",
    "StoreEvent",
    "put_many",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    """Per-tier bounds of a store."""

    max_items: Mapping[str, int] = field(
        default_factory=lambda: {"working": 200, "episodic": 5000, "semantic": 5000, "profile": 200}
    )
    """Items kept per (tier, scope); writing more drops the oldest."""
    ttl_s: Mapping[str, float] = field(
        default_factory=lambda: {
            "working": 86_400.0,
            "episodic": 0.0,
            "semantic": 0.0,
            "profile": 0.0,
        }
    )
    """Seconds an item lives after it is written (0: no expiry)."""

    def cap(self, tier: str) -> int:
        """Items kept per scope of ``tier``."""
        return int(self.max_items.get(tier, 1000))

    def stamp(self, item: MemoryItem, now: float) -> MemoryItem:
        """``item`` with its expiry set from the tier's TTL."""
        ttl = float(self.ttl_s.get(item.tier, 0.0))
        return replace(item, expires_at=now + ttl) if ttl > 0 else item


class MemoryStore(Protocol):
    """Where memory items live.

    Contract: ``put`` replaces an item with the same (tier, scope, id) and keeps the
    tier's cap by dropping the oldest items of that scope; reads never return expired
    items; ``items`` returns a scope's items oldest first (by ``seq``, then write order).
    A shared store that cannot be reached raises ``StoreUnavailable``.
    """

    limits: Limits

    def put(self, item: MemoryItem) -> None:
        """Write (or replace) one item."""
        ...

    def items(self, tier: str, scope: str) -> list[MemoryItem]:
        """Every live item of a scope, oldest first."""
        ...

    def delete(self, tier: str, scope: str, item_id: str) -> bool:
        """Remove one item; whether it existed."""
        ...

    def scopes(self, tier: str) -> list[str]:
        """Scopes that hold items of ``tier``."""
        ...


class LocalStore:
    """In-process store, optionally persisted to an append-only log under ``path``.

    The log is replayed at start-up (so memory survives a restart) and rewritten compactly
    when it grows past twice the live data.
    """

    def __init__(self, path: Path | None = None, *, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.path = path
        self._data: dict[tuple[str, str], OrderedDict[str, MemoryItem]] = {}
        self._lock = threading.Lock()
        self._log_lines = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                self._replay(path)

    def _replay(self, path: Path) -> None:
        with path.open("r", encoding="utf-8") as f:
            for raw in f:
                self._log_lines += 1
                op, _, body = raw.rstrip("\n").partition(" ")
                if op == "put":
                    self._apply_put(MemoryItem.from_json(body))
                elif op == "del":
                    tier, scope, item_id = body.split("\t", 2)
                    self._data.get((tier, scope), OrderedDict()).pop(item_id, None)

    def _apply_put(self, item: MemoryItem) -> None:
        bucket = self._data.setdefault((item.tier, item.scope), OrderedDict())
        bucket.pop(item.id, None)
        bucket[item.id] = item
        cap = self.limits.cap(item.tier)
        while len(bucket) > cap:  # bounded: the oldest write goes first
            bucket.popitem(last=False)

    def _log(self, line: str) -> None:
        if self.path is None:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
        self._log_lines += 1
        live = sum(len(b) for b in self._data.values())
        if self._log_lines > 2 * live + 100:
            self._compact()

    def _compact(self) -> None:
        assert self.path is not None
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for bucket in self._data.values():
                for item in bucket.values():
                    f.write("put " + item.to_json() + "\n")
        os.replace(tmp, self.path)
        self._log_lines = sum(len(b) for b in self._data.values())

    def put(self, item: MemoryItem) -> None:
        """Write (or replace) one item; the tier's cap drops the oldest of its scope."""
        item = self.limits.stamp(item, time.time())
        with self._lock:
            self._apply_put(item)
            self._log("put " + item.to_json())

    def items(self, tier: str, scope: str) -> list[MemoryItem]:
        """Live items of a scope, oldest first."""
        check_tier(tier)
        now = time.time()
        with self._lock:
            bucket = self._data.get((tier, scope))
            if not bucket:
                return []
            live = [i for i in bucket.values() if not i.expired(now)]
        order = {i.id: n for n, i in enumerate(live)}
        return sorted(live, key=lambda i: (i.seq, order[i.id]))

    def delete(self, tier: str, scope: str, item_id: str) -> bool:
        """Remove one item."""
        check_tier(tier)
        with self._lock:
            found = self._data.get((tier, scope), OrderedDict()).pop(item_id, None) is not None
            if found:
                self._log(f"del {tier}\t{scope}\t{item_id}")
            return found

    def scopes(self, tier: str) -> list[str]:
        """Scopes with items of ``tier``."""
        check_tier(tier)
        with self._lock:
            return sorted(s for (t, s), b in self._data.items() if t == tier and b)

    def size(self) -> int:
        """Items held in all (live or not yet purged)."""
        with self._lock:
            return sum(len(b) for b in self._data.values())


class Outage(Enum):
    """A change of a shared store's state, as ``FallbackStore`` sees it."""

    DOWN = "down"
    """It stopped answering: the in-process store serves, writes are queued."""
    BACK = "back"
    """It answers again: the queued writes were replayed."""


class StoreEvent(NamedTuple):
    """What ``FallbackStore`` tells its ``on_event`` callback."""

    change: Outage
    message: str
    """The change in a sentence (with the store's error when it went down)."""


class FallbackStore:
    """A shared store with the in-process one behind it.

    While the shared store is unreachable, reads and writes go to ``local`` and each
    write is queued; every later call first tries to replay the queue, so nothing written
    during the outage is lost. ``on_event`` is told each change of state (for the trace).
    """

    def __init__(
        self,
        shared: MemoryStore,
        local: LocalStore | None = None,
        *,
        on_event: Callable[[StoreEvent], None] | None = None,
    ) -> None:
        self.shared = shared
        self.local = local or LocalStore(limits=shared.limits)
        self.limits = shared.limits
        self.degraded = False
        self._pending: list[tuple[str, MemoryItem | tuple[str, str, str]]] = []
        self._on_event = on_event or (lambda _event: None)
        self._lock = threading.Lock()

    def _recover(self) -> bool:
        """Replay queued writes if the shared store answers; whether it is usable."""
        if not self.degraded:
            return True
        with self._lock:
            try:
                if not self._pending:
                    self.shared.scopes("working")  # nothing to replay: probe it
                while self._pending:
                    op, arg = self._pending[0]
                    if op == "put":
                        assert isinstance(arg, MemoryItem)
                        self.shared.put(arg)
                    else:
                        assert isinstance(arg, tuple)
                        self.shared.delete(*arg)
                    self._pending.pop(0)
            except StoreUnavailable:
                return False
            self.degraded = False
        self._on_event(
            StoreEvent(Outage.BACK, "shared memory store is back; queued writes replayed")
        )
        return True

    def _degrade(self, exc: StoreUnavailable) -> None:
        if not self.degraded:
            self.degraded = True
            message = f"{exc}; using the in-process store, writes are queued"
            self._on_event(StoreEvent(Outage.DOWN, message))

    def put(self, item: MemoryItem) -> None:
        """Write to the shared store, or locally and queued while it is down."""
        if self._recover():
            try:
                self.shared.put(item)
                return
            except StoreUnavailable as exc:
                self._degrade(exc)
        self.local.put(item)
        with self._lock:
            self._pending.append(("put", item))

    def items(self, tier: str, scope: str) -> list[MemoryItem]:
        """From the shared store; from the in-process one while it is down."""
        if self._recover():
            try:
                return self.shared.items(tier, scope)
            except StoreUnavailable as exc:
                self._degrade(exc)
        return self.local.items(tier, scope)

    def delete(self, tier: str, scope: str, item_id: str) -> bool:
        """Delete in the shared store, or locally and queued."""
        if self._recover():
            try:
                return self.shared.delete(tier, scope, item_id)
            except StoreUnavailable as exc:
                self._degrade(exc)
        found = self.local.delete(tier, scope, item_id)
        with self._lock:
            self._pending.append(("del", (tier, scope, item_id)))
        return found

    def scopes(self, tier: str) -> list[str]:
        """Scopes of the shared store (or the in-process one while it is down)."""
        if self._recover():
            try:
                return self.shared.scopes(tier)
            except StoreUnavailable as exc:
                self._degrade(exc)
        return self.local.scopes(tier)

    def pending(self) -> int:
        """Writes waiting for the shared store."""
        return len(self._pending)

    def spill(self, path: Path) -> int:
        """Append the writes still waiting for the shared store to ``path`` (one JSON
        line each) and forget them: a process that ends during an outage keeps them on
        disk for ``replay_spilled``. Returns how many."""
        with self._lock:
            ops, self._pending = self._pending, []
        if not ops:
            return 0
        lines = []
        for op, arg in ops:
            if op == "put":
                assert isinstance(arg, MemoryItem)
                lines.append(json.dumps({"put": json.loads(arg.to_json())}))
            else:
                assert isinstance(arg, tuple)
                lines.append(json.dumps({"delete": list(arg)}))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return len(ops)

    def replay_spilled(self, path: Path) -> int:
        """Send the writes ``spill`` kept in ``path`` to the shared store, in order, and
        remove the file; returns how many. The file is claimed first (renamed), so two
        processes never send it twice; if the shared store fails or a line is not a
        queued write, what was not sent goes back to ``path`` and the error is raised
        (``StoreUnavailable``, ``StateFileError``). Replayed writes are idempotent."""
        claimed = path.with_name(f"{path.name}.{os.getpid()}.replaying")
        try:
            os.replace(path, claimed)
        except FileNotFoundError:
            return 0
        lines = [ln for ln in claimed.read_text(encoding="utf-8").splitlines() if ln.strip()]
        sent = 0
        try:
            for line in lines:
                try:
                    record = json.loads(line)
                    if "put" in record:
                        item = MemoryItem(**record["put"])
                    else:
                        tier, scope, item_id = record["delete"]
                except (ValueError, TypeError, KeyError, MemoryItemError) as exc:
                    raise StateFileError(
                        f"{path}: {line[:80]!r} is not a queued memory write "
                        f"({type(exc).__name__}: {exc}); fix or remove that line"
                    ) from None
                if "put" in record:
                    self.shared.put(item)
                else:
                    self.shared.delete(tier, scope, item_id)
                sent += 1
        except BaseException:
            with path.open("a", encoding="utf-8") as f:  # give back what was not sent
                f.write("".join(ln + "\n" for ln in lines[sent:]))
            raise
        finally:
            claimed.unlink()
        return sent


def put_many(store: MemoryStore, items: Iterable[MemoryItem]) -> int:
    """Write several items; returns how many."""
    n = 0
    for item in items:
        store.put(item)
        n += 1
    return n
