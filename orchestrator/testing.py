"""Helpers for testing pipelines: scripted model pools and in-memory span capture."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agents import ModelPool, ModelProfile, ScriptedModel
from orchestrator.tracing.spans import ATTR, DECISION_EVENT

__all__ = ["decision_events", "scripted_pool", "span_recorder"]


def scripted_pool(*models: ScriptedModel, prices: Sequence[float] = ()) -> ModelPool:
    """A pool whose entries answer from ``models`` (named after each model's ``name``).

    ``prices`` optionally gives USD per million tokens (input and output) per model.
    """
    profiles = []
    for i, m in enumerate(models):
        price = prices[i] if i < len(prices) else 0.0
        profiles.append(
            ModelProfile(
                name=m.name, backend="custom", adapter=m, input_price=price, output_price=price
            )
        )
    return ModelPool(profiles)


def span_recorder() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A tracer provider that keeps every finished span in memory, and its exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def decision_events(spans: Sequence[ReadableSpan], kind: str | None = None) -> list[dict[str, Any]]:
    """Attributes of every ``orchestrator.decision`` event (of ``kind``, if given)."""
    out = []
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        for event in span.events:
            attrs = dict(event.attributes or {})
            if event.name == DECISION_EVENT and (kind is None or attrs[ATTR.D_KIND] == kind):
                out.append(attrs)
    return out
