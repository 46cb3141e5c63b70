"""No skill can hang a run: the built-ins are bounded in time and size, and every skill
runs under a timeout unless it says otherwise."""

from __future__ import annotations

import importlib
import math
import time

import pytest

from agents import ScriptedModel
from orchestrator import Pipeline, Role, Runtime, Stage
from orchestrator.testing import scripted_pool, span_recorder
from skills import skill
from skills.builtin import MAX_EXPRESSION_CHARS, calculate


def _calculator() -> Pipeline:
    return Pipeline(
        "calc",
        stages=[
            Stage("work", roles=["r"], skills=["calculate"], next=["done"], start=True),
            Stage("done", terminal=True),
        ],
        roles=[Role("r", "Compute.", skills=["calculate"])],
    )


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("(((9**99)**99)**99)**99", "a power would have about"),
        ("+".join(["1"] * 4000), "precondition rejected"),
        ("(1e308**2)", "the result is out of range"),
        ("1e308 * 10", "the result is out of range"),
        ("2**2000 * 2**2000 * 2**2000", "the product is too large"),
        ("7 / 0", "division by zero"),
        ("(-8) ** 0.5", "not a real number"),
        ("__import__('os').system('true')", "precondition rejected"),
    ],
)
def test_a_hostile_expression_is_a_tool_failure_with_a_reason(expression: str, says: str) -> None:
    call = f'CALL: calculate {{"expression": {expression!r}}}'.replace("'", '"')
    if "__import__" in expression:
        call = 'CALL: calculate {"expression": "__import__(\\"os\\").system(\\"true\\")"}'
    model = ScriptedModel([f"ok\n{call}\nNEXT: done"], name="m")
    provider, exporter = span_recorder()
    rt = Runtime(_calculator(), pool=scripted_pool(model), learn=False, tracer_provider=provider)
    result = rt.run("compute it")
    assert result.status == "ok", result.error
    assert "calculation" not in result.facts
    assert result.outputs[0]["blocked_requests"] == 1  # refused or failed, never hung
    (tool,) = [s for s in exporter.get_finished_spans() if s.name == "execute_tool calculate"]
    assert says in (tool.status.description or "")


def test_the_calculator_still_calculates() -> None:
    assert calculate.invoke({"expression": "(3 + 4) * 2 ** 3 / 4"}) == 14.0
    assert calculate.invoke({"expression": "9**99"}) == pytest.approx(2.9512665430652752e94)
    with pytest.raises(Exception, match="precondition"):
        calculate.invoke({"expression": "1+" * MAX_EXPRESSION_CHARS + "1"})


def test_a_skill_that_hangs_times_out_by_default_and_is_rerouted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the module, not the decorator the package exports under the same name
    monkeypatch.setattr(importlib.import_module("skills.skill"), "DEFAULT_TIMEOUT_S", 0.2)

    @skill(produces="answer")
    def hangs(query: str) -> str:
        """Never answers in time."""
        time.sleep(3)
        return "late"

    @skill(produces="answer", cost=1.0)
    def steady(query: str) -> str:
        """Answers, at a higher cost."""
        return "steady"

    assert hangs.timeout_s == 0.2
    pipeline = Pipeline(
        "slow",
        stages=[
            Stage(
                "work",
                roles=["r"],
                skills=[hangs, steady],
                goal="answer",
                next=["done"],
                start=True,
            ),
            Stage("done", terminal=True),
        ],
        roles=[Role("r", "Answer.", skills=[hangs, steady])],
    )
    started = time.monotonic()
    result = Runtime(pipeline, pool=scripted_pool(ScriptedModel(name="m")), learn=False).run("q")
    assert time.monotonic() - started < 2.5  # the 3 s call was abandoned
    assert result.status == "ok" and result.facts["answer"] == "steady"
    reroute = next(d for d in result.decisions if d.kind == "reroute")
    assert "'hangs' failed (no result within 0.2s)" in reroute.reason


def test_a_skill_can_opt_out_of_the_timeout_and_run_on_the_callers_thread() -> None:
    import threading

    @skill(timeout_s=math.inf)
    def where() -> str:
        """The thread it runs on."""
        return threading.current_thread().name

    from orchestrator.execution.toolrunner import invoke_skill

    assert invoke_skill(where, {}) == threading.current_thread().name

    @skill
    def elsewhere() -> str:
        """The thread it runs on."""
        return threading.current_thread().name

    assert invoke_skill(elsewhere, {}).startswith("orchestrator-tool")
