"""Invalid pipelines fail at definition time, naming what is wrong and how to fix it."""

from __future__ import annotations

import pytest

from orchestrator import Intent, Pipeline, Role, Stage
from orchestrator.errors import ConfigError, DefinitionError
from skills import skill
from tests.conftest import fetch_order, find_order_id, make_desk


def test_the_reference_pipeline_is_valid() -> None:
    p = make_desk()
    assert p.machine.start == "triage"
    assert p.permitted[("resolve", "resolver")] == ("find_order_id", "fetch_order", "refund")
    assert ("resolve", "resolver") in p.tool_graphs


def _stages(**extra: object) -> list[Stage]:
    return [Stage("a", roles=["r"], next=["b"], **extra), Stage("b", terminal=True)]  # type: ignore[arg-type]


ROLE = [Role("r", "Do it.")]


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (
            lambda: Pipeline(
                "p",
                stages=[Stage("a", roles=["ghost"], next=["b"]), Stage("b", terminal=True)],
                roles=ROLE,
            ),
            "stage 'a' names role 'ghost', which is not defined; defined roles are ['r']",
        ),
        (
            lambda: Pipeline(
                "p", stages=[*_stages(), Stage("lost", roles=["r"], next=["b"])], roles=ROLE
            ),
            "stage 'lost' is unreachable from start stage 'a'",
        ),
        (
            lambda: Pipeline("p", stages=[Stage("a", roles=["r"], next=["a"])], roles=ROLE),
            "no terminal stage",
        ),
        (
            lambda: Pipeline(
                "p",
                stages=[Stage("a", roles=["r"], next=["c"]), Stage("b", terminal=True)],
                roles=ROLE,
            ),
            "stage 'a' moves to 'c', which is not a defined stage",
        ),
        (
            lambda: Pipeline("p", stages=[*_stages(), Stage("a", terminal=True)], roles=ROLE),
            "two stages are named 'a'",
        ),
        (
            lambda: Pipeline("p", stages=_stages(), roles=[*ROLE, Role("r", "Again.")]),
            "two roles are named 'r'",
        ),
        (
            lambda: Pipeline(
                "p", stages=_stages(), roles=ROLE, intents=[Intent("x", ["a"]), Intent("x", ["b"])]
            ),
            "two intents are named 'x'",
        ),
        (
            lambda: Pipeline(
                "p",
                stages=_stages(skills=["no_such_skill"]),
                roles=[Role("r", "Do.", skills=["no_such_skill"])],
            ),
            "stage 'a' names skill 'no_such_skill', which is not defined",
        ),
        (
            lambda: Pipeline("p", stages=_stages(skills=[find_order_id]), roles=ROLE),
            "stage 'a' offers skill 'find_order_id', but none of its roles",
        ),
        (
            lambda: Pipeline(
                "p",
                stages=_stages(skills=[find_order_id], goal="refund_id"),
                roles=[Role("r", "Do.", skills=[find_order_id])],
            ),
            "no tool produces the goal 'refund_id'",
        ),
        (
            lambda: Pipeline(
                "p", stages=[Stage("a", next=["b"]), Stage("b", terminal=True)], roles=ROLE
            ),
            "stage 'a' has no roles",
        ),
        (
            lambda: Stage("a", roles=["r"], next=["b"], escalate_to="c"),
            "escalates to 'c', which is not among its next stages",
        ),
        (lambda: Stage("bad name", roles=["r"]), "stage name 'bad name'"),
        (lambda: Intent("x", []), "intent 'x' needs a list of non-empty example utterances"),
        (lambda: Role("r", ""), "role 'r' has no instructions"),
        (
            lambda: Pipeline("p", stages=_stages(skills=[lambda q: q]), roles=ROLE),
            "a plain function needs the @skill decorator",
        ),
    ],
)
def test_definition_errors(build: object, needle: str) -> None:
    with pytest.raises(DefinitionError) as info:
        build()  # type: ignore[operator]
    assert needle in str(info.value)


def test_goal_needing_an_unobtainable_input_is_unreachable() -> None:
    @skill(produces="refund_id")
    def refund_by_ticket(ticket: str) -> str:
        """Needs a ticket nobody produces."""
        return ticket

    with pytest.raises(DefinitionError, match="goal 'refund_id' is unreachable") as info:
        Pipeline(
            "p",
            stages=_stages(skills=[refund_by_ticket], goal="refund_id"),
            roles=[Role("r", "Do.", skills=[refund_by_ticket])],
        )
    # the message names the input nothing produces, and the fix
    assert "skill 'refund_by_ticket' needs 'ticket', which no skill produces" in str(info.value)
    assert "add a skill with produces='ticket'" in str(info.value)


def test_skill_names_resolve_to_builtins() -> None:
    p = Pipeline(
        "p",
        stages=_stages(skills=["calculate"]),
        roles=[Role("r", "Do.", skills=["calculate", fetch_order])],
    )
    assert p.registry.get("calculate").produces == "calculation"
    assert p.permitted[("a", "r")] == ("calculate",)


@pytest.mark.parametrize("kind", ["pipeline", "stage", "intent", "role", "skill"])
def test_a_name_with_a_trailing_newline_is_refused(kind: str) -> None:
    def fn(q: str) -> str:
        """Echo."""
        return q

    build = {
        "pipeline": lambda: Pipeline("desk\n", stages=_stages(), roles=ROLE),
        "stage": lambda: Stage("a\n", roles=["r"]),
        "intent": lambda: Intent("refund\n", ["refund it"]),
        "role": lambda: Role("r\n", "Do."),
        "skill": lambda: skill(name="echo\n")(fn),
    }[kind]
    with pytest.raises(ConfigError, match="name"):
        build()


def test_two_different_skills_of_one_name_are_refused_naming_both() -> None:
    def make() -> object:
        @skill
        def look(query: str) -> str:
            """Look it up."""
            return query

        return look

    first, second = make(), make()
    with pytest.raises(DefinitionError) as info:
        Role("r", "Do.", skills=[first, second])
    text = str(info.value)
    assert "lists two different skills named 'look'" in text and "test_pipeline.py:" in text
    assert "rename one with @skill(name=...)" in text
    with pytest.raises(DefinitionError, match="lists skill 'look' more than once; keep one"):
        Role("r", "Do.", skills=[first, first])


def test_without_a_start_stage_runs_begin_at_the_first_stage() -> None:
    # the documented default (Pipeline's docstring, the README), not a silent guess
    stages = [
        Stage("first", roles=["r"], next=["second"]),
        Stage("second", roles=["r"], next=["done"]),
        Stage("done", terminal=True),
    ]
    p = Pipeline("p", stages=stages, roles=ROLE)
    assert p.machine.start == "first"
    assert "or at the first stage of ``stages`` when none is" in " ".join(
        (Pipeline.__doc__ or "").split()
    )
    with pytest.raises(DefinitionError, match="marks several start stages"):
        Pipeline(
            "p",
            stages=[
                Stage("first", roles=["r"], next=["done"], start=True),
                Stage("second", roles=["r"], next=["done"], start=True),
                Stage("done", terminal=True),
            ],
            roles=ROLE,
        )
