"""Memory: each store's specifics (restarts, outages), bad items, tiers and routing, and
memory in the runtime (the stores' shared contract is tests/contracts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memory import (
    FallbackStore,
    LocalStore,
    MemoryItem,
    MemoryRouter,
    Outage,
    Selector,
    StoreEvent,
    decode_text,
)
from memory.redis_store import RedisStore
from orchestrator.errors import MemoryItemError, StateFileError, StoreUnavailable
from tests.contracts.test_memory_store import SMALL, turn
from tests.servers import free_port, redis_server


def test_local_store_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "mem" / "memory.log"
    store = LocalStore(path, limits=SMALL)
    for i in range(3):
        store.put(turn(i))
    store.delete("episodic", "c1", "D1:0")
    again = LocalStore(path, limits=SMALL)
    assert [i.id for i in again.items("episodic", "c1")] == ["D1:1", "D1:2"]


def test_redis_down_mid_run_degrades_and_loses_nothing() -> None:
    events: list[StoreEvent] = []
    port = free_port()
    with redis_server(port) as url:
        shared = RedisStore(url, limits=SMALL, timeout_s=0.5)
        store = FallbackStore(shared, on_event=events.append)
        store.put(turn(1))
    # the server is gone: reads and writes go on in process, writes are queued
    with pytest.raises(StoreUnavailable, match="unreachable"):
        shared.items("episodic", "c1")
    store.put(turn(2))
    store.put(turn(3))
    assert store.degraded and store.pending() == 2
    assert [i.id for i in store.items("episodic", "c1")] == ["D1:2", "D1:3"]
    assert events[0].change is Outage.DOWN and "unreachable" in events[0].message
    with redis_server(port):  # back (empty: it kept nothing on disk)
        store.put(turn(4))
        assert not store.degraded and store.pending() == 0
        ids = [i.id for i in RedisStore(url, limits=SMALL).items("episodic", "c1")]
        assert ids == ["D1:2", "D1:3", "D1:4"]  # the queued writes were replayed first
    assert events[-1].change is Outage.BACK and len(events) == 2


def test_bad_items_are_refused_with_the_reason() -> None:
    with pytest.raises(MemoryItemError, match="over the 16000 limit; split it"):
        MemoryItem(tier="semantic", scope="", id="doc", text="x" * 16_001)
    with pytest.raises(MemoryItemError, match="unknown memory tier 'longterm'"):
        MemoryItem(tier="longterm", scope="", id="a", text="b")
    with pytest.raises(MemoryItemError, match=r"not valid UTF-8 \(byte 0xff at position 3\)"):
        decode_text(b"abc\xffdef", where="item 'x'")
    assert decode_text("caf\u00e9".encode(), where="x") == "café"
    with pytest.raises(MemoryItemError, match="text must be str"):
        MemoryItem(tier="semantic", scope="", id="a", text=b"bytes")  # type: ignore[arg-type]


def conversation() -> list[MemoryItem]:
    lines = [
        ("Ann", "I finally adopted a dog last week, his name is Biscuit"),
        ("Bob", "That's great! What breed?"),
        ("Ann", "A beagle. He loves the park"),
        ("Bob", "I started learning the violin"),
        ("Ann", "Nice, how is it going?"),
        ("Bob", "Slowly, my teacher is patient"),
    ]
    return [
        MemoryItem(
            tier="episodic",
            scope="c",
            id=f"D{1 + i // 3}:{i}",
            text=t,
            key=k,
            seq=i,
            group=str(i // 3),
        )
        for i, (k, t) in enumerate(lines)
    ]


def test_tiers_fit_the_budget_and_rank_by_relevance() -> None:
    items = conversation()
    sel = Selector()
    recent = sel.select("episodic", "low", items, "anything", 30)
    assert recent.tokens <= 30 and recent.items[-1].id == items[-1].id
    mid = sel.select("episodic", "mid", items, "What breed is Ann's dog?", 25)
    assert mid.items and mid.tokens <= 25 and "dog" in mid.items[0].text
    # the reply "A beagle" shares no word with the question; the high tier finds it
    # through its neighbours
    high = sel.select("episodic", "high", items, "What breed is Ann's dog?", 60)
    assert any("beagle" in i.text for i in high.items)
    assert [i.seq for i in high.items] == sorted(i.seq for i in high.items)  # oldest first
    with pytest.raises(ValueError, match="unknown budget level"):
        sel.select("episodic", "max", items, "q", 10)


def test_router_follows_the_intent_and_the_validator_escalates() -> None:
    store = LocalStore(limits=SMALL)
    for it in conversation():
        store.put(it)
    store.put(MemoryItem(tier="profile", scope="c", id="pet", text="Biscuit (beagle)", key="pet"))
    router = MemoryRouter(store)
    ctx = router.context("c", "What is Ann's pet called?", intent="profile", budget_tokens=40)
    assert ctx.selections[0].tier == "profile/low" and ctx.tokens <= 40
    assert ctx.decisions[0].kind == "memory_tier" and "plan 'profile'" in ctx.decisions[0].reason
    weak = router.context("c", "violin teacher patience lessons", intent="lookup", budget_tokens=8)
    assert len(weak.decisions) == 2 and "validator" in weak.decisions[1].reason


def test_role_aware_context_keeps_what_the_role_needs() -> None:
    from memory import make_item
    from memory.working import select_for_role

    items = [
        make_item(stage="triage", role="t", text="customer wants a refund for order 42"),
        make_item(stage="weather", role="w", text="sunny skies over the harbour tomorrow"),
        make_item(stage="resolve", role="r", text="checked it"),
    ]
    sel = select_for_role(
        items,
        500,
        focus="Review the refund decision review refund order 42",
        previous_stage="resolve",
    )
    assert sel.tier == "working/role-aware"
    assert sel.lines == (items[0]["line"], items[2]["line"])  # the weather chatter is left out
    tight = select_for_role(items, items[2]["tokens"], focus="refund", previous_stage="resolve")
    assert tight.lines == (items[2]["line"],)  # the direct predecessor first under a tight budget


_WORDS = ["refund", "order", "broken", "harbour", "weather", "invoice", "login", "review"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.lists(st.sampled_from(_WORDS), max_size=6)),
        max_size=12,
    ),
    st.integers(0, 80),
    st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4),
)
def test_role_aware_context_is_the_greedy_ranking_within_budget(
    written: list[tuple[str, list[str]]], budget: int, focus: list[str]
) -> None:
    """Whether or not everything relevant fits (the unranked shortcut), the selection is
    the most relevant items first (later of equals first), each taken if it still fits,
    read oldest first."""
    from memory import make_item
    from memory.working import _profile, _words, select_for_role

    items = [make_item(stage=st_, role="r", text=" ".join(ws)) for st_, ws in written]
    sel = select_for_role(items, budget, focus=" ".join(focus), previous_stage="b")
    want, n = _words(" ".join(focus)), len(items)
    ranked = []
    for k, item in enumerate(items):
        if not item["text"]:
            continue
        words, weight = _profile(item["text"])
        score = (1.0 if k == n - 1 and item["stage"] == "b" else 0.0) + len(want & words) * weight
        if score:
            ranked.append((-score - 0.01 * k / n, k))
    chosen, used = [], 0
    for _, k in sorted(ranked):
        if used + items[k]["tokens"] <= budget:
            chosen.append(k)
            used += items[k]["tokens"]
    assert sel.lines == tuple(items[k]["line"] for k in sorted(chosen))
    assert (sel.tokens, sel.considered) == (used, n)


def test_runs_with_a_scope_remember_across_runs_and_processes(desk, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from agents import ScriptedModel
    from orchestrator import Runtime
    from orchestrator.errors import InputError
    from orchestrator.testing import scripted_pool

    store = RedisStore(redis_url, prefix=f"rt{free_port()}")
    first = Runtime(desk, pool=scripted_pool(ScriptedModel(name="m")), memory=store)
    a = first.run("refund order 42", scope="user-7")
    assert a.status == "ok"
    remembered = store.items("episodic", "user-7")
    assert [i.id for i in remembered] == [f"{a.run_id}:{s}:0" for s in a.trail if s != "done"]
    # another runtime (as another process would) on the same Redis reads it back
    model = ScriptedModel(name="m")
    second = Runtime(
        desk, pool=scripted_pool(model), memory=RedisStore(redis_url, prefix=store.prefix)
    )
    b = second.run("refund order 42 again please", scope="user-7")
    tiers = [d for d in b.decisions if d.kind == "memory_tier" and d.chosen.startswith("profile")]
    assert tiers and "episodic" in tiers[0].reason
    assert any("triager (triage):" in m.content for m in model.calls[0])
    with pytest.raises(InputError, match="needs a memory store"):
        Runtime(desk).run("x", scope="u")
    with pytest.raises(InputError, match="the scope is empty"):  # '' is shared knowledge
        second.run("x", scope=" ")


def test_a_run_goes_on_when_redis_is_down_and_says_so(desk) -> None:  # type: ignore[no-untyped-def]
    from agents import ScriptedModel
    from orchestrator import Runtime
    from orchestrator.testing import scripted_pool

    dead = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5)
    rt = Runtime(desk, pool=scripted_pool(ScriptedModel(name="m")), memory=dead)
    result = rt.run("refund order 42", scope="user-1")
    assert result.status == "ok"
    down = [d for d in result.decisions if d.kind == "memory_tier" and d.chosen == "local"]
    assert len(down) == 1 and "unreachable" in down[0].reason
    assert isinstance(rt.memory, FallbackStore) and rt.memory.pending() == 3  # kept, queued


def test_writes_kept_through_an_outage_survive_the_process_and_replay_in_order(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    down = FallbackStore(RedisStore(url, timeout_s=0.5))
    first = MemoryItem(tier="episodic", scope="c1", id="t1", text="first draft")
    down.put(first)
    down.put(MemoryItem(tier="episodic", scope="c1", id="t2", text="second"))
    down.delete("episodic", "c1", "t2")
    down.put(MemoryItem(tier="episodic", scope="c1", id="t1", text="final"))  # replaces
    assert down.degraded and down.pending() == 4
    spill = tmp_path / "unsent.jsonl"
    assert down.spill(spill) == 4 and down.pending() == 0
    with pytest.raises(StoreUnavailable):  # still down: nothing is lost
        FallbackStore(RedisStore(url, timeout_s=0.5)).replay_spilled(spill)
    assert len(spill.read_text().splitlines()) == 4
    with redis_server(port):
        store = FallbackStore(RedisStore(url))
        assert store.replay_spilled(spill) == 4
        assert not spill.exists() and store.replay_spilled(spill) == 0
        kept = RedisStore(url).items("episodic", "c1")
        assert [(i.id, i.text) for i in kept] == [("t1", "final")]
    spill.write_text('{"put": {"tier": "nope"}}\n')
    with pytest.raises(StateFileError, match="is not a queued memory write"):
        FallbackStore(RedisStore(url)).replay_spilled(spill)
    assert spill.exists()  # handed back untouched for the user to fix


def test_a_malformed_redis_url_is_refused_with_the_form_to_use() -> None:
    from orchestrator.errors import InputError

    for url in ("localhost:6379", "redis://127.0.0.1:99999/0"):
        with pytest.raises(InputError, match=r"is not a Redis URL.*redis://HOST:PORT/DB"):
            RedisStore(url)


def _facts() -> list[MemoryItem]:
    texts = [
        ("pets", "The dog sleeps in the garden shed"),
        ("cars", "The car needs new tyres before winter"),
        ("food", "Soup is served on Fridays"),
    ]
    return [MemoryItem(tier="semantic", scope="", id=k, text=t, key=k) for k, t in texts]


def test_an_embedding_model_over_real_http_finds_what_words_miss() -> None:
    from agents.litellm_model import LiteLLMEmbedder
    from tests.servers import embedding_server

    items = _facts()
    lexical = Selector().select("semantic", "mid", items, "where does the canine rest", 12)
    assert not any(i.id == "pets" for i in lexical.items)  # no shared word
    with embedding_server() as url:
        embedder = LiteLLMEmbedder("openai/embed", api_base=url)
        hybrid = Selector(embedder=embedder).select(
            "semantic", "mid", items, "where does the canine rest", 12
        )
    assert hybrid.items and hybrid.items[0].id == "pets"


def test_a_pool_model_reranks_the_high_tier() -> None:
    from agents import ScriptedModel
    from agents.reranker import ModelReranker

    def judge(messages):  # type: ignore[no-untyped-def]
        lines = messages[-1].content.splitlines()
        soup = next(line for line in lines if "Soup" in line)
        return f"ORDER: {soup[1]}"  # only the soup passage is useful, it says

    items = _facts()
    model = ScriptedModel([judge], name="judge")
    sel = Selector(reranker=ModelReranker(model)).select(
        "semantic", "high", items, "the dog and the car and soup", 100
    )
    assert [i.id for i in sel.items] == ["food"]
    assert "[1]" in model.calls[0][-1].content and "Question:" in model.calls[0][-1].content
    keep = ModelReranker(ScriptedModel(["no idea"], name="x")).rerank("q", ["a", "b"])
    assert keep == [0, 1]  # no ORDER line: retrieval order kept
