"""Compound execution: teams, the escalation ladder, section validation, the quality gate,
and team stages run by the engine (fine, merged, fallback, traced, persisted)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import ModelPool, ScriptedModel
from agents.group_judge import ModelGroupJudge
from agents.prompts import build_team_messages, parse_sections
from orchestrator import Compound, Intent, Member, Pipeline, Role, Runtime, Stage
from orchestrator.compound import (
    LADDER,
    GroupOutput,
    QualityGate,
    Team,
    chunks,
    estimate_input_tokens,
)
from orchestrator.errors import DefinitionError, ModelCallError
from orchestrator.execution.judges import SectionJudge
from orchestrator.testing import decision_events, scripted_pool, span_recorder
from orchestrator.types import Message
from skills import skill
from tests.servers import llm_katan

# ------------------------------------------------------------------ teams and the ladder

FIVE = [
    Member("a"),
    Member("b"),
    Member("c"),
    Member("d", after=["a", "b", "c"]),
    Member("e", after=["a", "d"]),
]


def test_team_orders_members_topologically_and_names_the_sink() -> None:
    team = Team("s", [Member("e", after=["d"]), Member("d", after=["a"]), "a"])
    assert team.order == ("a", "d", "e")
    assert team.layers == [("a",), ("d",), ("e",)]
    assert team.sink == "e"


@pytest.mark.parametrize(
    ("members", "says"),
    [
        ([Member("a", after=["b"]), Member("b", after=["a"])], "cycle"),
        ([Member("a", after=["zzz"])], "'zzz', which is not in the team"),
        ([Member("a"), Member("a")], "more than once"),
    ],
)
def test_bad_teams_fail_at_definition_with_the_reason(members: list[Member], says: str) -> None:
    with pytest.raises(DefinitionError, match=says):
        Team("s", members)
    with pytest.raises(DefinitionError, match="after takes a list"):
        Member("a", after="b")


def _roles(*names: str, **extra: Role) -> list[Role]:
    return [Role(n, f"You are agent {n}; write your part.") for n in names] + list(extra.values())


def test_pipeline_checks_team_members_against_roles() -> None:
    with pytest.raises(DefinitionError, match=r"team member 'ghost'.*not a defined role"):
        Pipeline(
            "p",
            stages=[Stage("s", team=["ghost", "a"], next=["done"]), Stage("done", terminal=True)],
            roles=_roles("a"),
        )

    @skill(produces="x")
    def make_x(query: str) -> str:
        """Make x."""
        return "x"

    with pytest.raises(DefinitionError, match="team member 'a' of stage 's' lists skills"):
        Pipeline(
            "p",
            stages=[Stage("s", team=["a"], next=["done"]), Stage("done", terminal=True)],
            roles=[Role("a", "Do a.", skills=[make_x])],
        )
    with pytest.raises(DefinitionError, match="terminal stage cannot have a team"):
        Stage("done", terminal=True, team=["a"])


def test_the_ladder_moves_toward_one_call_per_agent() -> None:
    team = Team("s", FIVE)
    assert chunks(team, "standard") == [("a", "b", "c", "d", "e")]
    assert chunks(team, "two-phase") == [("a", "b", "c"), ("d", "e")]  # at a layer boundary
    assert chunks(team, "sequential") == [("a", "b"), ("c", "d"), ("e",)]
    assert chunks(team, "fine") == [("a",), ("b",), ("c",), ("d",), ("e",)]


@st.composite
def dags(draw: st.DrawFn) -> list[Member]:
    n = draw(st.integers(1, 14))
    members = []
    for i in range(n):
        after = draw(st.lists(st.integers(0, max(i - 1, 0)), max_size=3, unique=True)) if i else []
        members.append(Member(f"m{i}", after=[f"m{j}" for j in after]))
    return draw(st.permutations(members))


@settings(max_examples=200, deadline=None)
@given(dags())
def test_every_mode_runs_each_member_once_after_its_inputs(members: list[Member]) -> None:
    team = Team("s", members)
    calls = []
    for mode in LADDER:
        parts = chunks(team, mode)
        flat = [n for p in parts for n in p]
        assert sorted(flat) == sorted(m.role for m in members)
        done: set[str] = set()
        for part in parts:  # a member's inputs come from earlier calls or its own call
            for n in part:
                assert set(team.deps[n]) <= done | set(part[: part.index(n)])
            done |= set(part)
        calls.append(len(parts))
    assert calls == sorted(calls)  # fewer merged members per call, never fewer calls
    sizes = {n: 20 for n in team.order}
    tokens = [
        estimate_input_tokens(team, m, instructions=sizes, shared=50, outputs=sizes)[1]
        for m in LADDER
    ]
    assert tokens[0] <= tokens[-1]  # merging never costs more input than fine


# ------------------------------------------------------------------ merged replies


def test_merged_replies_are_validated_section_by_section() -> None:
    names = ["market", "legal-team", "memo"]
    good = json.dumps({"market": "big", "legal-team": "clean", "memo": "buy"}) + "\nNEXT: done"
    assert parse_sections(good, names) == (
        {"market": "big", "legal-team": "clean", "memo": "buy"},
        {},
    )
    valid, problems = parse_sections(json.dumps({"market": "big", "memo": "  "}), names)
    assert valid == {"market": "big"}
    assert problems == {"legal-team": "section missing", "memo": "section empty"}
    valid, problems = parse_sections(
        json.dumps({"market": 3, "legal-team": "x", "memo": "y"}), names
    )
    assert set(valid) == {"legal-team", "memo"} and problems["market"].startswith("section invalid")
    assert parse_sections("no json here", names)[1]["memo"] == "the reply holds no JSON object"
    assert "does not parse" in parse_sections("{broken: }", names)[1]["market"]


def test_merged_prompts_put_the_static_part_first() -> None:
    def build(query: str) -> list[Message]:
        return build_team_messages(
            members=[("a", "Do a."), ("b", "Do b.")],
            stage="s",
            query=query,
            intent="i",
            facts={"k": "v"},
            context=[],
            allowed_next=["done"],
        )

    one, two = build("first request"), build("second request")
    assert one[0] == two[0]  # the system part is identical across runs: cacheable
    assert "### a\nDo a." in one[0].content
    assert one[1].content.endswith("first request")


# ------------------------------------------------------------------ the quality gate


def _drive(
    gate: QualityGate, modes: Sequence[str], quality: dict[str, float], runs: int
) -> list[str]:
    savings = {m: (4 - i, 1000 - 200 * i) for i, m in enumerate(LADDER) if m in modes}
    savings["fine"] = (0, 0)
    taken = []
    for _ in range(runs):
        mode = gate.choose("m", "g", stage="s", savings=savings).mode
        gate.observe("m", "g", mode, quality[mode], stage="s")
        taken.append(mode)
    return taken


def test_the_gate_warms_up_fine_then_merges_and_reverts_on_a_drop() -> None:
    gate = QualityGate(Compound())
    quality = dict.fromkeys(LADDER, 0.9)
    taken = _drive(gate, LADDER, quality, 8)
    assert taken[:3] == ["fine"] * 3 and taken[3:] == ["standard"] * 5
    quality["standard"] = quality["two-phase"] = 0.5  # the model gets worse at big prompts
    taken = _drive(gate, LADDER, quality, 12)
    first_ok = next(i for i, m in enumerate(taken) if m == "sequential")
    assert first_ok <= 10
    assert set(taken[first_ok:]) == {"sequential"}
    assert gate.floor("m", "g") == pytest.approx(0.85)


def test_a_failed_mode_is_retried_after_retry_after_runs() -> None:
    gate = QualityGate(Compound(retry_after=10))
    quality = dict.fromkeys(LADDER, 0.9)
    _drive(gate, LADDER, quality, 4)
    quality["standard"] = 0.4
    taken = _drive(gate, LADDER, quality, 30)
    assert taken.count("standard") >= 2 + 3  # tried again after each cool-off, failed again
    quality["standard"] = 0.9
    taken = _drive(gate, LADDER, quality, 20)
    assert taken[-5:] == ["standard"] * 5  # recovered: back to the most merged mode


def test_one_noisy_score_does_not_switch_modes() -> None:
    gate = QualityGate(Compound(floor=0.8))
    for q in [0.9, 0.9, 0.9]:
        gate.observe("m", "g", "fine", q, stage="s")
    for q in [0.9, 0.95, 0.9, 0.95, 0.7]:  # one bad run in a good window
        assert gate.observe("m", "g", "standard", q, stage="s") is None


def test_merged_calls_that_keep_failing_validation_revert_even_at_equal_quality() -> None:
    gate = QualityGate(Compound())
    for _ in range(3):
        gate.observe("m", "g", "fine", 0.0, stage="s")  # a weak model: quality 0 anyway
    decisions = [
        gate.observe("m", "g", "standard", 0.0, stage="s", invalid_share=1.0) for _ in range(3)
    ]
    assert decisions[:2] == [None, None] and decisions[2] is not None
    assert "failed validation" in decisions[2].reason
    assert gate.mode_of("m", "g") == "two-phase"


def test_gate_state_survives_a_restart(tmp_path: Path) -> None:
    gate = QualityGate()
    _drive(gate, LADDER, dict.fromkeys(LADDER, 0.9), 6)
    gate.save(tmp_path / "gate.json")
    again = QualityGate()
    again.load(tmp_path / "gate.json")
    assert again.mode_of("m", "g") == "standard"
    assert again.rolling("m", "g", "standard") == gate.rolling("m", "g", "standard")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(Exception, match="delete it to start afresh"):
        QualityGate().load(tmp_path / "bad.json")


def test_compound_settings_are_checked() -> None:
    with pytest.raises(DefinitionError, match="include 'fine'"):
        Compound(modes=("standard",))
    with pytest.raises(DefinitionError, match="min_runs <= window"):
        Compound(window=2, min_runs=3)
    with pytest.raises(DefinitionError, match="pin 'huge'"):
        Compound(pin="huge")


# ------------------------------------------------------------------ the engine


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
