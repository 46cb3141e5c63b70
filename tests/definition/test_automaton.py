"""The goal-stage automaton: validation errors and properties of accepted runs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.definition.automaton import StageMachine
from orchestrator.errors import DefinitionError


def test_valid_machine_answers_moves() -> None:
    m = StageMachine({"a": ["b", "c"], "b": ["c"], "c": []}, start="a", terminals=["c"])
    assert m.allows("a", "b") and m.allows("b", "c")
    assert not m.allows("a", "a") and not m.allows("c", "a")
    assert m.next_of("a") == ("b", "c")
    assert m.accepts(["a", "b", "c"]) and not m.accepts(["a", "c", "b"]) and not m.accepts(["b"])


@pytest.mark.parametrize(
    ("transitions", "terminals", "needle"),
    [
        ({"a": ["b"], "b": []}, [], "no terminal stage"),
        ({"a": ["zz"], "b": []}, ["b"], "'zz', which is not a defined stage"),
        ({"a": ["b"], "b": [], "c": ["b"]}, ["b"], "'c' is unreachable"),
        ({"a": ["b", "c"], "b": ["b"], "c": []}, ["c"], "'b' can never reach a terminal"),
        ({"a": ["b"], "b": ["a"]}, ["b"], "terminal stage 'b' has next stages"),
        ({"a": [], "b": []}, ["b"], "'a' is not terminal and has no next stages"),
    ],
)
def test_invalid_machines_name_the_stage(
    transitions: dict[str, list[str]], terminals: list[str], needle: str
) -> None:
    with pytest.raises(DefinitionError, match=needle.replace("(", r"\(")):
        StageMachine(transitions, start="a", terminals=terminals)


@st.composite
def machines(draw: st.DrawFn) -> tuple[dict[str, list[str]], list[str]]:
    """Random automata: a chain guarantees reachability, extra edges add branches and loops."""
    n = draw(st.integers(2, 8))
    names = [f"s{i}" for i in range(n)]
    edges: dict[str, list[str]] = {s: [] for s in names}
    for i in range(n - 1):
        edges[names[i]].append(names[i + 1])
    for i in range(n - 1):
        for j in draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True)):
            if names[j] not in edges[names[i]]:
                edges[names[i]].append(names[j])
    return edges, [names[-1]]


@settings(max_examples=200, deadline=None)
@given(machines(), st.data())
def test_random_walks_are_accepted_and_always_can_finish(
    spec: tuple[dict[str, list[str]], list[str]], data: st.DataObject
) -> None:
    edges, terminals = spec
    m = StageMachine(edges, start="s0", terminals=terminals)
    path = ["s0"]
    for _ in range(20):
        if m.is_terminal(path[-1]):
            break
        path.append(data.draw(st.sampled_from(m.next_of(path[-1]))))
    assert m.accepts(path)
    # a move outside next_of is never allowed
    for s in m.stages:
        for t in m.stages:
            assert m.allows(s, t) == (t in edges[s])


@settings(max_examples=200, deadline=None)
@given(machines(), st.integers(0, 7), st.integers(0, 7))
def test_breaking_an_edge_target_is_always_caught(
    spec: tuple[dict[str, list[str]], list[str]], i: int, j: int
) -> None:
    edges, terminals = spec
    src = sorted(s for s in edges if edges[s])[i % len([s for s in edges if edges[s]])]
    bad = {k: list(v) for k, v in edges.items()}
    bad[src][j % len(bad[src])] = "nowhere"
    with pytest.raises(DefinitionError, match="nowhere"):
        StageMachine(bad, start="s0", terminals=terminals)
