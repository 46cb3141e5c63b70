"""Agent roles and the model pool: profiles, adapters (offline, litellm, scripted), prompts."""

from agents.offline import OfflineModel
from agents.pool import ModelPool, default_pool
from agents.profile import ModelProfile
from agents.prompts import ParsedReply, SkillCall, build_messages, parse_reply
from agents.role import Role
from agents.scripted import ScriptedModel

__all__ = [
    "ModelPool",
    "ModelProfile",
    "OfflineModel",
    "ParsedReply",
    "Role",
    "ScriptedModel",
    "SkillCall",
    "build_messages",
    "default_pool",
    "parse_reply",
]
