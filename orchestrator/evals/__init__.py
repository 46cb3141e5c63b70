"""Everything behind ``orch eval ...``: the runtime's mechanisms measured offline on
recorded data, against baselines. Imported only by the CLI and tests.

``routing`` (recorded model outcomes replayed through every routing policy),
``selfheal`` and ``selfheal_scenarios`` (broken tool graphs and model endpoints under
ours, a ReAct loop and a static workflow), ``memory`` (evidence recall of the memory
tiers on long conversations), ``compound`` (team pipelines as hand-written LangGraph, fine
and merged). Each is imported when its name is first read: ``orch eval memory`` does not
load LangGraph.
"""

from typing import TYPE_CHECKING

from orchestrator._lazy import lazy_exports

__all__ = [
    "CompoundReport",
    "MemoryReport",
    "RoutingReport",
    "SelfhealReport",
    "evaluate_compound",
    "evaluate_memory",
    "evaluate_routing",
    "evaluate_selfheal",
]

_WHERE = {
    "CompoundReport": "orchestrator.evals.compound",
    "evaluate_compound": "orchestrator.evals.compound",
    "MemoryReport": "orchestrator.evals.memory",
    "evaluate_memory": "orchestrator.evals.memory",
    "RoutingReport": "orchestrator.evals.routing",
    "evaluate_routing": "orchestrator.evals.routing",
    "SelfhealReport": "orchestrator.evals.selfheal",
    "evaluate_selfheal": "orchestrator.evals.selfheal",
}

if TYPE_CHECKING:
    from orchestrator.evals.compound import CompoundReport, evaluate_compound
    from orchestrator.evals.memory import MemoryReport, evaluate_memory
    from orchestrator.evals.routing import RoutingReport, evaluate_routing
    from orchestrator.evals.selfheal import SelfhealReport, evaluate_selfheal

__getattr__ = lazy_exports(__name__, _WHERE)
