"""Tracing set-up for the CLI: JSONL run files (default), console, or OTLP.

JSONL writes one file per run, ``<data>/traces/<run_id>.jsonl``, one span per line with
the workflow (root) span first, so listing runs reads one line per file; it is the light
run-file tracer of ``orchestrator.runfile``. Console and OTLP use the OpenTelemetry SDK.
Library code never imports this module; it only uses the OTel API (``tracing``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from orchestrator.errors import InputError
from orchestrator.tracing.runfile import RunFileTracerProvider

__all__ = [
    "CountingExporter",
    "OtlpTracerProvider",
    "TraceMode",
    "check_collector",
    "lost_spans",
    "make_provider",
]

TraceMode = Literal["jsonl", "console", "otlp", "off"]


def _resource() -> Resource:
    return Resource.create({"service.name": "orchestrator"})  # built only when used


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
    if mode == "console":
        provider = TracerProvider(resource=_resource())
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        return provider
    if mode == "otlp":
        endpoint = otlp_endpoint or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://localhost:4318/v1/traces"
        )
        check_collector(endpoint)
        return OtlpTracerProvider(endpoint)
    raise InputError(f"unknown trace mode {mode!r}; use jsonl, console, otlp or off")


class OtlpTracerProvider(TracerProvider):
    """The SDK's provider, batching spans to an OTLP/HTTP collector at ``endpoint``;
    ``exporter.failed`` counts the spans the collector did not take."""

    def __init__(self, endpoint: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        super().__init__(resource=_resource())
        self.exporter = CountingExporter(OTLPSpanExporter(endpoint=endpoint))
        self.add_span_processor(BatchSpanProcessor(self.exporter))


def check_collector(endpoint: str, timeout_s: float = 2.0) -> None:
    """InputError unless ``endpoint`` is an http(s) URL whose host accepts connections:
    a run must not find out at its end, after the exporter's retries, that its spans had
    nowhere to go."""
    url = urlsplit(endpoint)
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        port = -1
    if url.scheme not in ("http", "https") or not url.hostname or port < 0:
        raise InputError(
            f"OTLP endpoint {endpoint!r} is not an http(s) URL; write it as "
            "http://HOST:PORT/v1/traces (e.g. http://localhost:4318/v1/traces)"
        )
    try:
        socket.create_connection((url.hostname, port), timeout=timeout_s).close()
    except OSError as exc:
        raise InputError(
            f"no OTLP collector answers at {endpoint} ({exc.strerror or exc}); start one, "
            "point --otlp-endpoint ($OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) at it, or use "
            "--trace jsonl"
        ) from None


class CountingExporter(SpanExporter):
    """Delegates to ``inner`` and counts the spans whose export failed."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def lost_spans(provider: trace.TracerProvider | None) -> int:
    """Spans an OTLP provider from ``make_provider`` failed to export (call after its
    ``shutdown``); 0 for every other provider."""
    return provider.exporter.failed if isinstance(provider, OtlpTracerProvider) else 0
