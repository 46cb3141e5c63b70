"""Prompt assembly and reply parsing: the text protocol between the runtime and any model.

Prompts are cache-aligned: the static part (role instructions and the reply protocol) comes
first in the system message, everything specific to the run comes last.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import pydantic

from orchestrator.types import Message

__all__ = [
    "REQUEST_HEADER",
    "ParsedReply",
    "PromptParts",
    "SkillCall",
    "build_escalation",
    "build_grading",
    "build_messages",
    "build_team_messages",
    "next_of_sections",
    "parse_goal",
    "parse_reply",
    "parse_score",
    "parse_sections",
    "read_prompt",
    "team_schema",
]

ANSWER = "Answer the request using the facts and context you are given."
CALLING = ' To use a skill, write a line `CALL: <skill> {"arg": value}`.'
ROUTING = " End your reply with a line `NEXT: <stage>` naming one of the allowed next stages."
PROTOCOL = ANSWER + CALLING + ROUTING
"""The reply protocol of an agent call; a call with no skills or no next stage to name
(a team member whose answer is not the stage's) gets only the parts that apply."""
_NEXT = re.compile(r"^\s*NEXT:\s*([A-Za-z0-9_-]+)\s*$", re.MULTILINE)
_GOAL = re.compile(r"^\s*GOAL:\s*([A-Za-z0-9_.-]+)\s*$", re.MULTILINE)
ESCALATION = (
    "You decide how a stage goes on when no chain of its tools can reach its goal. Choose "
    "one of the fallback goals listed (cheapest first), or none to hand the request on. "
    "Reply with one line `GOAL: <name>` or `GOAL: none`."
)
TEAM_PROTOCOL = (
    "Write every agent's answer, in the order listed, as one JSON object: its keys are the "
    "agent names, each value that agent's complete answer as a string. An agent may build on "
    "the answers written before it. After the JSON object, end with a line `NEXT: <stage>` "
    "naming one of the allowed next stages."
)
GRADING = (
    "You grade the answers of a team of agents. For each agent you see its instructions and "
    "its answer. Judge whether each answer does what its instructions ask and states the "
    "facts correctly. Reply with one line `SCORE: <0-10>` for the team as a whole."
)
_SCORE = re.compile(r"SCORE:\s*(\d+(?:\.\d+)?)")
GRADE_PREFIX = "Answer of "
_CALL = re.compile(r"^\s*CALL:\s*([A-Za-z_][A-Za-z0-9_]*)\s*(\{.*\})?\s*$", re.MULTILINE)


REQUEST_HEADER = "Request:\n"


@dataclass(frozen=True, kw_only=True, slots=True)
class PromptParts:
    """What a user message built by ``build_messages`` says."""

    stage: str
    """The stage being worked on."""
    intent: str
    """The routed intent."""
    request: str
    """The user's request, verbatim."""
    facts: tuple[tuple[str, str], ...]
    """(name, rendered value) of each fact shown."""
    allowed_next: tuple[str, ...]
    """Stages the reply may name in ``NEXT:``."""
    options: tuple[str, ...] = ()
    """For an escalation prompt: the fallback goals the reply may name in ``GOAL:``."""
    agents: tuple[str, ...] = ()
    """For a merged (compound) prompt: the agents whose answers the reply must hold."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SkillCall:
    """A skill call a model asked for."""

    skill: str
    """Name of the requested skill."""
    args: Mapping[str, Any]
    """Arguments as the model wrote them (not yet validated)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedReply:
    """A model reply split into answer text and control requests."""

    answer: str
    """The reply without protocol lines."""
    next_stage: str | None
    """The stage the model asked to move to, if it named one."""
    calls: tuple[SkillCall, ...]
    """Skill calls the model asked for, in order."""


def _fmt(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 400 else text[:397] + "..."


def build_messages(
    *,
    role_name: str,
    instructions: str,
    stage: str,
    query: str,
    intent: str,
    facts: Mapping[str, Any],
    context: Sequence[str],
    skills: Sequence[str],
    allowed_next: Sequence[str],
) -> list[Message]:
    """The two messages of one agent call: static system part first, run data last."""
    protocol = ANSWER + (CALLING if skills else "") + (ROUTING if allowed_next else "")
    system = f"You are the {role_name}. {instructions}\n\n{protocol}"
    lines = [f"Stage: {stage}", f"Intent: {intent}"]
    if facts:
        lines.append("Facts:")
        lines.extend(f"- {k}: {_fmt(v)}" for k, v in facts.items())
    if context:
        lines.append("Context:")
        lines.extend(f"- {c}" for c in context)
    if skills:
        lines.append("Skills you may call: " + ", ".join(skills))
    lines.append("Allowed next stages: " + (", ".join(allowed_next) if allowed_next else "(none)"))
    lines.append(REQUEST_HEADER + query)  # last: a request may span several lines
    return [Message(role="system", content=system), Message(role="user", content="\n".join(lines))]


def build_team_messages(
    *,
    members: Sequence[tuple[str, str]],
    stage: str,
    query: str,
    intent: str,
    facts: Mapping[str, Any],
    context: Sequence[str],
    allowed_next: Sequence[str],
) -> list[Message]:
    """The two messages of one merged call answering for several agents at once.

    ``members`` are (agent name, instructions) in the order they must answer. Cache-aligned
    like ``build_messages``: the agents' instructions and the protocol (static for a given
    group) come first; facts, context (the outputs of agents outside the call that these
    depend on) and the request come last.
    """
    head = "You answer for several agents of one team in a single reply. The agents:"
    roles = "\n".join(f"### {name}\n{instructions}" for name, instructions in members)
    system = f"{head}\n{roles}\n\n{TEAM_PROTOCOL}"
    lines = [f"Stage: {stage}", f"Intent: {intent}", "Agents: " + ", ".join(n for n, _ in members)]
    if facts:
        lines.append("Facts:")
        lines.extend(f"- {k}: {_fmt(v)}" for k, v in facts.items())
    if context:
        lines.append("Context:")
        lines.extend(f"- {c}" for c in context)
    lines.append("Allowed next stages: " + (", ".join(allowed_next) if allowed_next else "(none)"))
    lines.append(REQUEST_HEADER + query)
    return [Message(role="system", content=system), Message(role="user", content="\n".join(lines))]


_Section = Annotated[str, pydantic.StringConstraints(strip_whitespace=True, min_length=1)]
_SECTIONS: dict[tuple[str, ...], type[pydantic.BaseModel]] = {}


def _sections_model(names: tuple[str, ...]) -> type[pydantic.BaseModel]:
    model = _SECTIONS.get(names)
    if model is None:  # agent names need not be identifiers: fields go by alias
        fields: Any = {f"a{i}": (_Section, pydantic.Field(alias=n)) for i, n in enumerate(names)}
        model = pydantic.create_model("Sections", **fields)
        _SECTIONS[names] = model
    return model


def parse_sections(text: str, names: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The agents' answers in a merged reply, validated (pydantic): (valid, problems).

    ``valid`` maps each agent whose section is a non-empty string to it; ``problems`` maps
    every other agent of ``names`` to what was wrong (missing, empty, not text, or no JSON
    object at all). A partly valid reply keeps its valid sections.
    """
    names = tuple(names)
    body = _NEXT.sub("", text)
    start, end = body.find("{"), body.rfind("}")
    try:
        data = json.loads(body[start : end + 1]) if 0 <= start < end else None
    except json.JSONDecodeError as exc:
        data, why = None, f"the reply's JSON object does not parse ({exc.msg})"
    except (ValueError, RecursionError) as exc:  # too deep, an over-long number
        data, why = None, f"the reply's JSON object does not parse ({type(exc).__name__})"
    else:
        why = "the reply holds no JSON object"
    if not isinstance(data, dict):
        return {}, dict.fromkeys(names, why)
    model = _sections_model(names)
    try:
        parsed = model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems: dict[str, str] = {}
        for err in exc.errors():
            loc = err["loc"][0] if err["loc"] else ""
            if isinstance(loc, str) and loc in names and loc not in problems:
                kind = err["type"]
                problems[loc] = (
                    "section missing"
                    if kind == "missing"
                    else "section empty"
                    if kind == "string_too_short"
                    else f"section invalid ({err['msg']})"
                )
        valid = {n: data[n].strip() for n in names if n not in problems}
        return valid, problems
    values = parsed.model_dump()
    return {n: values[f"a{i}"] for i, n in enumerate(names)}, {}


def build_grading(
    *, query: str, facts: Mapping[str, Any], answers: Sequence[tuple[str, str, str]]
) -> list[Message]:
    """The one call of an LLM judge: (agent, instructions, answer) triples to grade."""
    lines = []
    if facts:
        lines.append("Facts:")
        lines.extend(f"- {k}: {_fmt(v)}" for k, v in facts.items())
    for name, instructions, text in answers:
        lines.append(f"Instructions of {name}: {instructions}")
        lines.append(f"{GRADE_PREFIX}{name}: " + " ".join(text.split()))
    lines.append(REQUEST_HEADER + query)
    return [Message(role="system", content=GRADING), Message(role="user", content="\n".join(lines))]


def parse_score(text: str) -> float | None:
    """A grading reply's score as a quality in [0, 1]; None without a SCORE line."""
    found = _SCORE.findall(text)
    return min(max(float(found[-1]) / 10, 0.0), 1.0) if found else None


def build_escalation(
    *,
    stage: str,
    goal: str,
    failed: Mapping[str, str],
    options: Sequence[tuple[str, float]],
    query: str,
) -> list[Message]:
    """The one model call of an escalation: which fallback goal, if any, to pursue."""
    lines = [
        f"Stage: {stage}",
        f"Unreachable goal: {goal}",
        "Failed tools: " + ("; ".join(f"{t} ({why})" for t, why in failed.items()) or "none"),
        "Options: " + ", ".join(name for name, _ in options),
        "Option costs: " + ", ".join(f"{name} {cost:.4f}" for name, cost in options),
        REQUEST_HEADER + query,
    ]
    return [
        Message(role="system", content=ESCALATION),
        Message(role="user", content="\n".join(lines)),
    ]


def parse_goal(text: str, options: Sequence[str]) -> str | None:
    """The fallback goal a reply chose among ``options``; None for none or anything else."""
    found = _GOAL.findall(text)
    return found[-1] if found and found[-1] in options else None


def read_prompt(user: str) -> PromptParts:
    """The parts of a user message made by ``build_messages`` (for offline backends)."""
    head, _, request = user.partition("\n" + REQUEST_HEADER)
    fields: dict[str, str] = {}
    facts: list[tuple[str, str]] = []
    section = ""
    for line in head.splitlines():
        if line.startswith("- ") and section == "Facts":
            key, _, value = line[2:].partition(": ")
            facts.append((key, value))
        elif not line.startswith("- "):
            section, _, value = line.partition(":")
            fields[section] = value.strip()
    allowed = [s for s in fields.get("Allowed next stages", "").split(", ") if s and s != "(none)"]
    options = [s for s in fields.get("Options", "").split(", ") if s]
    agents = [s for s in fields.get("Agents", "").split(", ") if s]
    return PromptParts(
        stage=fields.get("Stage", ""),
        intent=fields.get("Intent", ""),
        request=request,
        facts=tuple(facts),
        allowed_next=tuple(allowed),
        options=tuple(options),
        agents=tuple(agents),
    )


def parse_reply(text: str) -> ParsedReply:
    """Split a model's reply into its answer, its NEXT request and its CALL requests.

    A malformed CALL line (arguments that are not a JSON object) is kept as a call with
    no arguments, so that the guard, not the parser, decides what happens to it.
    """
    calls = []
    for m in _CALL.finditer(text):
        try:
            args = json.loads(m.group(2)) if m.group(2) else {}
        except (ValueError, RecursionError):  # not JSON, too deep, an over-long number
            args = {}
        calls.append(SkillCall(skill=m.group(1), args=args if isinstance(args, dict) else {}))
    nexts = _NEXT.findall(text)
    answer = _CALL.sub("", _NEXT.sub("", text)).strip()
    return ParsedReply(answer=answer, next_stage=nexts[-1] if nexts else None, calls=tuple(calls))


def team_schema(names: Sequence[str], allowed_next: Sequence[str] = ()) -> dict[str, Any]:
    """The ``response_format`` of a merged call: a JSON object with one non-empty string
    per agent and, when the call may name the next stage, ``NEXT`` (one of
    ``allowed_next``). A backend that constrains its decoding to it (llama.cpp, OpenAI and
    others through litellm) returns sections that parse, even from a small model."""
    props: dict[str, Any] = {n: {"type": "string", "minLength": 1} for n in names}
    required = list(names)
    if allowed_next:
        props["NEXT"] = {"enum": list(allowed_next)}
        required.append("NEXT")
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "sections",
            "schema": {"type": "object", "properties": props, "required": required},
        },
    }


def next_of_sections(text: str) -> str | None:
    """The ``NEXT`` a schema-constrained merged reply names in its JSON, if any."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    nxt = data.get("NEXT") if isinstance(data, dict) else None
    return nxt if isinstance(nxt, str) else None
