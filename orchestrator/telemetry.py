"""OpenTelemetry SDK set-up for the CLI: JSONL files (default), console, or OTLP.

The JSONL exporter writes one file per run, ``<data>/traces/<run_id>.jsonl``, one span per
line with the workflow (root) span first, so listing runs reads one line per file.
Library code never imports this module; it only uses the OTel API (``tracing``).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import warnings
from pathlib import Path
from typing import Any, Literal

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)

from orchestrator.errors import InputError
from orchestrator.tracing import ATTR

__all__ = ["JsonlRunProcessor", "TraceMode", "make_provider", "span_to_dict"]

TraceMode = Literal["jsonl", "console", "otlp", "off"]


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """A JSON-ready form of a finished span."""
    ctx = span.get_span_context()
    assert ctx is not None  # finished SDK spans always carry a context
    return {
        "name": span.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "status_message": span.status.description,
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in span.events
        ],
    }


class JsonlRunProcessor(SpanProcessor):
    """Buffers a run's spans and writes them to one JSONL file when its root span ends.

    A span processor rather than an exporter behind SimpleSpanProcessor: spans are only
    appended to a list while the run goes on and serialised once, at the run's end. The
    file is written by a background thread (file creation is slow on some file systems and
    releases the GIL); ``force_flush`` and ``shutdown`` wait until every file is written.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pending: dict[int, list[ReadableSpan]] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._writer: threading.Thread | None = None

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Buffer ``span``; serialise its trace when it is the root."""
        ctx = span.get_span_context()
        if ctx is None:
            return
        with self._lock:
            if span.parent is not None:
                self._pending.setdefault(ctx.trace_id, []).append(span)
                return
            children = self._pending.pop(ctx.trace_id, [])
        run_id = str((span.attributes or {}).get(ATTR.RUN_ID) or f"{ctx.trace_id:032x}"[:12])
        text = "\n".join(
            json.dumps(span_to_dict(s), separators=(",", ":"), default=str)
            for s in [span, *children]
        )
        if self._writer is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._writer = threading.Thread(target=self._write_loop, daemon=True)
            self._writer.start()
        self._queue.put((run_id, text + "\n"))

    def _write_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            run_id, text = item
            try:
                tmp = self.directory / f".{run_id}.jsonl.tmp"
                tmp.write_text(text, "utf-8")
                os.replace(tmp, self.directory / f"{run_id}.jsonl")  # never half a file
            except OSError as exc:
                warnings.warn(f"could not write trace of run {run_id}: {exc}", stacklevel=1)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait until every finished run's file is written."""
        if self._writer is not None:
            self._queue.join()
        return True

    def shutdown(self) -> None:
        """Write what is queued, stop the writer, drop spans of runs that never finished."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        with self._lock:
            self._pending.clear()


def make_provider(
    mode: TraceMode, *, trace_dir: Path, otlp_endpoint: str | None = None
) -> TracerProvider | None:
    """A TracerProvider exporting as ``mode``; None for ``off``."""
    if mode == "off":
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": "orchestrator"}))
    if mode == "jsonl":
        provider.add_span_processor(JsonlRunProcessor(trace_dir))
    elif mode == "console":
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
