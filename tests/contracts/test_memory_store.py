"""One conformance suite for every memory store: the in-process store and Redis (a real
redis-server) pass the same tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from memory import (
    Limits,
    LocalStore,
    MemoryItem,
)
from memory.redis_store import RedisStore
from orchestrator.errors import MemoryItemError
from tests.servers import free_port

SMALL = Limits(
    max_items={"working": 5, "episodic": 50, "semantic": 50, "profile": 10},
    ttl_s={"working": 0.0, "episodic": 0.0, "semantic": 0.0, "profile": 0.0},
)


@pytest.fixture(params=["local", "redis"])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[..., LocalStore | RedisStore]:
    def make(limits: Limits = SMALL) -> LocalStore | RedisStore:
        if request.param == "local":
            return LocalStore(tmp_path / "memory.log", limits=limits)
        url = request.getfixturevalue("redis_url")
        return RedisStore(url, limits=limits, prefix=f"t{free_port()}")

    return make


def turn(i: int, text: str = "", scope: str = "c1", tier: str = "episodic") -> MemoryItem:
    return MemoryItem(
        tier=tier, scope=scope, id=f"D1:{i}", text=text or f"turn {i}", key="Ann", seq=i, group="1"
    )


def test_put_read_replace_delete_in_order(make_store: Callable[..., object]) -> None:
    store = make_store()
    for i in (3, 1, 2):
        store.put(turn(i))  # type: ignore[attr-defined]
    assert [i.id for i in store.items("episodic", "c1")] == ["D1:1", "D1:2", "D1:3"]  # type: ignore[attr-defined]
    store.put(turn(2, "changed"))  # type: ignore[attr-defined]
    assert [i.text for i in store.items("episodic", "c1")] == ["turn 1", "changed", "turn 3"]  # type: ignore[attr-defined]
    assert store.delete("episodic", "c1", "D1:1") is True  # type: ignore[attr-defined]
    assert store.delete("episodic", "c1", "D1:1") is False  # type: ignore[attr-defined]
    assert store.items("episodic", "other") == []  # type: ignore[attr-defined]
    assert store.scopes("episodic") == ["c1"]  # type: ignore[attr-defined]
    with pytest.raises(MemoryItemError, match="unknown memory tier 'dreams'"):
        store.items("dreams", "c1")  # type: ignore[attr-defined]


def test_caps_drop_the_oldest_and_ten_thousand_writes_stay_bounded(
    make_store: Callable[..., object],
) -> None:
    store = make_store()
    for i in range(10_000):
        store.put(turn(i, tier="working", scope="run"))  # type: ignore[attr-defined]
    kept = store.items("working", "run")  # type: ignore[attr-defined]
    assert [i.seq for i in kept] == list(range(9_995, 10_000))
    if isinstance(store, LocalStore):
        assert store.size() == 5
        # the log is compacted as it grows: the file stays near the live data
        assert sum(1 for _ in (store.path or Path()).open()) < 200
    else:
        raw = store._r  # the server holds 5 items of this scope, no more
        assert raw.hlen(f"{store.prefix}:working:run:items") == 5
        assert raw.zcard(f"{store.prefix}:working:run:order") == 5


def test_ttl_expires_items(make_store: Callable[..., object]) -> None:
    import time

    store = make_store(Limits(max_items=SMALL.max_items, ttl_s={"working": 0.3}))
    store.put(turn(1, tier="working"))  # type: ignore[attr-defined]
    assert len(store.items("working", "c1")) == 1  # type: ignore[attr-defined]
    time.sleep(0.4)
    assert store.items("working", "c1") == []  # type: ignore[attr-defined]


def test_unicode_survives_the_round_trip(make_store: Callable[..., object]) -> None:
    store = make_store()
    store.put(turn(1, "naïve café — 東京 ✓"))  # type: ignore[attr-defined]
    assert store.items("episodic", "c1")[0].text == "naïve café — 東京 ✓"  # type: ignore[attr-defined]
