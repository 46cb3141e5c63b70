"""Self-healing tool execution in runs: failing tools avoided, timeouts, rate limits, goal demotion."""

from __future__ import annotations

import threading
import time

import pytest

from agents import ScriptedModel
from orchestrator import Role, Runtime, Stage
from orchestrator.errors import DefinitionError, SkillDefinitionError
from orchestrator.testing import scripted_pool
from skills import ToolRateLimited, skill
from tests.conftest import find_order_id, make_desk, refund


@skill(produces="order", cost=0.5)
def fetch_order_archive(order_id: str) -> dict:
    """Fetch from the archive (slower, dearer)."""
    return {"id": order_id, "status": "delivered", "from": "archive"}


def desk_with(primary: object, **stage: object):  # type: ignore[no-untyped-def]
    tools = [find_order_id, primary, fetch_order_archive, refund]
    return make_desk(
        stages=[
            Stage(
                "resolve",
                roles=["resolver"],
                skills=tools,
                goal="refund_id",
                next=["done", "escalate"],
                start=True,
                **stage,
            ),  # type: ignore[arg-type]
            Stage("escalate", terminal=True, failure=True),
            Stage("done", terminal=True),
        ],
        roles=[Role("resolver", "Resolve.", skills=tools)],
    )


def test_a_tool_that_keeps_failing_is_avoided_before_it_fails_again() -> None:
    calls: list[str] = []

    @skill(produces="order", cost=0.01)
    def fetch_order_live(order_id: str) -> dict:
        """Live database (flaky)."""
        calls.append(order_id)
        raise ConnectionError("database unreachable")

    rt = Runtime(desk_with(fetch_order_live), pool=scripted_pool(ScriptedModel(name="m")))
    first = rt.run("refund order 7")
    assert first.status == "ok" and any(d.kind == "reroute" for d in first.decisions)
    second = rt.run("refund order 8")
    path = next(d for d in second.decisions if d.kind == "tool_path")
    assert "fetch_order_archive" in path.chosen and "fetch_order_live" not in path.chosen
    assert "health penalties: fetch_order_live +0.50 (1 recent failure(s))" in path.reason
    assert calls == ["7"]  # not tried again while its penalty outweighs the difference


def test_a_tool_past_its_timeout_is_abandoned_and_rerouted() -> None:
    release = threading.Event()

    @skill(produces="order", cost=0.01, timeout_s=0.2)
    def fetch_order_hanging(order_id: str) -> dict:
        """Hangs."""
        release.wait(5)
        return {"id": order_id, "status": "delivered", "from": "late"}

    rt = Runtime(desk_with(fetch_order_hanging), pool=scripted_pool(ScriptedModel(name="m")))
    t = time.monotonic()
    result = rt.run("refund order 7")
    release.set()
    assert time.monotonic() - t < 3
    assert result.status == "ok" and result.facts["order"]["from"] == "archive"
    reroute = next(d for d in result.decisions if d.kind == "reroute")
    assert "'fetch_order_hanging' failed (no result within 0.2s)" in reroute.reason
    assert "1 timeout(s)" in rt.health.describe("fetch_order_hanging")


def test_a_rate_limited_tool_is_rerouted_and_weighed_down_for_its_retry_after() -> None:
    @skill(produces="order", cost=0.01)
    def fetch_order_quota(order_id: str) -> dict:
        """Quota-limited API."""
        raise ToolRateLimited("HTTP 429 quota exceeded", retry_after_s=120)

    rt = Runtime(desk_with(fetch_order_quota), pool=scripted_pool(ScriptedModel(name="m")))
    result = rt.run("refund order 7")
    assert result.status == "ok"
    reroute = next(d for d in result.decisions if d.kind == "reroute")
    assert "rate-limited: HTTP 429 quota exceeded" in reroute.reason
    assert rt.health.penalties()["fetch_order_quota"] == 5.0


def test_runtime_starts_probes_declared_by_skills() -> None:
    probed = threading.Event()

    def probe() -> bool:
        probed.set()
        return False

    @skill(produces="order", cost=0.01, probe=probe)
    def fetch_order_probed(order_id: str) -> dict:
        """Has a health probe."""
        return {"id": order_id, "status": "delivered", "from": "live"}

    with Runtime(desk_with(fetch_order_probed), health_interval_s=0.05) as rt:
        assert probed.wait(5)
        deadline = time.monotonic() + 5
        while "fetch_order_probed" not in rt.health.penalties() and time.monotonic() < deadline:
            time.sleep(0.02)
        path = next(d for d in rt.run("refund order 3").decisions if d.kind == "tool_path")
        assert "fetch_order_archive" in path.chosen  # the probe said down: avoided


def _demotion_desk(refund_tool: object):  # type: ignore[no-untyped-def]
    @skill(produces="refund_ticket", cost=0.2)
    def open_refund_ticket(order_id: str) -> str:
        """File a ticket for a human to refund later."""
        return f"TICKET-{order_id}"

    tools = [find_order_id, fetch_order_archive, refund_tool, open_refund_ticket]
    return make_desk(
        stages=[
            Stage(
                "resolve",
                roles=["resolver"],
                skills=tools,
                goal="refund_id",
                demote_to=["refund_ticket"],
                escalate_to="escalate",
                next=["done", "escalate"],
                start=True,
            ),
            Stage("escalate", terminal=True, failure=True),
            Stage("done", terminal=True),
        ],
        roles=[Role("resolver", "Resolve.", skills=tools)],
    )


@skill(produces="refund_id")
def refund_down(order_id: str, order: dict) -> str:
    """Payment provider (down)."""
    raise ConnectionError("payment provider unreachable")


def test_no_path_costs_one_model_call_that_may_demote_the_goal() -> None:
    model = ScriptedModel(name="m")  # its protocol echo picks the first fallback goal
    result = Runtime(_demotion_desk(refund_down), pool=scripted_pool(model)).run("refund order 7")
    assert result.status == "ok", result.error
    assert result.facts["refund_ticket"] == "TICKET-7" and "refund_id" not in result.facts
    assert result.control_calls == 1
    esc = next(d for d in result.decisions if d.kind == "escalate")
    assert esc.chosen == "goal:refund_ticket" and esc.goal == "refund_ticket"  # traced, typed
    assert "no tool path reaches goal 'refund_id'" in esc.reason
    assert "refund_down (raised ConnectionError: payment provider unreachable)" in esc.reason
    assert "one model call on the reachable fallback goals: the model chose 'refund_ticket'" in (
        esc.reason
    )
    assert [c.name for c in esc.candidates] == ["refund_ticket"]
    # the escalation prompt was the first call and offered the reachable fallback only
    assert "Options: refund_ticket" in model.calls[0][-1].content


def test_a_declined_demotion_escalates_and_is_paid_for() -> None:
    model = ScriptedModel(["GOAL: none"], name="m", price_per_mtok=1.0)
    result = Runtime(_demotion_desk(refund_down), pool=scripted_pool(model)).run("refund order 7")
    assert result.status == "escalated" and result.trail == ("resolve", "escalate")
    esc = [d for d in result.decisions if d.kind == "escalate"]
    assert len(esc) == 1 and esc[0].chosen == "escalate" and "the model chose none" in esc[0].reason
    assert result.control_calls == 1 and result.cost_usd > 0


def test_bad_tool_graph_definitions_name_the_problem() -> None:
    with pytest.raises(DefinitionError, match=r"edge 'find_order_id' -> 'nope' names 'nope'"):
        desk_with(refund_down, tool_edges=[("find_order_id", "nope")])
    with pytest.raises(DefinitionError, match=r"no tool produces the goal 'voucher'"):
        desk_with(refund_down, demote_to=["voucher"])
    with pytest.raises(DefinitionError, match=r"demote_to and tool_edges need a goal"):
        Stage("s", roles=["r"], demote_to=["x"])
    with pytest.raises(SkillDefinitionError, match=r"timeout_s is 0"):

        @skill(timeout_s=0)
        def f(x: str) -> str:
            """Doc."""
            return x
