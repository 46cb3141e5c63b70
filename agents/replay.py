"""Replay of recorded model behaviour: real models' outcomes on real benchmark queries.

A routing set is a folder with ``queries.jsonl`` (``query_id``, ``category``, ``prompt``)
and ``routing.csv`` (``query_id``, ``model``, ``quality`` 0..1, ``cost_usd``, optionally
``input_tokens_est`` / ``output_tokens_est``). A missing cell means "no record", never
quality 0. ``ReplayModel`` answers a request with what one recorded model did on it.
"""

from __future__ import annotations

import csv
import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.profile import ModelProfile
from agents.prompts import read_prompt
from orchestrator.errors import InputError, ModelUnavailable
from orchestrator.types import Message, ModelReply, estimate_tokens

__all__ = ["ReplayModel", "RoutingSet", "cached_routing_set", "load_routing_set"]

_REQUIRED = ("query_id", "model", "quality", "cost_usd")


def _key(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True, eq=False)
class RoutingSet:
    """Recorded outcomes: queries x models, with NaN where a model has no record."""

    name: str
    """Folder name of the set."""
    models: tuple[str, ...]
    """Recorded models, in first-seen order."""
    query_ids: tuple[str, ...]
    """Query ids, in file order."""
    prompts: tuple[str, ...]
    """Prompt of each query."""
    categories: tuple[str, ...]
    """Category (task type) of each query."""
    quality: np.ndarray
    """(queries, models) quality in 0..1, NaN for no record."""
    cost: np.ndarray
    """(queries, models) USD, NaN for no record."""
    input_tokens: np.ndarray
    """(queries, models) prompt tokens (recorded estimate, or from the prompt's length)."""
    output_tokens: np.ndarray
    """(queries, models) completion tokens (recorded estimate, or 0)."""

    @functools.cached_property
    def by_prompt(self) -> dict[str, int]:
        """Row of each prompt, by whitespace-normalised text."""
        return {_key(p): i for i, p in enumerate(self.prompts)}

    def model_index(self, model: str) -> int:
        """Column of ``model``; InputError listing the recorded models otherwise."""
        try:
            return self.models.index(model)
        except ValueError:
            raise InputError(
                f"routing set {self.name!r} has no model {model!r}; it recorded {list(self.models)}"
            ) from None


def load_routing_set(path: str | Path) -> RoutingSet:
    """Read a routing-set folder; errors name the file, line and what is missing."""
    folder = Path(path)
    queries_file, routing_file = folder / "queries.jsonl", folder / "routing.csv"
    for f in (queries_file, routing_file):
        if not f.is_file():
            raise InputError(
                f"{str(folder)!r} is not a routing set: {f.name} is missing (a routing set "
                "holds queries.jsonl and routing.csv)"
            )
    ids: list[str] = []
    prompts: list[str] = []
    categories: list[str] = []
    with queries_file.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
                ids.append(str(q["query_id"]))
                prompts.append(str(q["prompt"]))
                categories.append(str(q.get("category", "")))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InputError(f"{queries_file}:{n}: not a query record ({exc})") from None
    row_of = {q: i for i, q in enumerate(ids)}
    models: dict[str, int] = {}
    cells: list[tuple[int, int, float, float, float, float]] = []
    with routing_file.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _REQUIRED if c not in (reader.fieldnames or ())]
        if missing:
            raise InputError(f"{routing_file}: missing columns {missing}")
        for n, rec in enumerate(reader, 2):
            if rec["quality"] in ("", None) or rec["cost_usd"] in ("", None):
                continue  # no record for this (query, model)
            row = row_of.get(rec["query_id"])
            if row is None:
                raise InputError(
                    f"{routing_file}:{n}: query_id {rec['query_id']!r} is not in queries.jsonl"
                )
            col = models.setdefault(rec["model"], len(models))
            try:
                quality, cost = float(rec["quality"]), float(rec["cost_usd"])
                tin = float(rec.get("input_tokens_est") or estimate_tokens(prompts[row]))
                tout = float(rec.get("output_tokens_est") or 0)
            except ValueError as exc:
                raise InputError(f"{routing_file}:{n}: {exc}") from None
            cells.append((row, col, quality, cost, tin, tout))
    shape = (len(ids), len(models))
    arrays = [np.full(shape, math.nan) for _ in range(4)]
    for row, col, *values in cells:
        for arr, v in zip(arrays, values, strict=True):
            arr[row, col] = v
    return RoutingSet(
        name=folder.name,
        models=tuple(models),
        query_ids=tuple(ids),
        prompts=tuple(prompts),
        categories=tuple(categories),
        quality=arrays[0],
        cost=arrays[1],
        input_tokens=arrays[2],
        output_tokens=arrays[3],
    )


@functools.lru_cache(maxsize=8)
def cached_routing_set(path: str) -> RoutingSet:
    """``load_routing_set`` once per resolved folder per process."""
    return load_routing_set(path)


class ReplayModel:
    """Answers with what a recorded model did on the recorded request.

    The profile's ``model`` names the recorded model and ``data`` the routing-set folder.
    The reply carries the recorded quality (``ModelReply.quality``) and cost.
    """

    def __init__(self, profile: ModelProfile) -> None:
        if not profile.data:
            raise InputError(f"replay model {profile.name!r} needs `data`, a routing-set folder")
        self.name = profile.name
        self.profile = profile
        self.data = cached_routing_set(str(Path(profile.data).resolve()))
        self.column = self.data.model_index(profile.model)

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 512) -> ModelReply:
        """The recorded outcome for this request.

        Raises InputError for a request the set never recorded, and ModelUnavailable
        (``no_record``, not an endpoint fault) when this model has no record for a recorded
        request: the runtime then fails over to the role's next best model.
        """
        parts = read_prompt(messages[-1].content)
        row = self.data.by_prompt.get(_key(parts.request))
        if row is None:  # the request, not the model, is at fault: nothing to learn from
            raise InputError(
                f"model {self.name!r} replays routing set {self.data.name!r}, which has no "
                "record of this request; replay models answer only the recorded benchmark "
                "queries. For free text use the offline pool (the default) or a litellm "
                "model (--pool FILE or --model NAME)"
            )
        quality = float(self.data.quality[row, self.column])
        if math.isnan(quality):
            raise ModelUnavailable(
                f"model {self.name!r} has no record for query "
                f"{self.data.query_ids[row]!r} of {self.data.name!r}",
                kind="no_record",
                endpoint_fault=False,
            )
        verdict = "correct" if quality >= 0.5 else "incorrect"
        text = (
            f"[recorded answer of {self.profile.model} to query {self.data.query_ids[row]}: "
            f"{verdict}, quality {quality:g}]"
        )
        if parts.allowed_next:
            text += f"\nNEXT: {parts.allowed_next[0]}"
        return ModelReply(
            text=text,
            model=self.name,
            input_tokens=int(self.data.input_tokens[row, self.column]),
            output_tokens=int(self.data.output_tokens[row, self.column]),
            cost_usd=float(self.data.cost[row, self.column]),
            provider="replay",
            quality=quality,
        )
