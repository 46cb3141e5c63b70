"""Runs through the runtime with the library's own ScriptedModel: guards, tools, learning, traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agents import ScriptedModel
from orchestrator import Pipeline, Role, Runtime, Stage, StageDone
from orchestrator.errors import InputError, StateFileError
from orchestrator.execution import facts_of, request_of, trail_of
from orchestrator.testing import decision_events, scripted_pool, span_recorder
from orchestrator.tracing.spans import ATTR, decision_attributes
from orchestrator.types import Candidate, Decision, LazyCandidates, LazyText
from skills import skill
from tests.conftest import find_order_id, make_desk, refund


def kinds(result: object) -> list[str]:
    return [d.kind for d in result.decisions]  # type: ignore[attr-defined]


def test_happy_path_runs_every_stage_and_traces_it(desk: Pipeline) -> None:
    provider, exporter = span_recorder()
    model = ScriptedModel(name="m")
    rt = Runtime(desk, pool=scripted_pool(model), tracer_provider=provider)
    result = rt.run("refund my order 42")
    assert result.status == "ok", result.error
    assert result.trail == ("triage", "resolve", "review", "done")
    assert result.facts == {
        "order_id": "42",
        "order": {"id": "42", "status": "delivered"},
        "refund_id": "RF-42",
    }
    assert result.intent == "refund"
    assert "RF-42" in result.answer
    assert len(model.calls) == 3

    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert "invoke_workflow desk" in names
    assert names.count("chat m") == 3
    assert {"invoke_agent triager", "invoke_agent resolver", "invoke_agent reviewer"} <= set(names)
    assert {"execute_tool find_order_id", "execute_tool fetch_order", "execute_tool refund"} <= set(
        names
    )
    chat = next(s for s in spans if s.name == "chat m")
    assert chat.attributes[ATTR.OPERATION] == "chat"
    assert chat.attributes[ATTR.INPUT_TOKENS] > 0 and chat.attributes[ATTR.OUTPUT_TOKENS] > 0
    assert ATTR.COST in chat.attributes
    root = next(s for s in spans if s.parent is None)
    assert root.attributes[ATTR.RUN_ID] == result.run_id
    assert all(s.context.trace_id == root.context.trace_id for s in spans)
    recorded = {e[ATTR.D_KIND] for e in decision_events(spans)}
    assert {"intent", "assign", "tool_path", "memory_tier", "stage"} <= recorded
    assign = decision_events(spans, "assign")[0]
    cands = [
        dict(zip(Candidate._fields, row, strict=True))
        for row in json.loads(assign[ATTR.D_CANDIDATES])
    ]
    assert cands and all(c["score"] is not None and c["pheromone"] is not None for c in cands)
    assert [c["name"] for c in cands] == ["triager@m"]  # the first assign: triage
    arms = [d.arm for d in result.decisions if d.kind == "assign"]
    assert arms == [("triager", "m"), ("resolver", "m"), ("reviewer", "m")]
    assert [d.chosen for d in result.decisions if d.kind == "assign"] == [a.name for a in arms]
    # reasons built lazily read as the same text in the result and in the trace
    events = decision_events(spans)
    assert [e[ATTR.D_REASON] for e in events] == [d.reason for d in result.decisions]
    assert all(type(d.reason) is str and d.reason for d in result.decisions)
    assert result.decisions[1].reason.startswith("highest score")


def test_decision_reason_is_formatted_once_when_read() -> None:
    calls = []

    class Counted(LazyText):
        def __str__(self) -> str:
            calls.append(1)
            return super().__str__()

    d = Decision(kind="assign", chosen="r@m", reason=Counted("score %.3f vs %r", 0.12345, "x"))
    assert not calls  # nothing formatted on the decision path
    assert d.reason == "score 0.123 vs 'x'" and d.reason == "score 0.123 vs 'x'"
    assert len(calls) == 1
    moved = d.replace(stage="s1")
    assert (moved.stage, moved.reason, moved.chosen) == ("s1", d.reason, "r@m")
    assert (
        moved != d and moved == d.replace(stage="s1") and hash(moved) == hash(d.replace(stage="s1"))
    )
    assert d.as_dict() == {"kind": "assign", "chosen": "r@m", "reason": "score 0.123 vs 'x'"}


def test_lazy_candidates_rows_are_the_candidates_fields() -> None:
    cands = LazyCandidates(["a@m", "b@m"], [0.5, None], [0.25, 0.0], [0.25, 0.0], [None, "budget"])
    assert (
        cands.rows()
        == [tuple(c) for c in cands]
        == [
            ("a@m", 0.5, 0.25, 0.25, None, None),
            ("b@m", None, 0.0, 0.0, "budget", None),
        ]
    )
    assert LazyCandidates(["x"], [1.0]).rows() == [("x", 1.0, None, None, None, None)]
    with pytest.raises(ValueError):  # columns of different lengths are a bug, not a trace
        LazyCandidates(["a", "b"], [1.0]).rows()
    d = Decision(kind="intent", chosen="x", reason="r", candidates=LazyCandidates(["x"], [1.0]))
    plain = Decision(kind="intent", chosen="x", reason="r", candidates=[Candidate("x", 1.0)])
    assert decision_attributes(d) == decision_attributes(plain)


def test_model_asking_for_a_forbidden_stage_is_blocked_and_the_run_continues(
    desk: Pipeline,
) -> None:
    model = ScriptedModel(["Sure.\nNEXT: done"], name="m")
    result = Runtime(desk, pool=scripted_pool(model)).run("refund order 42")
    blocks = [d for d in result.decisions if d.kind == "guard_block"]
    assert len(blocks) == 1
    assert "asked to move from 'triage' to 'done': not allowed" in blocks[0].reason
    assert result.trail[:2] == ("triage", "resolve") and result.status == "ok"
    assert result.outputs[0]["blocked_requests"] == 1


def test_forbidden_and_failing_skill_calls_are_blocked(desk: Pipeline) -> None:
    script = [
        'Let me refund.\nCALL: refund {"order_id": "1"}\nCALL: calculate {"expression": "1+1"}\nNEXT: resolve',
    ]
    result = Runtime(desk, pool=scripted_pool(ScriptedModel(script, name="m"))).run(
        "refund order 42"
    )
    reasons = [d.reason for d in result.decisions if d.kind == "guard_block"]
    assert any("role 'triager' may not call skill 'refund'" in r for r in reasons)
    assert any("may not call skill 'calculate'" in r for r in reasons)
    assert result.status == "ok"


def test_precondition_failure_in_a_permitted_call_is_blocked() -> None:
    @skill(produces="half", requires=lambda n: n > 0)
    def halve(n: int) -> float:
        """Half of a positive number."""
        return n / 2

    p = make_desk(
        stages=[
            Stage("triage", roles=["triager"], skills=[halve], next=["done"], start=True),
            Stage("done", terminal=True),
        ],
        roles=[Role("triager", "Route.", skills=[halve])],
    )
    script = ['CALL: halve {"n": -4}\nNEXT: done']
    result = Runtime(p, pool=scripted_pool(ScriptedModel(script, name="m"))).run("refund please")
    block = next(d for d in result.decisions if d.kind == "guard_block")
    assert "precondition rejected (n=-4)" in block.reason and "half" not in result.facts


def _chain_pipeline(primary: object, **stage: object) -> Pipeline:
    @skill(produces="order", cost=5.0)
    def fetch_order_slow(order_id: str) -> dict:
        """Fetch from the archive."""
        return {"id": order_id, "status": "delivered", "from": "archive"}

    tools = [find_order_id, primary, fetch_order_slow, refund]
    return make_desk(
        stages=[
            Stage(
                "resolve",
                roles=["resolver"],
                skills=tools,
                goal="refund_id",
                next=["done"],
                start=True,
                **stage,
            ),  # type: ignore[arg-type]
            Stage("done", terminal=True),
        ],
        roles=[Role("resolver", "Resolve.", skills=tools)],
    )


def test_failing_tool_is_rerouted_without_redoing_completed_steps() -> None:
    calls: list[str] = []

    @skill(produces="order", cost=0.01)
    def fetch_order_live(order_id: str) -> dict:
        """Fetch from the live database (down)."""
        calls.append(order_id)
        raise ConnectionError("database unreachable")

    p = _chain_pipeline(fetch_order_live)
    result = Runtime(p, pool=scripted_pool(ScriptedModel(name="m"))).run("refund order 7")
    assert result.status == "ok", result.error
    assert result.facts["order"]["from"] == "archive" and result.facts["refund_id"] == "RF-7"
    reroute = next(d for d in result.decisions if d.kind == "reroute")
    assert reroute.chosen == "fetch_order_slow->refund"
    assert (
        "'fetch_order_live' failed (raised ConnectionError: database unreachable)" in reroute.reason
    )
    assert calls == ["7"]
    assert kinds(result).count("tool_path") == 1


def test_postcondition_failure_is_never_passed_on() -> None:
    @skill(produces="order", cost=0.01, ensures=lambda result: "status" in result)
    def fetch_order_bad(order_id: str) -> dict:
        """Returns a record without status."""
        return {"id": order_id}

    p = _chain_pipeline(fetch_order_bad)
    result = Runtime(p, pool=scripted_pool(ScriptedModel(name="m"))).run("refund order 7")
    block = next(d for d in result.decisions if d.kind == "guard_block")
    assert "postcondition rejected" in block.reason and "the result was blocked" in block.reason
    assert result.facts["order"]["from"] == "archive"  # the bad record never reached `refund`


def test_no_path_escalates_or_fails_clearly() -> None:
    @skill(produces="order", cost=0.01)
    def fetch_order_down(order_id: str) -> dict:
        """Always down."""
        raise TimeoutError("timed out")

    @skill(produces="refund_id")
    def refund_down(order_id: str, order: dict) -> str:
        """Always down."""
        raise TimeoutError("timed out")

    tools = [find_order_id, fetch_order_down, refund_down]
    stages = lambda **kw: [
        Stage(
            "resolve",
            roles=["resolver"],
            skills=tools,
            goal="refund_id",
            start=True,
            next=["done", "escalate"],
            **kw,
        ),
        Stage("escalate", terminal=True, failure=True),
        Stage("done", terminal=True),
    ]
    roles = [Role("resolver", "Resolve.", skills=tools)]
    model = ScriptedModel(name="m")
    result = Runtime(
        make_desk(stages=stages(escalate_to="escalate"), roles=roles), pool=scripted_pool(model)
    ).run("refund order 7")
    assert result.status == "escalated" and result.trail == ("resolve", "escalate")
    esc = next(d for d in result.decisions if d.kind == "escalate")
    assert (
        "no tool path reaches goal 'refund_id'" in esc.reason and "fetch_order_down" in esc.reason
    )
    assert model.calls == []  # escalation needs no model call

    failed = Runtime(make_desk(stages=stages(), roles=roles), pool=scripted_pool(model)).run(
        "refund order 7"
    )
    assert failed.status == "failed" and failed.quality == 0.0
    assert "stage 'resolve': no tool path reaches goal 'refund_id'" in (failed.error or "")
    assert "fetch_order_down" in (failed.error or "")


def test_policy_learns_and_persists_between_runtimes(tmp_path: Path, desk: Pipeline) -> None:
    pool = scripted_pool(ScriptedModel(name="a"), ScriptedModel(name="b"))
    first = Runtime(desk, pool=pool, data_dir=tmp_path)
    first.run("refund order 1")
    first.flush()  # learning runs off the decision path
    state_file = tmp_path / "policy" / "desk" / "meta.json"
    assert state_file.exists()
    pulls = first.policy.bandit.pulls.copy()
    assert pulls.sum() == 3
    second = Runtime(desk, pool=pool, data_dir=tmp_path)
    assert (second.policy.bandit.pulls == pulls).all() and second.runs == 1
    second.run("refund order 2")
    second.close()
    assert Runtime(desk, pool=pool, data_dir=tmp_path).policy.bandit.pulls.sum() == 6


def test_corrupt_policy_state_is_refused_and_kept(tmp_path: Path, desk: Pipeline) -> None:
    (tmp_path / "policy").mkdir()
    bad = tmp_path / "policy" / "desk.json"
    bad.write_text('{"version": 1, "pipeline": "desk"')
    with pytest.raises(StateFileError, match=r"is corrupt .* left untouched"):
        Runtime(desk, pool=scripted_pool(ScriptedModel(name="m")), data_dir=tmp_path)
    assert bad.read_text() == '{"version": 1, "pipeline": "desk"'


def test_budget_excludes_expensive_models_then_stops(desk: Pipeline) -> None:
    pool = scripted_pool(
        ScriptedModel(name="cheap"), ScriptedModel(name="pricey"), prices=[0.1, 1000.0]
    )
    result = Runtime(desk, pool=pool, budget_usd=0.01).run("refund order 3")
    budget = [d for d in result.decisions if d.kind == "budget"]
    assert budget and all("pricey" not in d.chosen for d in result.decisions if d.kind == "assign")
    broke = Runtime(desk, pool=pool, budget_usd=1e-9).run("refund order 3")
    assert broke.status == "failed" and "every candidate was excluded" in (broke.error or "")


def test_endless_loop_ends_with_a_clear_error() -> None:
    p = make_desk(
        stages=[
            Stage("a", roles=["triager"], next=["b", "done"], start=True, route=lambda v: "b"),
            Stage("b", roles=["triager"], next=["a"]),
            Stage("done", terminal=True),
        ],
        max_steps=6,
    )
    result = Runtime(p, pool=scripted_pool(ScriptedModel(name="m"))).run("loop")
    assert result.status == "failed"
    assert "run exceeded max_steps=6" in (result.error or "") and "a -> b -> a" in (
        result.error or ""
    )


def test_model_failure_fails_the_run_and_keeps_the_checkpoint(desk: Pipeline) -> None:
    saver = InMemorySaver()
    model = ScriptedModel(["ok\nNEXT: resolve", RuntimeError("HTTP 503")], name="m")
    rt = Runtime(desk, pool=scripted_pool(model), checkpointer=saver)
    result = rt.run("refund order 5")
    assert result.status == "failed" and "model 'm' failed: HTTP 503" in (result.error or "")
    assert result.trail == ("triage",)
    model.assert_consumed()  # the failing call was made: nothing scripted is left
    snapshot = rt.graph.snapshot(result.run_id)
    records = snapshot.values["outputs"]
    assert request_of(records)["query"] == "refund order 5"
    assert trail_of(records) == ["triage"] and facts_of(records) == {}


def test_stage_check_feeds_the_judge() -> None:
    p = make_desk(
        stages=[
            Stage(
                "triage",
                roles=["triager"],
                next=["done"],
                start=True,
                check=lambda v: "approved" in v.answer,
            ),
            Stage("done", terminal=True),
        ]
    )
    good = Runtime(p, pool=scripted_pool(ScriptedModel(["approved\nNEXT: done"], name="m")))
    bad = Runtime(p, pool=scripted_pool(ScriptedModel(["no idea\nNEXT: done"], name="m")))
    assert good.run("refund 1").quality == 1.0
    assert bad.run("refund 1").quality == 0.0


def test_runtimes_sharing_a_data_dir_lose_no_learning(tmp_path: Path, desk: Pipeline) -> None:
    pool = scripted_pool(ScriptedModel(name="a"), ScriptedModel(name="b"))
    one = Runtime(desk, pool=pool, data_dir=tmp_path)
    two = Runtime(desk, pool=pool, data_dir=tmp_path)  # loaded the same (empty) state
    for rt in (one, two, one, two):
        rt.run("refund order 3")
        rt.flush()
    one.close()
    two.close()
    after = Runtime(desk, pool=pool, data_dir=tmp_path)
    assert after.runs == 4 and after.policy.bandit.pulls.sum() == 12


def test_a_failed_run_resumes_from_its_checkpoint(desk: Pipeline) -> None:
    model = ScriptedModel(["ok\nNEXT: resolve", RuntimeError("HTTP 503")], name="m")
    provider, exporter = span_recorder()
    rt = Runtime(
        desk, pool=scripted_pool(model), checkpointer=InMemorySaver(), tracer_provider=provider
    )
    seen: list[StageDone] = []
    failed = rt.run("refund order 5", progress=seen.append)
    assert failed.status == "failed" and failed.trail == ("triage",)
    assert "  triage->resolve(failed)  " in failed.summary()  # where it stopped
    assert [(d.stage, d.visit, d.role, d.model) for d in seen] == [("triage", 1, "triager", "m")]
    assert rt.resumable(failed.run_id) and not rt.resumable("nope")
    rt.flush()
    assert rt.policy.bandit.pulls.sum() == 0  # nothing learned from a failure
    resumed = rt.resume(failed.run_id, progress=seen.append)
    assert not rt.resumable(failed.run_id)  # finished now
    # the resumed part reports its own stages only, numbered as steps of the whole run
    assert [(d.stage, d.visit, d.role) for d in seen[1:]] == [
        ("resolve", 2, "resolver"),
        ("review", 3, "reviewer"),
        ("done", 4, None),
    ]
    assert seen[1].model == "m" and seen[3].model is None  # a terminal stage calls no model
    assert resumed.status == "ok", resumed.error
    assert resumed.trail == ("triage", "resolve", "review", "done")  # triage not redone
    assert len(model.calls) == 4  # triage, failed resolve, resolve, review
    rt.flush()
    assert rt.policy.bandit.pulls.sum() == 3  # credited once, for every stage
    roots = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert {r.attributes[ATTR.RUN_ID] for r in roots} == {failed.run_id, f"{failed.run_id}-resumed"}
    with pytest.raises(InputError, match="already finished"):
        rt.resume(failed.run_id)
    with pytest.raises(InputError, match="no checkpoint of run 'nope'"):
        rt.resume("nope")


def test_a_checkpoint_without_its_request_record_is_refused_clearly(desk: Pipeline) -> None:
    """Checkpoints of the earlier run state (a separate ``request`` channel) do not resume."""
    from types import SimpleNamespace

    rt = Runtime(desk, pool=scripted_pool(ScriptedModel(name="m")), checkpointer=InMemorySaver())
    old = {"request": {"query": "q"}, "outputs": [{"stage": "triage", "kind": "answer"}]}
    rt._checkpoint = lambda run_id: SimpleNamespace(values=old, next=("resolve",))  # type: ignore[method-assign]
    with pytest.raises(InputError, match=r"earlier version of the runtime.*run the query again"):
        rt.resume("old")


def test_an_adapter_raising_anything_fails_the_run_not_the_process(desk: Pipeline) -> None:
    from agents import ModelPool, ModelProfile

    class Broken:
        name = "broken"

        def complete(self, messages, *, max_tokens=512):  # type: ignore[no-untyped-def]
            raise ValueError("bad JSON from the provider")

    pool = ModelPool([ModelProfile(name="broken", backend="custom", adapter=Broken())])
    result = Runtime(desk, pool=pool).run("refund order 1")
    assert result.status == "failed"
    assert result.error == "model 'broken' failed: ValueError: bad JSON from the provider"


def test_cost_weight_comes_from_the_user_or_the_budget(desk: Pipeline) -> None:
    pool = scripted_pool(ScriptedModel(name="m"))
    assert Runtime(desk, pool=pool).cost_weight == 20.0
    assert Runtime(desk, pool=pool, budget_usd=0.01).cost_weight == pytest.approx(100.0)
    assert Runtime(desk, pool=pool, budget_usd=0.01, cost_weight=3.0).cost_weight == 3.0
    result = Runtime(desk, pool=pool, cost_weight=0.0).run("refund order 9")
    assert result.reward == result.quality


def test_a_failing_route_function_fails_the_run_clearly() -> None:
    p = make_desk(
        stages=[
            Stage(
                "triage",
                roles=["triager"],
                next=["done", "other"],
                start=True,
                route=lambda v: {"x": "done"}[v.intent],
            ),
            Stage("other", roles=["triager"], next=["done"]),
            Stage("done", terminal=True),
        ]
    )
    result = Runtime(p, pool=scripted_pool(ScriptedModel(name="m"))).run("refund order 1")
    assert result.status == "failed"
    assert (
        result.error
        == "stage 'triage': its route function raised KeyError: 'refund'; fix it in the pipeline file"
    )


def test_learning_is_applied_in_batches_and_flush_does_not_wait(
    desk: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from orchestrator.execution import runtime

    monkeypatch.setattr(runtime, "LEARN_LINGER_S", 30.0)  # only flush() ends the wait
    pool = scripted_pool(ScriptedModel(name="a"), ScriptedModel(name="b"))
    rt = Runtime(desk, pool=pool)
    batches: list[int] = []
    credit_runs = rt.policy.credit_runs
    monkeypatch.setattr(
        rt.policy, "credit_runs", lambda runs: (batches.append(len(runs)), credit_runs(runs))[1]
    )
    for i in range(5):
        assert rt.run(f"refund order {i}").status == "ok"
    assert rt.policy.bandit.pulls.sum() == 0  # queued, not yet applied
    started = time.perf_counter()
    rt.flush()
    assert time.perf_counter() - started < 5.0
    assert batches == [5] and rt.runs == 5
    assert rt.policy.bandit.pulls.sum() == 15  # 3 stages per run
    rt.run("refund order 9")
    rt.close()  # closing applies what is queued
    assert batches == [5, 1] and rt.policy.bandit.pulls.sum() == 18


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget_usd": 0}, "budget_usd must be a number > 0"),
        ({"budget_usd": -1.0}, "budget_usd must be a number > 0"),
        ({"budget_usd": float("inf")}, "budget_usd must be a number > 0"),
        ({"cost_weight": -1.0}, "cost_weight must be a number >= 0"),
        ({"cost_weight": float("nan")}, "cost_weight must be a number >= 0"),
    ],
)
def test_a_runtime_refuses_a_budget_or_cost_weight_it_cannot_use(
    desk: Pipeline, kwargs: dict[str, float], message: str
) -> None:
    # a zero budget divided by zero at the first visit; a NaN weight made every reward NaN,
    # so the runtime silently learned nothing
    with pytest.raises(InputError, match=message):
        Runtime(desk, **kwargs)  # type: ignore[arg-type]


def test_a_query_that_is_not_text_is_refused(desk: Pipeline) -> None:
    with pytest.raises(InputError, match="the query must be text"):
        Runtime(desk).run(123)  # type: ignore[arg-type]
