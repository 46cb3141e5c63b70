"""A learning multi-agent orchestration runtime.

Public API (imported lazily, so that ``import orchestrator.errors`` stays cheap)::

    from orchestrator import Pipeline, Stage, Role, Intent, Runtime
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator._lazy import lazy_exports

__all__ = [
    "Compound",
    "Intent",
    "Member",
    "ModelPool",
    "ModelProfile",
    "Pipeline",
    "Role",
    "RunResult",
    "Runtime",
    "ScriptedModel",
    "SpendCap",
    "Stage",
    "StageDone",
    "StageView",
    "skill",
]

_WHERE = {
    "Compound": "orchestrator.compound",
    "Member": "orchestrator.compound",
    "Intent": "orchestrator.definition",
    "Pipeline": "orchestrator.definition",
    "Stage": "orchestrator.definition",
    "SpendCap": "orchestrator.definition",
    "StageView": "orchestrator.definition",
    "Runtime": "orchestrator.execution",
    "RunResult": "orchestrator.execution",
    "StageDone": "orchestrator.execution",
    "Role": "agents",
    "ModelPool": "agents",
    "ModelProfile": "agents",
    "ScriptedModel": "agents",
    "skill": "skills",
}

if TYPE_CHECKING:
    from agents import ModelPool, ModelProfile, Role, ScriptedModel
    from orchestrator.compound import Compound, Member
    from orchestrator.definition import Intent, Pipeline, SpendCap, Stage, StageView
    from orchestrator.execution import RunResult, Runtime, StageDone
    from skills import skill

__getattr__ = lazy_exports(__name__, _WHERE)
