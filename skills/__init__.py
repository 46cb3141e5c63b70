"""Skills: typed tools with contracts, from ``@skill``, the built-ins, or installed plugins."""

import warnings

from orchestrator.errors import (
    PostconditionFailed,
    PreconditionFailed,
    SkillDefinitionError,
    ToolRateLimited,
    ToolTimeout,
)
from skills.builtin import BUILTIN_SKILLS
from skills.registry import (
    ENTRY_POINT_GROUP,
    PluginWarning,
    RegisteredSkill,
    SkillRegistry,
    discover_plugins,
)
from skills.skill import Skill, idempotency_key, skill

__all__ = [
    "BUILTIN_SKILLS",
    "ENTRY_POINT_GROUP",
    "PluginWarning",
    "PostconditionFailed",
    "PreconditionFailed",
    "RegisteredSkill",
    "Skill",
    "SkillDefinitionError",
    "SkillRegistry",
    "ToolRateLimited",
    "ToolTimeout",
    "default_registry",
    "discover_plugins",
    "idempotency_key",
    "skill",
]


def default_registry() -> SkillRegistry:
    """Built-in skills plus every installed plugin's skills (a plugin skill named like a
    built-in is skipped, with a ``PluginWarning``)."""
    registry = SkillRegistry(RegisteredSkill(skill=s, source="builtin") for s in BUILTIN_SKILLS)
    for entry in discover_plugins():
        if entry.skill.name in registry:
            warnings.warn(
                f"skipped skill {entry.skill.name!r} of {entry.source}: a built-in skill has "
                "that name; rename the skill in its package",
                PluginWarning,
                stacklevel=2,
            )
            continue
        registry.add(entry.skill, source=entry.source)
    return registry
