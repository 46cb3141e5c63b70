"""Decision traces: spans and decision events through the OpenTelemetry API, the JSONL run
files they are kept in, and the viewer that reads them back.

``spans`` (``RunTracer``: the runtime's spans and ``orchestrator.decision`` events),
``runfile`` (the light run-file tracer provider, one JSONL file per run), ``viewer``
(``orch trace list/show/prune``). The OpenTelemetry SDK set-up for console and OTLP export
is ``orchestrator.tracing.exporters``, imported only by the CLI (and by users who want it):
library code never loads the SDK.
"""

from orchestrator.tracing.runfile import RunFileTracerProvider
from orchestrator.tracing.spans import ATTR, DECISION_EVENT, RunTracer, decision_attributes
from orchestrator.tracing.viewer import list_runs, load_spans, render_run

__all__ = [
    "ATTR",
    "DECISION_EVENT",
    "RunFileTracerProvider",
    "RunTracer",
    "decision_attributes",
    "list_runs",
    "load_spans",
    "render_run",
]
