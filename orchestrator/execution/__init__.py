"""One run: the only package that imports LangGraph.

``runtime`` (the ``Runtime`` facade), ``graph`` (the pipeline compiled to a LangGraph
StateGraph, streamed and checkpointed), ``records`` (the typed records of the run state),
``run`` (the run's context, a visit's state, the result), ``visit`` (a stage visit as
named steps), ``dispatcher``, ``toolrunner``, ``escalation``, ``modelcall`` and
``breaker``, ``rolememory``, ``team`` (a team stage's visit), ``judges`` and ``outcome``
(the end of a run).
"""

from orchestrator.execution.graph import Checkpointer, sqlite_checkpointer
from orchestrator.execution.judges import GroundedJudge, SectionJudge
from orchestrator.execution.records import (
    RequestRecord,
    StageRecord,
    facts_of,
    request_of,
    trail_of,
)
from orchestrator.execution.run import RunResult, StageDone
from orchestrator.execution.runtime import Runtime

__all__ = [
    "Checkpointer",
    "GroundedJudge",
    "RequestRecord",
    "RunResult",
    "Runtime",
    "SectionJudge",
    "StageDone",
    "StageRecord",
    "facts_of",
    "request_of",
    "sqlite_checkpointer",
    "trail_of",
]
