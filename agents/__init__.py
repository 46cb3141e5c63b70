"""Agent roles and the model pool: profiles, adapters (offline, litellm, scripted), prompts."""

from agents.offline import OfflineModel
from agents.pool import ModelPool, default_pool
from agents.profile import ModelProfile
from agents.prompts import ParsedReply, SkillCall, build_messages, parse_reply
from agents.replay import ReplayModel, RoutingSet, load_routing_set
from agents.role import Role
from agents.scripted import ScriptedModel

__all__ = [
    "ModelPool",
    "ModelProfile",
    "OfflineModel",
    "ParsedReply",
    "ReplayModel",
    "Role",
    "RoutingSet",
    "ScriptedModel",
    "SkillCall",
    "build_messages",
    "default_pool",
    "load_routing_set",
    "parse_reply",
]
