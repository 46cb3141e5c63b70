"""What users write, validated when it is defined: intents, goal stages, the pipeline.

``values`` (``Intent``, ``Stage``, ``StageView``), ``pipeline`` (``Pipeline``: the whole
definition checked together), ``resolve`` (its skills, permissions and tool graphs,
computed from it), ``automaton`` (the goal-stage finite automaton), ``loader`` (a
pipeline file run as a module).
"""

from orchestrator.definition.automaton import StageMachine
from orchestrator.definition.loader import load_module, load_pipeline
from orchestrator.definition.pipeline import Pipeline
from orchestrator.definition.resolve import StageRole, ToolGraphs
from orchestrator.definition.values import Intent, SpendCap, Stage, StageView

__all__ = [
    "Intent",
    "Pipeline",
    "SpendCap",
    "Stage",
    "StageMachine",
    "StageRole",
    "StageView",
    "ToolGraphs",
    "load_module",
    "load_pipeline",
]
