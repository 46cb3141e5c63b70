"""Team stages run by the runtime: fine, merged, fallback, traced, persisted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents import ModelPool, ScriptedModel
from agents.group_judge import ModelGroupJudge
from orchestrator import Compound, Intent, Pipeline, Role, Runtime, Stage
from orchestrator.compound import GroupOutput
from orchestrator.errors import ModelCallError
from orchestrator.execution.judges import SectionJudge
from orchestrator.testing import decision_events, scripted_pool, span_recorder
from skills import skill
from tests.compound.test_compound import FIVE, _roles
from tests.servers import llm_katan


@skill(produces="figure")
def figure_of(query: str) -> str:
    """The figure the team works from."""
    return "42"


def _team_pipeline(compound: Compound | None = None) -> Pipeline:
    return Pipeline(
        "team",
        intents=[Intent("ask", ["analyse this"])],
        stages=[
            Stage(
                "work",
                roles=["lead"],
                team=FIVE,
                skills=[figure_of],
                goal="figure",
                next=["done"],
                start=True,
            ),
            Stage("done", terminal=True),
        ],
        roles=[
            Role("lead", "You lead the team.", skills=[figure_of], models=["m"]),
            *_roles("a", "b", "c", "d", "e"),
        ],
        compound=compound,
    )


def test_fine_mode_shows_each_agent_only_what_it_depends_on() -> None:
    model = ScriptedModel(name="m")
    with Runtime(
        _team_pipeline(Compound(modes=("fine",))), pool=scripted_pool(model), learn=False
    ) as rt:
        result = rt.run("analyse this")
    assert result.status == "ok" and result.llm_calls == 5
    prompts = {
        call[0].content.split(".")[0].removeprefix("You are the "): call[1].content
        for call in model.calls
    }
    assert "d wrote:" not in prompts["a"] and "a wrote:" not in prompts["b"]
    assert all(f"{x} wrote:" in prompts["d"] for x in "abc")
    assert "a wrote:" in prompts["e"] and "d wrote:" in prompts["e"]
    assert "b wrote:" not in prompts["e"]  # e does not depend on b
    # only the sink names the next stage; no one is told about skills it cannot call
    assert "Allowed next stages: done" in prompts["e"]
    assert "Allowed next stages: (none)" in prompts["a"]
    assert all("CALL:" not in call[0].content for call in model.calls)
    record = result.outputs[-1]
    assert set(record["team"]) == set("abcde") and record["text"] == record["team"]["e"]


def test_merged_mode_takes_one_call_and_fewer_tokens() -> None:
    fine_model, merged_model = ScriptedModel(name="m"), ScriptedModel(name="m")
    with Runtime(
        _team_pipeline(Compound(modes=("fine",))), pool=scripted_pool(fine_model), learn=False
    ) as rt:
        fine = rt.run("analyse this")
    with Runtime(
        _team_pipeline(Compound(pin="standard")), pool=scripted_pool(merged_model), learn=False
    ) as rt:
        merged = rt.run("analyse this")
    assert merged.status == "ok" and merged.llm_calls == 1 and len(merged_model.calls) == 1
    assert merged.input_tokens < 0.6 * fine.input_tokens
    assert merged.outputs[-1]["team"]["e"].startswith("e ok")
    assert merged.trail == ("work", "done")


def test_a_merged_reply_missing_a_section_reruns_that_agent_and_is_traced() -> None:
    broken = json.dumps({"a": "A 42", "b": "B 42", "c": "C 42", "d": ""}) + "\nNEXT: done"
    model = ScriptedModel([broken], name="m")
    provider, exporter = span_recorder()
    with Runtime(
        _team_pipeline(Compound(pin="standard")),
        pool=scripted_pool(model),
        learn=False,
        tracer_provider=provider,
    ) as rt:
        result = rt.run("analyse this")
    assert result.status == "ok"
    assert result.llm_calls == 3  # the merged call, then d and e one call each
    team = result.outputs[-1]["team"]
    assert team["a"] == "A 42" and team["d"].startswith("ok") and team["e"].startswith("ok")
    # the re-run e sees the re-run d's answer, not the empty section
    assert "d wrote: ok" in model.calls[2][1].content
    events = decision_events(exporter.get_finished_spans(), "compound")
    fallback = [e for e in events if "invalid sections" in e["orchestrator.decision.reason"]]
    assert fallback and "d: section empty" in fallback[0]["orchestrator.decision.reason"]
    assert "e: section missing" in fallback[0]["orchestrator.decision.reason"]
    # the gate saw what the merged call delivered (three of five sections), not the repair
    assert result.outputs[-1]["group_quality"] == pytest.approx(0.6)


def test_the_runtime_gate_persists_between_runtimes(tmp_path: Path) -> None:
    for _ in range(4):
        with Runtime(
            _team_pipeline(), pool=scripted_pool(ScriptedModel(name="m")), data_dir=tmp_path
        ) as rt:
            result = rt.run("analyse this")
    assert result.outputs[-1]["compound_mode"] == "standard"  # 3 fine runs, then merged
    assert "compound: work=standard" in result.summary()
    saved = json.loads((tmp_path / "compound" / "team.json").read_text())
    assert saved["cells"][0]["mode"] == "standard"


def test_a_revert_is_a_compound_decision_with_mean_and_floor() -> None:
    class Drop:
        def __init__(self) -> None:
            self.runs = 0

        def score(self, out: GroupOutput) -> float:
            self.runs += 1
            return 0.9 if out.mode == "fine" or self.runs < 6 else 0.3

    provider, exporter = span_recorder()
    judge = Drop()
    with Runtime(
        _team_pipeline(Compound(judge=judge)),
        pool=scripted_pool(ScriptedModel(name="m")),
        learn=False,
        tracer_provider=provider,
    ) as rt:
        modes = [rt.run("analyse this").outputs[-1]["compound_mode"] for _ in range(12)]
    assert modes[:3] == ["fine"] * 3 and "standard" in modes
    reverts = [
        e
        for e in decision_events(exporter.get_finished_spans(), "compound")
        if e["orchestrator.decision.reason"].startswith("revert")
    ]
    assert reverts
    reason = reverts[0]["orchestrator.decision.reason"]
    assert "from standard to two-phase" in reason and "floor 0.850" in reason
    assert "rolling mean" in reason


def test_an_llm_judge_from_the_pool_scores_groups() -> None:
    judge_model = ScriptedModel(["SCORE: 7", "no score at all"], name="judge")
    pool = scripted_pool(ScriptedModel(name="m"), judge_model)
    provider, exporter = span_recorder()
    with Runtime(
        _team_pipeline(Compound(judge="judge", pin="standard")),
        pool=pool,
        learn=False,
        tracer_provider=provider,
    ) as rt:
        first = rt.run("analyse this")
        second = rt.run("analyse this")
    assert first.outputs[-1]["group_quality"] == pytest.approx(0.7)
    assert "Answer of e:" in judge_model.calls[0][1].content
    assert second.status == "ok" and second.outputs[-1]["group_quality"] is None
    reasons = [
        e["orchestrator.decision.reason"]
        for e in decision_events(exporter.get_finished_spans(), "compound")
    ]
    assert any("the group judge failed" in r for r in reasons)


def test_the_offline_model_can_judge_a_group() -> None:
    from agents import default_pool

    judge = ModelGroupJudge(default_pool().adapter("large"))
    view = GroupOutput(
        stage="s",
        group="g",
        mode="standard",
        model="m",
        query="q",
        instructions={"a": "Do a.", "b": "Do b."},
        sections={"a": "revenue is USD 41M", "b": "no idea"},
        facts={"revenue": "USD 41M"},
    )
    assert judge.score(view) == 0.5
    assert SectionJudge().score(view) == 0.5
    with pytest.raises(ModelCallError, match="without a SCORE"):
        ModelGroupJudge(ScriptedModel(["meh"], name="x")).score(view)


def test_a_team_through_a_real_http_model_falls_back_when_merging_fails(tmp_path: Path) -> None:
    """llm-katan echoes prompts: no JSON object comes back, so every member re-runs fine."""
    with llm_katan() as url:
        pool_file = tmp_path / "pool.toml"
        pool_file.write_text(
            f"[[models]]\nname = 'm'\nbackend = 'litellm'\nmodel = 'openai/test-model'\n"
            f"api_base = '{url}'\n"
        )
        with Runtime(
            _team_pipeline(Compound(pin="standard")),
            pool=ModelPool.from_file(pool_file),
            learn=False,
        ) as rt:
            result = rt.run("analyse this")
    assert result.status == "ok", result.error
    assert result.llm_calls == 6  # one merged call that failed validation, then 5 fine
    assert set(result.outputs[-1]["team"]) == set("abcde")
    assert all(t for t in result.outputs[-1]["team"].values())
    assert result.outputs[-1]["group_quality"] == 0.0


class _Shaped:
    """A model whose backend constrains its decoding: it records the schema it was asked
    for and answers with JSON that fits it, NEXT included (no protocol lines)."""

    structured_output = True

    def __init__(self) -> None:
        self.name = "m"
        self.formats: list[dict] = []

    def complete(self, messages, *, max_tokens=512, response_format=None):  # type: ignore[no-untyped-def]
        from orchestrator.types import ModelReply

        self.formats.append(response_format)
        schema = response_format["json_schema"]["schema"]
        body = {
            k: (v["enum"][0] if "enum" in v else f"{k} says ok")
            for k, v in schema["properties"].items()
        }
        return ModelReply(
            text=json.dumps(body), model="m", input_tokens=10, output_tokens=10, cost_usd=0.0
        )


def test_merged_calls_ask_a_constraining_backend_for_their_sections_by_schema() -> None:
    from agents import ModelProfile

    model = _Shaped()
    pool = ModelPool([ModelProfile(name="m", backend="custom", adapter=model)])
    with Runtime(_team_pipeline(Compound(pin="standard")), pool=pool, learn=False) as rt:
        result = rt.run("analyse this")
    assert result.status == "ok" and result.trail == ("work", "done"), result.error
    (fmt,) = model.formats
    schema = fmt["json_schema"]["schema"]
    assert set(schema["required"]) == {*"abcde", "NEXT"}
    assert schema["properties"]["NEXT"] == {"enum": ["done"]}
    assert result.outputs[-1]["team"]["e"] == "e says ok"  # sections parsed, none re-run
