"""Tracing set-up for the CLI: JSONL run files (default), console, or OTLP.

JSONL writes one file per run, ``<data>/traces/<run_id>.jsonl``, one span per line with
the workflow (root) span first, so listing runs reads one line per file; it is the light
run-file tracer of ``orchestrator.runfile``. Console and OTLP use the OpenTelemetry SDK.
Library code never imports this module; it only uses the OTel API (``tracing``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)

from orchestrator.errors import InputError
from orchestrator.runfile import RunFileTracerProvider

__all__ = ["TraceMode", "make_provider"]

TraceMode = Literal["jsonl", "console", "otlp", "off"]


def make_provider(
    mode: TraceMode, *, trace_dir: Path, otlp_endpoint: str | None = None
) -> trace.TracerProvider | None:
    """A TracerProvider exporting as ``mode``; None for ``off``.

    ``jsonl`` is the light run-file tracer (``orchestrator.runfile``); ``console`` and
    ``otlp`` are the OpenTelemetry SDK with its exporters.
    """
    if mode == "off":
        return None
    if mode == "jsonl":
        return RunFileTracerProvider(trace_dir)
    provider = TracerProvider(resource=Resource.create({"service.name": "orchestrator"}))
    if mode == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://localhost:4318/v1/traces"
        )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    else:
        raise InputError(f"unknown trace mode {mode!r}; use jsonl, console, otlp or off")
    return provider
