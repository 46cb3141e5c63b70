"""What a pipeline's definition implies, computed from it: its skills, who may call which,
and the tool graph of every goal stage (with the graphs of its lesser goals).

Each function takes the parts of a definition and returns a value; ``Pipeline`` calls them
in order and keeps what they return. Each fails with a ``DefinitionError`` naming the
stage, role or skill and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from agents import Role
from orchestrator.definition.values import Stage
from orchestrator.errors import DefinitionError, OrchestratorError
from orchestrator.tools import ToolGraph
from skills import Skill, SkillRegistry, default_registry

__all__ = ["StageRole", "ToolGraphs", "permissions", "resolve_skills", "tool_graphs"]

StageRole = tuple[str, str]
"""A (stage, role) pair: a role working at a stage."""


class ToolGraphs(NamedTuple):
    """The tool graphs of a pipeline's goal stages, per (stage, role)."""

    goals: dict[StageRole, ToolGraph]
    """The graph toward the stage's goal."""
    demotions: dict[StageRole, dict[str, ToolGraph]]
    """Lesser goal -> its graph, for a stage with ``demote_to`` goals."""


def resolve_skills(
    pipeline: str,
    stages: Mapping[str, Stage],
    roles: Mapping[str, Role],
    extra: Sequence[Skill],
) -> SkillRegistry:
    """Every skill the pipeline mentions: objects first, then names from the registry of
    built-in and installed skills."""
    registry = SkillRegistry()
    refs: list[tuple[str, Any]] = [(f"pipeline {pipeline!r}", s) for s in extra]
    refs += [(f"stage {s.name!r}", k) for s in stages.values() for k in s.skills]
    refs += [(f"role {r.name!r}", k) for r in roles.values() for k in r.skills]
    for owner, ref in refs:
        if isinstance(ref, Skill):
            registry.add(ref, source=owner)
        elif not isinstance(ref, str):
            raise DefinitionError(
                f"{owner} lists {ref!r} as a skill; pass an @skill function or a skill name "
                "(a plain function needs the @skill decorator)"
            )
    known: SkillRegistry | None = None
    for owner, ref in refs:
        if isinstance(ref, str) and ref not in registry:
            known = known or default_registry()
            if ref not in known:
                raise DefinitionError(
                    f"{owner} names skill {ref!r}, which is not defined: no @skill in the "
                    f"pipeline, built-in or installed plugin has that name. Known: "
                    f"{sorted({e.skill.name for e in (*known, *registry)})}"
                )
            registry.add(known.get(ref), source="registry")
    return registry


def permissions(
    stages: Mapping[str, Stage], roles: Mapping[str, Role]
) -> dict[StageRole, tuple[str, ...]]:
    """Skills each (stage, role) may call: the stage's list narrowed by the role's."""
    out: dict[StageRole, tuple[str, ...]] = {}
    for s in stages.values():
        stage_skills = [getattr(k, "name", k) for k in s.skills]
        usable: set[str] = set()
        for r in s.roles:
            role_skills = set(roles[r].skill_names)
            out[(s.name, r)] = tuple(k for k in stage_skills if k in role_skills)
            usable.update(out[(s.name, r)])
        unusable = [k for k in stage_skills if k not in usable]
        if unusable and s.roles:
            raise DefinitionError(
                f"stage {s.name!r} offers skill {unusable[0]!r}, but none of its roles "
                f"{list(s.roles)} may call it; add it to a role's skills=[...]"
            )
    return out


def tool_graphs(
    stages: Mapping[str, Stage],
    registry: SkillRegistry,
    permitted: Mapping[StageRole, Sequence[str]],
) -> ToolGraphs:
    """The tool graph of each goal stage's roles, and of its lesser goals; each goal must be
    reachable from the query and the facts other skills produce."""
    goals: dict[StageRole, ToolGraph] = {}
    demotions: dict[StageRole, dict[str, ToolGraph]] = {}
    produced = {"query", "intent"} | {e.skill.produces for e in registry}
    for s in stages.values():
        if s.goal is None:
            continue
        for r in s.roles:
            tools = [registry.get(k) for k in permitted[(s.name, r)]]
            where = f"stage {s.name!r} (role {r!r})"
            if not tools:
                raise DefinitionError(
                    f"{where} has goal {s.goal!r} but no skills it may call; "
                    "give the stage and role skills that produce it"
                )
            try:
                graph = ToolGraph(tools, goal=s.goal, edges=s.tool_edges)
                lesser = {g: ToolGraph(tools, goal=g, edges=s.tool_edges) for g in s.demote_to}
            except OrchestratorError as exc:
                raise DefinitionError(f"{where}: {exc}") from None
            # facts from outside this graph may be known by the time the stage runs
            outside = produced - {t.produces for t in tools}
            for goal, g in [(s.goal, graph), *lesser.items()]:
                if g.route().plan(dict.fromkeys(outside)) is None:
                    raise DefinitionError(
                        f"{where}: goal {goal!r} is unreachable; no chain of its skills "
                        "can start from the query and the facts other skills produce"
                        + _missing(g, outside)
                    )
            goals[(s.name, r)] = graph
            demotions[(s.name, r)] = lesser
    return ToolGraphs(goals=goals, demotions=demotions)


def _missing(graph: ToolGraph, available: set[str]) -> str:
    """What blocks ``graph``'s goal: the inputs its skills need (directly or through the
    skills that would produce their inputs) that no skill produces and no run starts
    with, as the rest of an error message ('' when it is not a missing input)."""
    producers: dict[str, list[str]] = {}
    for tool, fact in graph.produced.items():
        producers.setdefault(fact, []).append(tool)
    missing: dict[str, str] = {}  # fact -> a skill that needs it
    seen: set[str] = set()
    todo = list(graph.producers)
    while todo:
        tool = todo.pop()
        if tool in seen:
            continue
        seen.add(tool)
        for need in sorted(graph.needs[tool]):
            if need in available:
                continue
            if need in producers:
                todo.extend(producers[need])
            else:
                missing.setdefault(need, tool)
    if not missing:
        return ""
    by_tool: dict[str, list[str]] = {}
    for fact, tool in sorted(missing.items()):
        by_tool.setdefault(tool, []).append(repr(fact))
    parts = [f"skill {tool!r} needs {' and '.join(facts)}" for tool, facts in by_tool.items()]
    return (
        f": {'; '.join(parts)}, which no skill produces and a run does not start with; add a "
        f"skill with produces={next(iter(sorted(missing)))!r}, or give the parameter a default"
    )
