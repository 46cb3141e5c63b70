"""The JSONL run-file tracer: an OpenTelemetry API TracerProvider that records spans as
plain objects and writes one JSONL file per run.

Why not the SDK here: an SDK span does attribute validation under a lock, span processors,
resource and sampler plumbing, and a run opens two per stage; for the local trace files
the CLI writes by default that costs more than the whole control plane (docs/benchmarks.md
has the figures). These spans implement the API's ``Span`` (so ``trace.use_span``,
context propagation and any code written against the API work) and keep exactly what
the file needs. For the SDK's processors and exporters use ``--trace otlp`` or
``console``, or pass your own SDK provider to ``Runtime``.

File format (unchanged from the SDK-based writer): one span per line, the run's root span
first, each ``{name, trace_id, span_id, parent_id, start_ns, end_ns, status,
status_message, attributes, events: [{name, time_ns, attributes}]}``.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from orchestrator.tracing.spans import ATTR, DECISION_EVENT, decision_attributes
from orchestrator.types import Decision

__all__ = ["RunFileTracerProvider"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class _RunSpan(trace.Span):
    """A span that keeps its data for the run file; see the module docstring."""

    __slots__ = (
        "_ctx",
        "_sink",
        "attributes",
        "end_ns",
        "events",
        "name",
        "parent_id",
        "span_id",
        "start_ns",
        "status",
        "status_message",
        "trace_id",
    )

    def __init__(
        self,
        sink: _RunFileSink,
        name: str,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        attributes: Mapping[str, Any] | None,
        start_ns: int,
    ) -> None:
        self._sink = sink
        self.trace_id = trace_id
        self.span_id = span_id
        self._ctx: SpanContext | None = None  # built when asked for: most never are
        self.name = name
        self.parent_id = parent_id
        self.attributes: dict[str, Any] = dict(attributes) if attributes else {}
        self.events: list[tuple[str, int, dict[str, Any] | Decision]] = []
        self.start_ns = start_ns
        self.end_ns: int | None = None
        self.status = "UNSET"
        self.status_message: str | None = None

    def get_span_context(self) -> SpanContext:
        if self._ctx is None:
            self._ctx = SpanContext(self.trace_id, self.span_id, False, _SAMPLED)
        return self._ctx

    def is_recording(self) -> bool:
        return self.end_ns is None

    def set_attribute(self, key: str, value: Any) -> None:
        if self.end_ns is None:
            self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if self.end_ns is None:
            self.attributes.update(attributes)

    def add_event(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
    ) -> None:
        if self.end_ns is None:
            self.events.append((name, timestamp or time.time_ns(), dict(attributes or {})))

    def add_decision(self, decision: Decision) -> None:
        """An ``orchestrator.decision`` event whose attributes are built when the file is
        written, in one pass at the end of the run, not between the run's steps."""
        if self.end_ns is None:
            self.events.append((DECISION_EVENT, time.time_ns(), decision))

    def add_link(self, context: SpanContext, attributes: Mapping[str, Any] | None = None) -> None:
        """Links are not kept in run files."""

    def update_name(self, name: str) -> None:
        if self.end_ns is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self.end_ns is not None:
            return
        if isinstance(status, Status):
            code, description = status.status_code, status.description
        else:
            code = status
        if self.status == "OK" and code is StatusCode.ERROR:
            return  # as in the SDK, OK is final
        self.status = code.name
        self.status_message = description if code is StatusCode.ERROR else None

    def record_exception(
        self,
        exception: BaseException,
        attributes: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self.add_event(
            "exception",
            {
                "exception.type": type(exception).__name__,
                "exception.message": str(exception),
                **(attributes or {}),
            },
            timestamp,
        )

    def end(self, end_time: int | None = None) -> None:
        if self.end_ns is None:
            self.end_ns = end_time or time.time_ns()
            self._sink.finished(self)

    def to_dict(self, trace_hex: str, hex_ids: Mapping[int, str]) -> dict[str, Any]:
        """The span's line in the run file; ``trace_hex`` is its trace id in hex (the
        same for every span of a run file), ``hex_ids`` the run's span ids in hex."""
        parent = self.parent_id
        return {
            "name": self.name,
            "trace_id": trace_hex,
            "span_id": hex_ids[self.span_id],
            "parent_id": None if parent is None else hex_ids.get(parent) or f"{parent:016x}",
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "status": self.status,
            "status_message": self.status_message,
            "attributes": self.attributes,
            "events": [
                {
                    "name": n,
                    "time_ns": t,
                    "attributes": a if isinstance(a, dict) else decision_attributes(a),
                }
                for n, t, a in self.events
            ],
        }


class _RunFileTracer(trace.Tracer):
    def __init__(self, sink: _RunFileSink) -> None:
        self._sink = sink

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        parent = trace.get_current_span(context).get_span_context()
        rand = random.getrandbits
        if parent.is_valid:
            trace_id, parent_id = parent.trace_id, parent.span_id
        else:
            trace_id, parent_id = rand(128) or 1, None
        return _RunSpan(
            self._sink,
            name,
            trace_id,
            rand(64) or 1,
            parent_id,
            attributes,
            start_time or time.time_ns(),
        )

    def start_child(
        self, parent: trace.Span, name: str, attributes: dict[str, Any] | None
    ) -> trace.Span:
        """A span under ``parent``, without building a ``Context`` to carry it (the
        runtime's own spans: it holds its parents). Takes ``attributes`` over."""
        if type(parent) is _RunSpan:
            trace_id, parent_id = parent.trace_id, parent.span_id
        else:
            p = parent.get_span_context()
            trace_id, parent_id = p.trace_id, p.span_id
        span = _RunSpan(
            self._sink, name, trace_id, random.getrandbits(64) or 1, parent_id, None, time.time_ns()
        )
        if attributes:
            span.attributes = attributes
        return span

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


class _RunFileSink:
    """Buffers each trace's finished spans; when a run's root span ends, serialises them and
    writes the run's file before ``end()`` returns (a run's trace is on disk when the run
    returns: nothing to flush, nothing lost if the process stops right after)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._dir = os.fspath(directory)
        self._pending: dict[int, list[_RunSpan]] = {}
        self._lock = threading.Lock()
        self._made = False

    def finished(self, span: _RunSpan) -> None:
        trace_id = span.trace_id
        with self._lock:
            if span.parent_id is not None:
                self._pending.setdefault(trace_id, []).append(span)
                return
            children = self._pending.pop(trace_id, [])
        self._write([span, *children])

    def _write(self, spans: list[_RunSpan]) -> None:
        root = spans[0]
        run_id = str(root.attributes.get(ATTR.RUN_ID) or f"{root.trace_id:032x}"[:12])
        try:
            dumps, line = orjson.dumps, orjson.OPT_APPEND_NEWLINE
            trace_hex = f"{root.trace_id:032x}"  # one trace per file
            ids = {s.span_id: f"{s.span_id:016x}" for s in spans}
            lines = [dumps(s.to_dict(trace_hex, ids), default=str, option=line) for s in spans]
            data = b"".join(lines)
        except (TypeError, ValueError, orjson.JSONEncodeError) as exc:
            warnings.warn(f"could not write trace of run {run_id}: {exc}", stacklevel=1)
            return
        # plain os calls on str paths: pathlib and buffered io cost more than the write
        tmp = f"{self._dir}/.{run_id}.{threading.get_ident()}.jsonl.tmp"
        try:
            if not self._made:
                os.makedirs(self._dir, exist_ok=True)
                self._made = True
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, f"{self._dir}/{run_id}.jsonl")  # never half a file
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            warnings.warn(f"could not write trace of run {run_id}: {exc}", stacklevel=1)

    def shutdown(self) -> None:
        with self._lock:
            self._pending.clear()


class RunFileTracerProvider(trace.TracerProvider):
    """Spans through the OpenTelemetry API, one JSONL file per run under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self._sink = _RunFileSink(directory)
        self._tracer = _RunFileTracer(self._sink)

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> trace.Tracer:
        return self._tracer

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing to wait for: a run's file is written when its root span ends."""
        return True

    def shutdown(self) -> None:
        """Drop spans of runs that never ended (they have no file to go to)."""
        self._sink.shutdown()
