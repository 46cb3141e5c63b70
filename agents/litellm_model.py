"""Remote models through litellm: the only module that imports litellm, and only when called."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from agents.profile import ModelProfile
from orchestrator.errors import ModelCallError, ModelUnavailable
from orchestrator.protocols import CALL_KEY
from orchestrator.types import Message, ModelReply, estimate_tokens

__all__ = ["LiteLLMEmbedder", "LiteLLMModel", "fault_kind", "unknown_model"]

_import_lock = threading.Lock()


def _litellm() -> Any:
    # Without this litellm fetches a price map over the network at import time.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with _import_lock:
        import litellm

        litellm.suppress_debug_info = True  # no provider banners on stdout
    return litellm


def unknown_model(model: str) -> str | None:
    """Why litellm cannot route ``model`` (no known provider), or None if it can."""
    litellm = _litellm()
    try:
        litellm.get_llm_provider(model)
    except Exception as exc:
        return str(exc).split("\n", 1)[0]
    return None


_NO_KEY = ("Missing credentials", "api_key client option must be set")
"""What the OpenAI client says when no API key is configured (new, older versions)."""


def fault_kind(exc: BaseException) -> str | None:
    """The endpoint-fault kind of a litellm/openai exception, or None for a caller's mistake
    (bad request, authentication) that another try would repeat."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    text = str(exc)
    # litellm reports the OpenAI client's missing key as a 500 (other providers' as a 401):
    # a caller's mistake, not an endpoint fault
    if any(k in text for k in _NO_KEY):
        return None
    # litellm reports a 200 whose body it cannot read as a 500; its message tells them apart
    if any(k in text for k in ("[200 OK]", "provider returned", "Expecting value")):
        return "malformed"
    if "Timeout" in name or isinstance(exc, TimeoutError) or status in (408, 504):
        return "timeout"
    if "RateLimit" in name or status == 429:
        return "rate_limit"
    if isinstance(status, int) and status >= 500:
        return "http_5xx"
    if any(k in name for k in ("InternalServer", "ServiceUnavailable", "BadGateway")):
        return "http_5xx"
    if "Connection" in name or isinstance(exc, ConnectionError):
        return "connection"
    return None


class LiteLLMModel:
    """Calls any litellm model string (OpenAI, Anthropic, Ollama, vLLM, OpenAI-compatible)."""

    def __init__(self, profile: ModelProfile) -> None:
        self.name = profile.name
        self.profile = profile

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 512) -> ModelReply:
        """One chat completion; any failure becomes ModelCallError naming the model."""
        p = self.profile
        kwargs: dict[str, Any] = {
            "model": p.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "timeout": p.timeout_s,
            "num_retries": 0,
        }
        if p.api_base:
            kwargs["api_base"] = p.api_base
        if p.api_key_env:
            key = os.environ.get(p.api_key_env)
            if not key:
                raise ModelCallError(
                    f"model {p.name!r} ({p.model}) needs an API key in ${p.api_key_env}, "
                    "which is not set"
                )
            kwargs["api_key"] = key
        elif p.api_base:
            kwargs["api_key"] = "not-needed"  # OpenAI-compatible servers often ignore it
        key = CALL_KEY.get()
        if key:  # a retried call carries the key of the first try
            kwargs["extra_headers"] = {"Idempotency-Key": key}
        try:
            response = _litellm().completion(**kwargs)
        except Exception as exc:
            message = f"model {p.name!r} ({p.model}) failed: {type(exc).__name__}: {exc}"
            kind = fault_kind(exc)
            if kind is None:
                raise ModelCallError(message) from exc
            raise ModelUnavailable(message, kind=kind) from exc
        try:
            text = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            text = None
        if not isinstance(text, str):
            raise ModelUnavailable(
                f"model {p.name!r} ({p.model}) returned a malformed response (no text content)",
                kind="malformed",
            )
        usage = getattr(response, "usage", None)
        in_tok = getattr(usage, "prompt_tokens", None) or sum(
            estimate_tokens(m.content) for m in messages
        )
        out_tok = getattr(usage, "completion_tokens", None) or estimate_tokens(text)
        return ModelReply(
            text=text,
            model=p.name,
            input_tokens=int(in_tok),
            output_tokens=int(out_tok),
            cost_usd=p.cost(int(in_tok), int(out_tok)),
            provider=p.model.split("/", 1)[0] if "/" in p.model else "litellm",
        )


class LiteLLMEmbedder:
    """Any litellm embedding model (``openai/text-embedding-3-small``, an OpenAI-compatible
    server with ``api_base``) as an Embedder for semantic memory."""

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key_env: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text; ModelUnavailable/ModelCallError when the call fails."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "input": list(texts),
            "timeout": self.timeout_s,
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
            kwargs["api_key"] = "not-needed"
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise ModelCallError(
                    f"embedding model {self.model} needs an API key in ${self.api_key_env}"
                )
            kwargs["api_key"] = key
        try:
            response = _litellm().embedding(**kwargs)
            vectors = [list(map(float, d["embedding"])) for d in response.data]
        except Exception as exc:
            message = f"embedding model {self.model} failed: {type(exc).__name__}: {exc}"
            kind = fault_kind(exc)
            if kind is None:
                raise ModelCallError(message) from exc
            raise ModelUnavailable(message, kind=kind) from exc
        if len(vectors) != len(texts):
            raise ModelUnavailable(
                f"embedding model {self.model} returned {len(vectors)} vectors for "
                f"{len(texts)} texts",
                kind="malformed",
            )
        return vectors
