"""Model failover: circuit breakers, retries on the next best arm, no double counting."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from agents import ScriptedModel
from orchestrator import Pipeline, Runtime
from orchestrator.errors import ModelUnavailable
from orchestrator.execution.breaker import BreakerBoard
from orchestrator.protocols import CALL_KEY
from orchestrator.testing import scripted_pool
from orchestrator.types import Message


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fault(kind: str = "http_5xx") -> ModelUnavailable:
    return ModelUnavailable(f"model 'a' failed: HTTP 503 ({kind})", kind=kind)


def test_breaker_opens_cools_down_probes_and_closes() -> None:
    clock = Clock()
    board = BreakerBoard(threshold=2, cooldown_s=10, max_cooldown_s=25, clock=clock)
    assert board.failure("a", "timeout", "slow") == "closed"  # below the threshold
    assert board.blocked(["a", "b"]) == {}
    assert board.failure("a", "timeout", "slow") == "open"
    assert "circuit open for 'a' (timeout: slow)" in board.blocked(["a", "b"])["a"]
    clock.now += 10  # cooldown over: half-open, one probe may go
    assert board.blocked(["a"]) == {}
    assert board.taken("a") is True
    assert "being probed" in board.blocked(["a"])["a"]  # no second probe meanwhile
    assert board.failure("a", "http_5xx", "down") == "open"  # failed probe: twice as long
    clock.now += 19
    assert "a" in board.blocked(["a"])
    clock.now += 1
    assert board.blocked(["a"]) == {}
    board.taken("a")
    assert board.success("a") is True  # the probe answered: closed, counters reset
    assert board.blocked(["a"]) == {} and board.states()[0].state == "closed"
    for _ in range(2):
        board.failure("a", "x", "y")
    clock.now += 10
    board.taken("a")
    board.failure("a", "x", "y")  # 20 s
    clock.now += 20
    board.taken("a")
    board.failure("a", "x", "y")  # capped at 25 s, not 40
    clock.now += 25
    assert board.blocked(["a"]) == {}


def test_a_probe_that_never_reports_expires() -> None:
    clock = Clock()
    board = BreakerBoard(cooldown_s=5, clock=clock)
    board.failure("a", "timeout", "slow")
    clock.now += 5
    board.taken("a")
    assert "a" in board.blocked(["a"])
    clock.now += 5
    assert board.blocked(["a"]) == {}


def test_an_endpoint_fault_fails_over_to_the_next_arm_paying_once(desk: Pipeline) -> None:
    keys: list[str | None] = []

    def answer(messages: Sequence[Message]) -> str:
        keys.append(CALL_KEY.get())
        return "resolved: refund_id RF-7\nNEXT: review"

    a = ScriptedModel(["ok\nNEXT: resolve", fault()], name="a", price_per_mtok=1.0)
    b = ScriptedModel([answer], name="b", price_per_mtok=1.0)
    clock = Clock()
    rt = Runtime(desk, pool=scripted_pool(a, b), breakers=BreakerBoard(cooldown_s=30, clock=clock))
    result = rt.run("refund order 7")
    assert result.status == "ok", result.error
    reroutes = [d for d in result.decisions if d.kind == "reroute"]
    assert len(reroutes) == 1
    r = reroutes[0]
    assert r.stage == "resolve" and r.chosen == "resolver@b"
    assert "model 'a' failed (http_5xx); its circuit is open" in r.reason
    assert keys == [f"{result.run_id}:resolve:0"] and keys[0] in r.reason
    by_stage = {o["stage"]: o for o in result.outputs}
    assert by_stage["resolve"]["model"] == "b"
    # paid once: the failed call costs nothing, the run's cost is the answering calls'
    assert result.cost_usd == pytest.approx(sum(o["cost"] for o in result.outputs))
    # a answered triage, faulted on resolve, and was not offered for review (circuit open)
    assert len(a.calls) == 2 and len(b.calls) == 2
    assert by_stage["review"]["model"] == "b"
    # the tools ran once, before the model call; the retry did not redo them
    assert [d.kind for d in result.decisions].count("tool_path") == 1
    rt.flush()
    bandit = rt.policy.bandit
    # credit went to the arm that answered, not to the one that faulted
    assert bandit.pulls[bandit.index("resolver@b")] == 1
    assert bandit.pulls[bandit.index("resolver@a")] == 0

    # while the circuit is open, a's arms are not offered at all
    second = rt.run("refund order 8")
    assert second.status == "ok"
    assigns = [d for d in second.decisions if d.kind == "assign"]
    assert all(d.chosen.endswith("@b") for d in assigns)
    excluded = {c.name: c.excluded_by for c in assigns[0].candidates if c.excluded_by}
    assert "circuit open for 'a'" in excluded["triager@a"]
    assert len(a.calls) == 2  # not called again


def test_after_the_cooldown_a_probe_that_answers_closes_the_circuit(desk: Pipeline) -> None:
    a = ScriptedModel(["ok\nNEXT: resolve", fault()], name="a")
    b = ScriptedModel([], name="b")
    clock = Clock()
    board = BreakerBoard(cooldown_s=30, clock=clock)
    # no learning: every arm keeps the prior, so ties go to the first model, a
    rt = Runtime(desk, pool=scripted_pool(a, b), breakers=board, learn=False)
    assert rt.run("refund order 7").status == "ok"
    assert [s.state for s in board.states()] == ["open"]
    assert all(o["model"] == "b" for o in rt.run("refund order 8").outputs)
    clock.now += 30
    third = rt.run("refund order 9")
    assert third.status == "ok"
    assert all(o["model"] == "a" for o in third.outputs)  # the probe answered
    assert [s.state for s in board.states()] == ["closed"]


def test_failover_gives_up_clearly_when_every_model_of_the_role_faults(desk: Pipeline) -> None:
    a = ScriptedModel(["ok\nNEXT: resolve", fault("timeout")], name="a")
    b = ScriptedModel([fault("rate_limit")], name="b")
    rt = Runtime(desk, pool=scripted_pool(a, b))
    result = rt.run("refund order 7")
    assert result.status == "failed"
    assert "every model role 'resolver' may use failed or is unavailable" in (result.error or "")
    assert "a (timeout" in (result.error or "") and "b (rate_limit" in (result.error or "")
    assert not rt.resumable(result.run_id)  # no checkpointer: nothing to resume from


def test_a_callers_mistake_is_not_failed_over(desk: Pipeline) -> None:
    a = ScriptedModel(["ok\nNEXT: resolve", RuntimeError("HTTP 401 bad key")], name="a")
    b = ScriptedModel([], name="b")
    result = Runtime(desk, pool=scripted_pool(a, b)).run("refund order 7")
    assert result.status == "failed" and "HTTP 401 bad key" in (result.error or "")
    assert not [d for d in result.decisions if d.kind == "reroute"]
    assert len(b.calls) == 0


def test_failover_cooldown_and_recovery_through_real_http_endpoints(desk: Pipeline) -> None:
    """Three llm-katan servers: one answering HTTP 500, one slower than its timeout, one
    healthy. The run fails over twice (5xx, then timeout) and finishes on the healthy one;
    the broken endpoint, restarted healthy on the same port, is probed after the cooldown
    and used again."""
    from agents import ModelPool, ModelProfile
    from tests.servers import free_port, llm_katan

    def entry(name: str, url: str, timeout_s: float = 20.0) -> ModelProfile:
        return ModelProfile(
            name=name,
            backend="litellm",
            model="openai/echo",
            api_base=url,
            input_price=1.0,
            output_price=1.0,
            timeout_s=timeout_s,
        )

    port = free_port()
    with (
        llm_katan("echo", "--latency-ms", "3000") as slow,
        llm_katan("echo") as good,
    ):
        with llm_katan("echo", "--error-rate", "1.0", port=port) as broken:
            pool = ModelPool(
                [entry("broken", broken), entry("slow", slow, 0.5), entry("good", good)]
            )
            board = BreakerBoard(cooldown_s=2.0)
            rt = Runtime(desk, pool=pool, breakers=board, learn=False)
            first = rt.run("refund order 11")
        assert first.status == "ok", first.error
        reroutes = [d for d in first.decisions if d.kind == "reroute"]
        assert [d.chosen for d in reroutes] == ["triager@slow", "triager@good"]
        assert "'broken' failed (http_5xx)" in reroutes[0].reason
        assert "'slow' failed (timeout)" in reroutes[1].reason
        assert {o["model"] for o in first.outputs} == {"good"}
        states = {s.model: s.state for s in board.states()}
        assert states == {"broken": "open", "slow": "open"}
        # only the answering calls are paid for
        assert first.cost_usd == pytest.approx(sum(o["cost"] for o in first.outputs))

        with llm_katan("echo", port=port):  # the endpoint is back, healthy
            import time

            time.sleep(2.1)  # the cooldown passes: both circuits half-open
            later = rt.run("refund order 12")
        assert later.status == "ok", later.error
        assert later.outputs[0]["model"] == "broken"  # the probe answered: used again
        assert {s.model: s.state for s in board.states()}["broken"] == "closed"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [(429, b"", "rate_limit"), (200, b"not json", "malformed"), (200, b'{"x": 1}', "malformed")],
)
def test_rate_limits_and_malformed_replies_over_http_fail_over(
    desk: Pipeline, status: int, body: bytes, kind: str
) -> None:
    from agents import ModelPool, ModelProfile
    from tests.servers import faulty_openai, llm_katan

    with faulty_openai(status, body) as bad, llm_katan("echo") as good:
        pool = ModelPool(
            [
                ModelProfile(name="bad", backend="litellm", model="openai/echo", api_base=bad),
                ModelProfile(name="good", backend="litellm", model="openai/echo", api_base=good),
            ]
        )
        result = Runtime(desk, pool=pool, learn=False).run("refund order 3")
    assert result.status == "ok", result.error
    reroute = next(d for d in result.decisions if d.kind == "reroute")
    assert f"model 'bad' failed ({kind})" in reroute.reason


def test_the_trace_shows_the_failed_call_the_failover_and_who_answered(desk: Pipeline) -> None:
    from orchestrator.testing import decision_events, span_recorder
    from orchestrator.tracing.spans import ATTR

    a = ScriptedModel(["ok\nNEXT: resolve", fault()], name="a")
    b = ScriptedModel([], name="b")
    provider, exporter = span_recorder()
    Runtime(desk, pool=scripted_pool(a, b), tracer_provider=provider).run("refund order 7")
    spans = exporter.get_finished_spans()
    failed_chat = [s for s in spans if s.name == "chat a" and not s.status.is_ok]
    assert len(failed_chat) == 1 and "HTTP 503" in (failed_chat[0].status.description or "")
    agent = next(s for s in spans if s.name == "invoke_agent resolver")
    assert agent.attributes[ATTR.REQUEST_MODEL] == "a"
    assert agent.attributes[ATTR.RESPONSE_MODEL] == "b"
    assert [e[ATTR.D_CHOSEN] for e in decision_events(spans, "reroute")] == ["resolver@b"]
