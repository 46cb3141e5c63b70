"""Where skills are found: built-ins, the user's own ``@skill`` functions, and plugins.

Third-party packages expose skills through the entry-point group ``orchestrator.skills``;
an entry point may name a Skill, a list of Skills, or a module whose Skills are all taken.
Plugins are discovered once per process. One broken plugin does not break the others: an
entry point that fails to load, or points at no skill, is skipped with a ``PluginWarning``
saying why, and so is a plugin skill whose name another plugin (earlier by distribution
name) or a built-in already has.
"""

from __future__ import annotations

import functools
import types
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata

from orchestrator.errors import SkillDefinitionError
from skills.skill import Skill

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginWarning",
    "RegisteredSkill",
    "SkillRegistry",
    "discover_plugins",
]

ENTRY_POINT_GROUP = "orchestrator.skills"


@dataclass(frozen=True, kw_only=True, slots=True)
class RegisteredSkill:
    """A skill and where it came from."""

    skill: Skill
    """The skill itself."""
    source: str
    """``builtin``, ``plugin:<distribution>`` or the file/module that defined it."""


def _skills_in(obj: object, where: str) -> list[Skill]:
    if isinstance(obj, Skill):
        return [obj]
    if isinstance(obj, types.ModuleType):
        return [v for v in vars(obj).values() if isinstance(v, Skill)]
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        items = list(obj)
        if all(isinstance(i, Skill) for i in items):
            return items
    raise SkillDefinitionError(
        f"{where} points at {type(obj).__name__}, not at a Skill, a list of Skills or a "
        "module of Skills; decorate the function with @skill"
    )


class PluginWarning(UserWarning):
    """A third-party skill plugin (or one of its skills) was skipped; the message says why
    and how to fix it."""


@functools.cache
def discover_plugins() -> tuple[RegisteredSkill, ...]:
    """Skills from installed distributions' ``orchestrator.skills`` entry points, in order
    of distribution and entry-point name; broken entry points and clashing names are
    skipped with a ``PluginWarning``."""
    found: dict[str, RegisteredSkill] = {}
    points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    for ep in sorted(points, key=lambda e: (e.dist.name if e.dist else "", e.name)):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        where = f"entry point {ep.name!r} ({ep.value}) of {dist}"
        try:
            skills = _skills_in(ep.load(), where)
        except SkillDefinitionError as exc:
            warnings.warn(f"skipped {exc}", PluginWarning, stacklevel=2)
            continue
        except Exception as exc:  # a plugin's own import error must not stop the others
            warnings.warn(
                f"skipped {where}: it failed to load ({type(exc).__name__}: {exc}); fix or "
                f"uninstall {dist}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        for s in skills:
            known = found.get(s.name)
            if known is not None and known.skill is not s:
                warnings.warn(
                    f"skipped skill {s.name!r} of {where}: {known.source} already has a skill "
                    f"of that name; uninstall one of them, or rename the skill in its package",
                    PluginWarning,
                    stacklevel=2,
                )
                continue
            found[s.name] = RegisteredSkill(skill=s, source=f"plugin:{dist}")
    return tuple(found.values())


class SkillRegistry:
    """Skills by unique name. Duplicate names are refused, naming both sources."""

    def __init__(self, entries: Iterable[RegisteredSkill] = ()) -> None:
        self._by_name: dict[str, RegisteredSkill] = {}
        for entry in entries:
            self.add(entry.skill, source=entry.source)

    def add(self, skill: Skill, *, source: str) -> None:
        """Register ``skill``; the same object twice is a no-op, another with its name is not."""
        known = self._by_name.get(skill.name)
        if known is not None:
            if known.skill is skill:
                return
            raise SkillDefinitionError(
                f"two skills are named {skill.name!r} (from {known.source} and {source}); "
                "rename one with @skill(name=...)"
            )
        self._by_name[skill.name] = RegisteredSkill(skill=skill, source=source)

    def get(self, name: str) -> Skill:
        """The skill called ``name``; SkillDefinitionError listing known names otherwise."""
        try:
            return self._by_name[name].skill
        except KeyError:
            raise SkillDefinitionError(
                f"no skill named {name!r}; known skills: {sorted(self._by_name)}. Define it with "
                "@skill, or install the package that provides it"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[RegisteredSkill]:
        return iter(sorted(self._by_name.values(), key=lambda e: e.skill.name))

    def __len__(self) -> int:
        return len(self._by_name)
