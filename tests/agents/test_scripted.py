"""ScriptedModel, the library's fake: replies from a script, and a check it was used up."""

from __future__ import annotations

import pytest

from agents import ScriptedModel
from orchestrator import Runtime
from orchestrator.errors import ModelUnavailable
from orchestrator.testing import scripted_pool
from orchestrator.types import Message
from tests.conftest import make_desk

ASK = [Message(role="user", content="hello")]


def test_a_used_up_script_passes_the_check() -> None:
    model = ScriptedModel(["one", "two"])
    assert model.remaining == 2
    assert [model.complete(ASK).text for _ in range(2)] == ["one", "two"]
    assert model.remaining == 0
    model.assert_consumed()
    assert model.complete(ASK).text == "ok"  # then the protocol-following echo
    model.assert_consumed()


def test_steps_left_over_fail_the_check_naming_them() -> None:
    model = ScriptedModel(["used", "never asked for", ModelUnavailable("down", kind="timeout")])
    model.complete(ASK)
    with pytest.raises(AssertionError, match=r"called 1 time\(s\) and 2 scripted step\(s\)") as e:
        model.assert_consumed()
    assert "'never asked for'" in str(e.value) and "raise ModelUnavailable(down)" in str(e.value)


def test_a_run_that_asks_fewer_times_than_scripted_is_caught() -> None:
    # the desk asks its model three times (triage, resolve, review); a fourth step is left
    model = ScriptedModel(["ok\nNEXT: resolve", "ok\nNEXT: review", "ok\nNEXT: done", "extra"])
    with Runtime(make_desk(), pool=scripted_pool(model), learn=False) as rt:
        assert rt.run("refund order 42").trail == ("triage", "resolve", "review", "done")
    assert model.remaining == 1
    with pytest.raises(AssertionError, match="'extra'"):
        model.assert_consumed()
