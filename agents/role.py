"""Agent roles: who does the work of a stage, with which instructions, skills and models."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import DefinitionError

__all__ = ["Role"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def _defined_at(ref: Any) -> str:
    """Where a skill's function is defined (``file:line``)."""
    code = getattr(getattr(ref, "fn", None), "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else repr(ref)


def _skill_name(ref: Any) -> str:
    name = getattr(ref, "name", ref)
    if not isinstance(name, str):
        raise DefinitionError(
            f"skill reference {ref!r} is neither a skill nor a skill name; "
            "pass the @skill function or its name"
        )
    return name


@dataclass(frozen=True, slots=True, init=False)
class Role:
    """An agent role: instructions, the skills it may call and the models that may play it."""

    name: str
    """Unique name within the pipeline."""
    instructions: str
    """What the role does; the static head of every prompt it receives."""
    skills: tuple[Any, ...] = ()
    """Skills (objects or names) this role may call; a stage may narrow them further."""
    models: tuple[str, ...] = ()
    """Names of pool models that may play this role; empty means every pool model."""
    context_tokens: int = 800
    """Token budget for the memory context handed to this role."""
    max_output_tokens: int = 400
    """Upper bound on tokens the role's model may answer with."""
    requires: Mapping[str, float] = field(default_factory=dict)
    """Minimum model capabilities for this role, e.g. ``{"reasoning": 0.6}``."""
    skill_names: tuple[str, ...] = field(default=())
    """Names of ``skills``, derived."""

    def __init__(
        self,
        name: str,
        instructions: str,
        *,
        skills: Sequence[Any] = (),
        models: Sequence[str] = (),
        context_tokens: int = 800,
        max_output_tokens: int = 400,
        requires: Mapping[str, float] | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise DefinitionError(
                f"role name {name!r} must start with a letter and use letters, digits, - or _"
            )
        if not instructions or not instructions.strip():
            raise DefinitionError(f"role {name!r} has no instructions; say what the role does")
        if isinstance(models, str):
            models = (models,)
        if context_tokens < 0 or max_output_tokens <= 0:
            raise DefinitionError(
                f"role {name!r}: context_tokens must be >= 0 and max_output_tokens > 0"
            )
        for cap, level in (requires or {}).items():
            if not isinstance(level, int | float) or not 0 <= level <= 1:
                raise DefinitionError(
                    f"role {name!r} requires {cap!r}: {level!r}; use scores in 0..1, "
                    "e.g. requires={'reasoning': 0.6}"
                )
        names = tuple(_skill_name(s) for s in skills)
        for n in sorted({n for n in names if names.count(n) > 1}):
            objects = {id(s): s for s in skills if not isinstance(s, str) and _skill_name(s) == n}
            if len(objects) > 1:
                where = ", ".join(_defined_at(s) for s in objects.values())
                raise DefinitionError(
                    f"role {name!r} lists two different skills named {n!r} ({where}); skill "
                    "names must be unique: rename one with @skill(name=...)"
                )
            raise DefinitionError(f"role {name!r} lists skill {n!r} more than once; keep one")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "instructions", instructions.strip())
        object.__setattr__(self, "skills", tuple(skills))
        object.__setattr__(self, "models", tuple(models))
        object.__setattr__(self, "context_tokens", context_tokens)
        object.__setattr__(self, "max_output_tokens", max_output_tokens)
        object.__setattr__(self, "skill_names", names)
        object.__setattr__(self, "requires", {k: float(v) for k, v in (requires or {}).items()})
