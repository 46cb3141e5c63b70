"""Compound execution: a stage's team of agents in fewer LLM calls, when quality allows.

``team`` (the members' DAG), ``ladder`` (the modes from one merged call to one call per
member, and running a team in one of them), ``gate`` (the rolling-mean quality gate that
picks each group's mode, under the pipeline's ``Compound`` settings).
"""

from orchestrator.compound.gate import Choice, Compound, QualityGate
from orchestrator.compound.ladder import (
    LADDER,
    GroupOutput,
    TeamOutcome,
    chunks,
    estimate_input_tokens,
    run_team,
)
from orchestrator.compound.team import Member, Team

__all__ = [
    "LADDER",
    "Choice",
    "Compound",
    "GroupOutput",
    "Member",
    "QualityGate",
    "Team",
    "TeamOutcome",
    "chunks",
    "estimate_input_tokens",
    "run_team",
]
