"""Compound execution: teams, the escalation ladder, section validation, the quality gate
(team stages run by the runtime: tests/execution/test_team.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.prompts import build_team_messages, parse_sections
from orchestrator import Compound, Member, Pipeline, Role, Stage
from orchestrator.compound import (
    LADDER,
    QualityGate,
    Team,
    chunks,
    estimate_input_tokens,
)
from orchestrator.errors import DefinitionError
from orchestrator.types import Message
from skills import skill

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
