"""Who works on a stage, with which model: learned from each run's outcome.

``intent`` (the lexical intent router), ``features`` (the context vector), ``linucb``
(the contextual bandit), ``pheromone`` (per-intent tables), ``capability`` and ``budget``
(the requirements and spending a model must fit), ``eligibility`` (one step applying
every hard constraint), ``policy`` (the bandit plus pheromone over the eligible arms, and
credit), ``prescore`` (a run's first visits chosen when it starts), ``learner`` (credit
applied off the decision path), ``policystore`` (the state on disk, updated under a lock)
and ``warmstart`` (credit from recorded outcomes).
"""

from orchestrator.routing.budget import Budget
from orchestrator.routing.eligibility import Eligibility, Exclusion
from orchestrator.routing.features import DIM, FeatureBuilder
from orchestrator.routing.intent import IntentResult, IntentRouter
from orchestrator.routing.linucb import ALPHA, LinUCB
from orchestrator.routing.pheromone import PheromoneTable
from orchestrator.routing.policy import PHEROMONE_WEIGHT, Assignment, AssignmentPolicy, arm_scores
from orchestrator.routing.policystore import PolicyStore
from orchestrator.routing.prescore import FirstVisit
from orchestrator.routing.warmstart import WarmStart

__all__ = [
    "ALPHA",
    "DIM",
    "PHEROMONE_WEIGHT",
    "Assignment",
    "AssignmentPolicy",
    "Budget",
    "Eligibility",
    "Exclusion",
    "FeatureBuilder",
    "FirstVisit",
    "IntentResult",
    "IntentRouter",
    "LinUCB",
    "PheromoneTable",
    "PolicyStore",
    "WarmStart",
    "arm_scores",
]
