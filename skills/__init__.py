"""Skills: typed tools with contracts, from ``@skill``, the built-ins, or installed plugins."""

from orchestrator.errors import (
    PostconditionFailed,
    PreconditionFailed,
    SkillDefinitionError,
    ToolRateLimited,
    ToolTimeout,
)
from skills.builtin import BUILTIN_SKILLS
from skills.registry import ENTRY_POINT_GROUP, RegisteredSkill, SkillRegistry, discover_plugins
from skills.skill import Skill, skill

__all__ = [
    "BUILTIN_SKILLS",
    "ENTRY_POINT_GROUP",
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
    "skill",
]


def default_registry() -> SkillRegistry:
    """Built-in skills plus every installed plugin's skills."""
    registry = SkillRegistry(RegisteredSkill(skill=s, source="builtin") for s in BUILTIN_SKILLS)
    for entry in discover_plugins():
        registry.add(entry.skill, source=entry.source)
    return registry
