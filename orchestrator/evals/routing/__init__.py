"""``orch eval routing``: recorded model outcomes replayed through every routing policy.

``simulation`` (one seed: the policies learn on part of the queries and are scored on the
rest), ``frontier`` (cost-quality frontiers read as curves), ``report`` (the seeds over
worker processes, the report), ``plot`` (the frontiers as a PNG).
"""

from orchestrator.evals.routing.plot import can_plot, plot_frontiers
from orchestrator.evals.routing.report import RoutingReport, evaluate_routing
from orchestrator.evals.routing.simulation import LAMBDAS, ONLINE, POLICIES

__all__ = [
    "LAMBDAS",
    "ONLINE",
    "POLICIES",
    "RoutingReport",
    "can_plot",
    "evaluate_routing",
    "plot_frontiers",
]
