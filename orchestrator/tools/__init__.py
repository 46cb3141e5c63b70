"""Tools: the cost-weighted tool graph a stage's skills form, and the health of each tool.

``toolgraph`` plans the cheapest chain of skills toward a goal (A*) and replans around a
failed tool; ``health`` turns runtime signals (failures, timeouts, rate limits, probes)
into the penalties that weigh the next plans.
"""

from orchestrator.tools.health import HealthMonitor, ToolHealth
from orchestrator.tools.toolgraph import Plan, Route, ToolGraph, ToolNode

__all__ = ["HealthMonitor", "Plan", "Route", "ToolGraph", "ToolHealth", "ToolNode"]
