"""Model profiles: what a model costs, what it can do and how to reach it (configuration)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ModelProfile"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelProfile:
    """One entry of the model pool."""

    name: str
    """Pool name that roles refer to (e.g. ``mini``)."""
    backend: str = "offline"
    """``offline`` (built-in deterministic model), ``litellm`` (any litellm model string),
    ``replay`` (recorded outcomes of a real model), ``local`` (a Qwen2.5-Coder GGUF model on
    the CPU through the prebuilt ``xllamacpp``, an optional extra), or ``custom`` (an
    adapter object)."""
    model: str = ""
    """The litellm model string (e.g. ``openai/gpt-4o-mini``), or the recorded model's name
    for ``replay``; unused offline."""
    api_base: str | None = None
    """Endpoint for OpenAI-compatible or self-hosted servers."""
    api_key_env: str | None = None
    """Environment variable that holds the API key, if the provider needs one."""
    input_price: float | None = None
    """USD per million input tokens (None: not given; a call then counts as $0)."""
    output_price: float | None = None
    """USD per million output tokens (None: not given; a call then counts as $0)."""
    context_window: int = 8192
    """Maximum prompt tokens."""
    capabilities: Mapping[str, float] = field(default_factory=dict)
    """Capability scores in [0, 1], e.g. ``{"reasoning": 0.8, "code": 0.6}``."""
    latency_ms: float = 0.0
    """Expected latency of one call."""
    quality: float = 0.7
    """Offline backend only: how often its answers are grounded in the facts (0..1)."""
    timeout_s: float = 60.0
    """Per-call timeout for remote backends."""
    data: str | None = None
    """For ``replay``: the routing-set folder whose recorded outcomes the model replays;
    for ``local``: ``qwen2.5-coder-1.5b`` (the default), ``qwen2.5-coder-0.5b``, or a path
    to a ``.gguf`` file."""
    adapter: Any = None
    """For ``custom``: the ModelAdapter object that answers."""

    @property
    def price_unknown(self) -> bool:
        """Whether what a call costs is unknown: a remote (litellm) or custom model whose
        pool entry gives no price. (Offline and local models cost what their prices say,
        $0 without; a replayed model costs what was recorded.)"""
        unpriced = self.input_price is None or self.output_price is None
        return unpriced and self.backend in ("litellm", "custom")

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for one call with these token counts (a price not given counts as 0)."""
        return (
            input_tokens * (self.input_price or 0.0) + output_tokens * (self.output_price or 0.0)
        ) / 1e6
