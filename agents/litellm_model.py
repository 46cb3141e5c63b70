"""Remote models through litellm: the only module that imports litellm, and only when called."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from agents.profile import ModelProfile
from orchestrator.errors import ModelCallError, ModelUnavailable
from orchestrator.protocols import CALL_KEY
from orchestrator.redaction import redact, register_secret
from orchestrator.types import Message, ModelReply, estimate_tokens

__all__ = ["LiteLLMEmbedder", "LiteLLMModel", "fault_kind", "missing_credentials", "unknown_model"]

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


def missing_credentials(model: str) -> list[str]:
    """The API-key variables litellm says ``model``'s provider needs and the environment
    lacks (endpoint variables such as ``OLLAMA_API_BASE`` have defaults and do not count)."""
    found = _litellm().validate_environment(model=model)
    keys = found.get("missing_keys", []) if isinstance(found, dict) else []
    return [k for k in keys if k.endswith(("_API_KEY", "_TOKEN", "_KEY"))]


_NO_KEY = ("Missing credentials", "api_key client option must be set")
"""What the OpenAI client says when no API key is configured (new, older versions)."""


def _failure(what: str, exc: BaseException) -> ModelCallError:
    """The error to raise for a failed call: its text redacted (a provider may echo the
    key it refused), classified as an endpoint fault or a caller's mistake. Raised outside
    the ``except`` block, so the provider's exception (and its unredacted text) is not
    chained to it."""
    message = redact(f"{what} failed: {type(exc).__name__}: {exc}")
    kind = fault_kind(exc)
    return ModelCallError(message) if kind is None else ModelUnavailable(message, kind=kind)


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

    structured_output = True
    """``complete`` takes ``response_format`` (passed to the endpoint as OpenAI's)."""

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        response_format: dict[str, Any] | None = None,
    ) -> ModelReply:
        """One chat completion; any failure becomes ModelCallError naming the model."""
        p = self.profile
        kwargs: dict[str, Any] = {
            "model": p.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "timeout": p.timeout_s,
            "num_retries": 0,
        }
        if response_format is not None:  # schema-constrained decoding where it is served
            kwargs["response_format"] = response_format
        if p.api_base:
            kwargs["api_base"] = p.api_base
        if p.api_key_env:
            key = os.environ.get(p.api_key_env)
            if not key:
                raise ModelCallError(
                    f"model {p.name!r} ({p.model}) needs an API key in ${p.api_key_env}, "
                    "which is not set"
                )
            register_secret(key)
            kwargs["api_key"] = key
        elif p.api_base:
            kwargs["api_key"] = "not-needed"  # OpenAI-compatible servers often ignore it
        call_key = CALL_KEY.get()
        if call_key:  # a retried call carries the key of the first try
            kwargs["extra_headers"] = {"Idempotency-Key": call_key}
        failure = None
        try:
            response = _litellm().completion(**kwargs)
        except Exception as exc:
            failure = _failure(f"model {p.name!r} ({p.model})", exc)
        if failure is not None:
            raise failure
        try:
            text = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            text = None
        if not isinstance(text, str) or not text.strip():
            what = "no text content" if not isinstance(text, str) else "an empty answer"
            raise ModelUnavailable(
                f"model {p.name!r} ({p.model}) returned a malformed response ({what})",
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
            register_secret(key)
            kwargs["api_key"] = key
        failure = None
        try:
            response = _litellm().embedding(**kwargs)
            vectors = [list(map(float, d["embedding"])) for d in response.data]
        except Exception as exc:
            failure = _failure(f"embedding model {self.model}", exc)
        if failure is not None:
            raise failure
        if len(vectors) != len(texts):
            raise ModelUnavailable(
                f"embedding model {self.model} returned {len(vectors)} vectors for "
                f"{len(texts)} texts",
                kind="malformed",
            )
        return vectors
