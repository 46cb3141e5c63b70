"""The model pool: named model profiles from configuration, and the adapters that call them.

Adding or removing a model is a configuration change. A pool file is TOML or JSON:

    [[models]]
    name = "mini"
    backend = "litellm"            # or "offline"
    model = "openai/gpt-4o-mini"   # any litellm model string
    input_price = 0.15             # USD per million tokens
    output_price = 0.60
    context_window = 128000
    capabilities = { reasoning = 0.6, code = 0.5 }
"""

from __future__ import annotations

import json
import os
import threading
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import pydantic

from agents.profile import ModelProfile
from orchestrator.errors import InputError, PoolConfigError
from orchestrator.protocols import ModelAdapter
from orchestrator.redaction import register_secret_env

__all__ = ["ModelPool", "default_pool"]


class _EntryFile(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    name: str = pydantic.Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")
    backend: Literal["offline", "litellm", "replay", "local"] = "offline"
    model: str = ""
    api_base: str | None = None
    api_key_env: str | None = None
    input_price: float | None = pydantic.Field(None, ge=0)
    output_price: float | None = pydantic.Field(None, ge=0)
    context_window: int = pydantic.Field(8192, gt=0)
    capabilities: dict[str, float] = {}
    latency_ms: float = pydantic.Field(0.0, ge=0)
    quality: float = pydantic.Field(0.7, ge=0, le=1)
    timeout_s: float = pydantic.Field(60.0, gt=0)
    data: str | None = None

    @pydantic.model_validator(mode="after")
    def _litellm_needs_model(self) -> _EntryFile:
        if self.backend == "litellm" and not self.model:
            raise ValueError(
                f"entry {self.name!r} uses backend 'litellm' but gives no `model` string "
                '(e.g. model = "openai/gpt-4o-mini")'
            )
        if self.backend == "replay" and not (self.model and self.data):
            raise ValueError(
                f"entry {self.name!r} uses backend 'replay' and needs `model` (the recorded "
                "model) and `data` (the routing-set folder)"
            )
        for cap, score in self.capabilities.items():
            if not 0 <= score <= 1:
                raise ValueError(f"capability {cap!r} of {self.name!r} is {score}; use 0..1")
        return self


class _PoolFile(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    models: list[_EntryFile] = pydantic.Field(min_length=1)


class ModelPool:
    """Model profiles by name, with one lazily built adapter per model."""

    def __init__(self, profiles: Iterable[ModelProfile]) -> None:
        self._profiles: dict[str, ModelProfile] = {}
        for p in profiles:
            if p.name in self._profiles:
                raise PoolConfigError(f"the pool defines model {p.name!r} twice; keep one entry")
            if p.backend == "custom" and p.adapter is None:
                raise PoolConfigError(f"pool model {p.name!r} is 'custom' but has no adapter")
            register_secret_env(p.api_key_env)  # its value never reaches an error text
            self._profiles[p.name] = p
        if not self._profiles:
            raise PoolConfigError("the model pool is empty; define at least one model")
        self._adapters: dict[str, ModelAdapter] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path) -> ModelPool:
        """Load a TOML or JSON pool file; errors name the file and the bad field."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"pool file {str(path)!r} does not exist")
        try:
            raw: Any = (
                json.loads(path.read_text("utf-8"))
                if path.suffix == ".json"
                else tomllib.loads(path.read_text("utf-8"))
            )
        except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PoolConfigError(
                f"pool file {str(path)!r} is not valid TOML/JSON: {exc}"
            ) from None
        try:
            parsed = _PoolFile.model_validate(raw)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise PoolConfigError(
                f"pool file {str(path)!r}: {where}: {first['msg']} "
                f"({exc.error_count()} problem(s) in all)"
            ) from None
        pool = cls(ModelProfile(**e.model_dump()) for e in parsed.models)
        pool.check_models(where=f"pool file {str(path)!r}")
        return pool

    def check_models(self, *, where: str = "the pool") -> None:
        """Refuse model names their backend does not know (litellm, replay)."""
        for p in self:
            if p.backend == "litellm":
                from agents.litellm_model import unknown_model

                why = unknown_model(p.model)
                if why:
                    raise PoolConfigError(
                        f"{where}: entry {p.name!r} names model {p.model!r}, which litellm "
                        f"cannot route ({why}); use a provider prefix, e.g. openai/gpt-4o-mini"
                    )
            elif p.backend == "replay":
                from agents.replay import cached_routing_set

                data = cached_routing_set(str(Path(p.data or "").resolve()))
                if p.model not in data.models:
                    raise PoolConfigError(
                        f"{where}: entry {p.name!r} replays model {p.model!r}, which routing "
                        f"set {data.name!r} did not record; it recorded {list(data.models)}"
                    )

    def check_keys(self, names: Iterable[str]) -> None:
        """PoolConfigError, before any call is made (and paid), naming every model among
        ``names`` whose API key is not set: the variable its entry names
        (``api_key_env``), or, for a provider model without ``api_base``, the one litellm
        says its provider reads."""
        problems = []
        for name in sorted(set(names)):
            p = self.profile(name)
            if p.backend != "litellm":
                continue
            if p.api_key_env:
                if not os.environ.get(p.api_key_env):
                    problems.append(f"{p.name!r} ({p.model}) reads ${p.api_key_env}")
            elif not p.api_base:
                from agents.litellm_model import missing_credentials

                missing = missing_credentials(p.model)
                if missing:
                    problems.append(f"{p.name!r} ({p.model}) needs ${' or $'.join(missing)}")
        if problems:
            raise PoolConfigError(
                f"API keys are not set for {'; '.join(problems)}; set them (export NAME=...) "
                "before the run, or take those models out of the pool and the roles"
            )

    @classmethod
    def single_litellm(cls, model: str) -> ModelPool:
        """A pool of one litellm model (for ``orch run --model``); its prices unknown."""
        if not model.strip():
            raise PoolConfigError(
                "the litellm model string is empty; give one, e.g. --model ollama/llama3.2"
            )
        return cls([ModelProfile(name=model, backend="litellm", model=model)])

    def __contains__(self, name: object) -> bool:
        return name in self._profiles

    def __iter__(self) -> Iterator[ModelProfile]:
        return iter(self._profiles.values())

    def __len__(self) -> int:
        return len(self._profiles)

    def names(self) -> list[str]:
        """Model names in definition order."""
        return list(self._profiles)

    def profile(self, name: str) -> ModelProfile:
        """The profile called ``name``; PoolConfigError listing the pool otherwise."""
        try:
            return self._profiles[name]
        except KeyError:
            raise PoolConfigError(
                f"the model pool has no model {name!r}; it has {self.names()}. Add it to your "
                "pool file or change the role's models"
            ) from None

    def adapter(self, name: str) -> ModelAdapter:
        """The adapter answering for ``name``, built on first use."""
        adapter = self._adapters.get(name)
        if adapter is not None:
            return adapter
        with self._lock:
            if name not in self._adapters:
                self._adapters[name] = _build_adapter(self.profile(name))
            return self._adapters[name]


def _build_adapter(profile: ModelProfile) -> ModelAdapter:
    if profile.backend == "custom":
        return profile.adapter
    if profile.backend == "offline":
        from agents.offline import OfflineModel

        return OfflineModel(profile)
    if profile.backend == "litellm":
        from agents.litellm_model import LiteLLMModel

        return LiteLLMModel(profile)
    if profile.backend == "replay":
        from agents.replay import ReplayModel

        return ReplayModel(profile)
    if profile.backend == "local":
        from agents.local_model import LocalModel

        return LocalModel(profile)
    raise PoolConfigError(f"pool model {profile.name!r} has unknown backend {profile.backend!r}")


def default_pool() -> ModelPool:
    """The embedded offline pool: three deterministic models at realistic list prices."""
    return ModelPool(
        [
            ModelProfile(
                name="mini",
                backend="offline",
                input_price=0.15,
                output_price=0.60,
                context_window=128_000,
                quality=0.55,
                latency_ms=300,
                capabilities={"reasoning": 0.45, "knowledge": 0.5, "tool_use": 0.6},
            ),
            ModelProfile(
                name="standard",
                backend="offline",
                input_price=1.00,
                output_price=4.00,
                context_window=128_000,
                quality=0.80,
                latency_ms=700,
                capabilities={"reasoning": 0.7, "knowledge": 0.75, "tool_use": 0.8},
            ),
            ModelProfile(
                name="large",
                backend="offline",
                input_price=5.00,
                output_price=15.00,
                context_window=200_000,
                quality=0.95,
                latency_ms=1500,
                capabilities={"reasoning": 0.9, "knowledge": 0.9, "tool_use": 0.9},
            ),
        ]
    )
