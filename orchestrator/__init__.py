"""A learning multi-agent orchestration runtime.

Public API (imported lazily, so that ``import orchestrator.errors`` stays cheap)::

    from orchestrator import Pipeline, Stage, Role, Intent, Runtime
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    "Stage",
    "StageDone",
    "StageView",
    "skill",
]

_WHERE = {
    "Compound": "orchestrator.compound.ladder",
    "Member": "orchestrator.compound.ladder",
    "Intent": "orchestrator.definition.pipeline",
    "Pipeline": "orchestrator.definition.pipeline",
    "Stage": "orchestrator.definition.pipeline",
    "StageView": "orchestrator.definition.pipeline",
    "Runtime": "orchestrator.execution.runtime",
    "RunResult": "orchestrator.execution.runtime",
    "StageDone": "orchestrator.execution.run",
    "Role": "agents",
    "ModelPool": "agents",
    "ModelProfile": "agents",
    "ScriptedModel": "agents",
    "skill": "skills",
}

if TYPE_CHECKING:
    from agents import ModelPool, ModelProfile, Role, ScriptedModel
    from orchestrator.compound.ladder import Compound, Member
    from orchestrator.definition.pipeline import Intent, Pipeline, Stage, StageView
    from orchestrator.execution.run import StageDone
    from orchestrator.execution.runtime import RunResult, Runtime
    from skills import skill


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
