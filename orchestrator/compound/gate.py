"""The quality gate of compound execution: which mode each group of agents runs in.

The ``QualityGate`` keeps a rolling mean of judged quality per (model, group, mode). A new
(model, group) starts fine for a few runs to learn what quality fine reaches; then it tries
the most merged mode whose opportunity (calls and tokens saved) is positive; whenever a
mode's rolling mean falls under the floor it moves one rung toward fine, and a failed mode
is tried again only after ``retry_after`` runs. Prompts are never rewritten to compensate.
Every choice and switch is a ``compound`` decision; the state persists as a JSON file.
The gate works under a pipeline's ``Compound`` settings, defined here.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

from orchestrator.compound.ladder import LADDER
from orchestrator.errors import DefinitionError, InputError
from orchestrator.types import Candidate, Decision

T = TypeVar("T")

__all__ = ["Choice", "Compound", "GateCells", "QualityGate"]


@dataclass(frozen=True, kw_only=True)
class Compound:
    """How a pipeline's teams may be merged (``Pipeline(compound=...)``).

    ``floor``: the quality a mode's rolling mean must keep; None (default) learns it per
    (model, group) as fine mode's rolling mean minus ``tolerance``. ``judge``: scores each
    group's answers (default ``SectionJudge``); a pool model name makes it an LLM judge.
    A mode fails when its rolling mean stays under the floor by more than ``confidence``
    standard errors of that mean (judges are noisy: a lucky or unlucky run alone does not
    switch modes; a real drop does within a few runs).
    ``modes``: the modes allowed (``("fine",)`` turns merging off). ``pin``: run every
    group in this one mode (for measurement); the gate still observes but never switches.
    """

    floor: float | None = None
    tolerance: float = 0.05
    confidence: float = 1.0
    window: int = 5
    min_runs: int = 3
    retry_after: int = 30
    judge: Any = None
    modes: tuple[str, ...] = LADDER
    pin: str | None = None

    def __post_init__(self) -> None:
        if self.pin is not None and self.pin not in LADDER:
            raise DefinitionError(f"Compound: pin {self.pin!r} is not a mode of {list(LADDER)}")
        if self.floor is not None and not 0 <= self.floor <= 1:
            raise DefinitionError(f"Compound: floor must be in 0..1, got {self.floor!r}")
        if not 0 <= self.tolerance <= 1:
            raise DefinitionError(f"Compound: tolerance must be in 0..1, got {self.tolerance!r}")
        if self.window < 1 or self.min_runs < 1 or self.min_runs > self.window:
            raise DefinitionError("Compound: need 1 <= min_runs <= window")
        if self.confidence < 0:
            raise DefinitionError("Compound: confidence must be >= 0 (standard errors)")
        if self.retry_after < 1:
            raise DefinitionError("Compound: retry_after must be >= 1 run")
        unknown = [m for m in self.modes if m not in LADDER]
        if unknown or "fine" not in self.modes:
            raise DefinitionError(
                f"Compound: modes {list(self.modes)} must be taken from {list(LADDER)} and "
                "include 'fine' (the last resort)"
            )


@dataclass
class _Cell:
    """Gate state of one (model, group)."""

    mode: str | None = None
    runs: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    """Mode -> the run count when it failed the floor."""
    scores: dict[str, deque[float]] = field(default_factory=dict)
    invalid: dict[str, deque[float]] = field(default_factory=dict)
    """Mode -> per run, the share of members whose merged section failed validation."""


def _cell_json(model: str, group: str, c: _Cell) -> dict[str, Any]:
    return {
        "model": model,
        "group": group,
        "mode": c.mode,
        "runs": c.runs,
        "failed": c.failed,
        "scores": {m: list(w) for m, w in c.scores.items()},
        "invalid": {m: list(w) for m, w in c.invalid.items()},
    }


class GateCells(Protocol):
    """Gate cells shared by workers (``compound.gatecells.RedisGateCells``).

    Contract: ``transact`` calls ``apply`` with the cell as stored (None: none stored,
    or the store cannot be reached: the gate's own copy is used), then stores ``dump()``;
    a concurrent change of the cell runs ``apply`` again on the fresh one. Returns what
    the last ``apply`` returned."""

    def transact(
        self,
        key: str,
        apply: Callable[[dict[str, Any] | None], T],
        dump: Callable[[], dict[str, Any]],
    ) -> T: ...


class Choice(NamedTuple):
    """The mode a group runs in this time, and the decision that says why."""

    mode: str
    decision: Decision


class QualityGate:
    """Rolling-mean quality per (model, group, mode), deciding each group's mode."""

    def __init__(self, policy: Compound | None = None) -> None:
        self.policy = policy or Compound()
        self._cells: dict[tuple[str, str], _Cell] = {}
        self._lock = threading.Lock()
        self.changed = False
        """Whether anything was observed since the last ``save``."""
        self.cells: GateCells | None = None
        """Where the cells are shared with other workers (None: this process only)."""

    # ------------------------------------------------------------ reading

    def _window(self, cell: _Cell, mode: str) -> deque[float]:
        win = cell.scores.get(mode)
        if win is None:
            win = cell.scores[mode] = deque(maxlen=self.policy.window)
        return win

    @staticmethod
    def _mean(win: Sequence[float]) -> float | None:
        return sum(win) / len(win) if win else None

    def floor(self, model: str, group: str) -> float:
        """The floor of (model, group): the policy's, or fine's rolling mean - tolerance."""
        if self.policy.floor is not None:
            return self.policy.floor
        cell = self._cells.get((model, group))
        fine = self._mean(cell.scores.get("fine", ())) if cell else None
        return max(0.0, fine - self.policy.tolerance) if fine is not None else 0.0

    def mode_of(self, model: str, group: str) -> str | None:
        """The mode (model, group) is in, None before its first run."""
        cell = self._cells.get((model, group))
        return cell.mode if cell else None

    def rolling(self, model: str, group: str, mode: str) -> float | None:
        """The rolling mean of (model, group, mode), None without scores."""
        cell = self._cells.get((model, group))
        return self._mean(cell.scores.get(mode, ())) if cell else None

    # ------------------------------------------------------------ deciding

    def choose(
        self, model: str, group: str, *, stage: str, savings: Mapping[str, tuple[int, int]]
    ) -> Choice:
        """The mode of this run of (model, group). ``savings``: per allowed mode, the
        (calls, input tokens) it saves against fine; a mode saving nothing is not tried.
        With shared ``cells``, decided on the cell as stored, which is stored again."""
        if self.cells is None or self.policy.pin is not None:
            return self._choose(model, group, stage=stage, savings=savings)
        return self._shared(
            model, group, lambda: self._choose(model, group, stage=stage, savings=savings)
        )

    def _shared(self, model: str, group: str, step: Callable[[], T]) -> T:
        """``step`` run on (model, group)'s cell as the shared store holds it."""
        assert self.cells is not None
        key = f"{model}\x1f{group}"

        def apply(stored: dict[str, Any] | None) -> T:
            if stored is not None:
                with self._lock:
                    self._cells[(model, group)] = self._cell_of(stored)
            return step()

        def dump() -> dict[str, Any]:
            with self._lock:
                return _cell_json(model, group, self._cells[(model, group)])

        return self.cells.transact(key, apply, dump)

    def _choose(
        self, model: str, group: str, *, stage: str, savings: Mapping[str, tuple[int, int]]
    ) -> Choice:
        p = self.policy
        if p.pin is not None:
            calls, tokens = savings.get(p.pin, (0, 0))
            return Choice(
                p.pin,
                Decision(
                    kind="compound",
                    stage=stage,
                    chosen=p.pin,
                    reason=(
                        f"{group} on {model}: pinned to {p.pin} (Compound(pin=...)); saves "
                        f"{calls} calls and ~{tokens} input tokens against fine"
                    ),
                ),
            )
        with self._lock:
            cell = self._cells.setdefault((model, group), _Cell())
            fine_win = self._window(cell, "fine")
            floor = self.floor(model, group)
            modes = [m for m in LADDER if m in p.modes and m in savings]
            current = cell.mode or "fine"
            why = ""
            if len(fine_win) < p.min_runs and cell.mode in (None, "fine"):
                why = f"measuring fine-mode quality first ({len(fine_win)} of {p.min_runs} runs)"
                current = "fine"
            else:
                # the most merged mode that saves something and has not failed recently
                for m in modes:
                    if m == current:
                        break
                    failed_at = cell.failed.get(m)
                    if failed_at is not None and cell.runs - failed_at < p.retry_after:
                        continue
                    if savings[m][1] <= 0:
                        continue
                    if failed_at is not None:
                        cell.failed.pop(m)
                        cell.scores.pop(m, None)
                        cell.invalid.pop(m, None)
                        why = f"retrying {m}: {p.retry_after} runs since it failed the floor"
                    else:
                        fine = self._mean(fine_win)
                        why = (
                            f"fine mode's rolling mean {fine:.3f} is established; trying {m}"
                            if fine is not None
                            else f"trying {m}"
                        )
                    current = m
                    break
            moved = current != cell.mode
            cell.mode = current
            win = cell.scores.get(current)
            mean = self._mean(win) if win else None
            calls, tokens = savings.get(current, (0, 0))
            if not why:
                why = (
                    f"rolling mean {mean:.3f} >= floor {floor:.3f} over {len(win or ())} runs"
                    if mean is not None
                    else f"on trial ({p.min_runs} runs before it is judged)"
                )
            saved = f"saves {calls} calls and ~{tokens} input tokens against fine"
            candidates = []
            for m in LADDER:
                if m not in p.modes:
                    continue
                excluded = None
                failed_at = cell.failed.get(m)
                if failed_at is not None:
                    excluded = f"failed the floor at run {failed_at}"
                elif m not in savings:
                    excluded = "nothing to merge"
                candidates.append(
                    Candidate(
                        name=m,
                        score=float(savings.get(m, (0, 0))[1]),
                        mean=self._mean(cell.scores.get(m, ())),
                        excluded_by=excluded,
                    )
                )
            reason = f"{group} on {model}: {why}; {saved}; floor {floor:.3f}"
            if moved:
                reason = f"switch to {current}: " + reason
            return Choice(
                current,
                Decision(
                    kind="compound",
                    stage=stage,
                    chosen=current,
                    reason=reason,
                    candidates=tuple(candidates),
                ),
            )

    def observe(
        self,
        model: str,
        group: str,
        mode: str,
        quality: float,
        *,
        stage: str,
        invalid_share: float = 0.0,
    ) -> Decision | None:
        """Record one judged run; a ``compound`` decision when the mode falls under the
        floor, or its merged calls keep failing validation (``invalid_share``: the share of
        members whose merged section was unusable), and the group steps toward fine. With
        shared ``cells``, recorded in the cell as stored (no worker's run is lost)."""
        if self.cells is None:
            return self._observe(model, group, mode, quality, stage, invalid_share)
        return self._shared(
            model, group, lambda: self._observe(model, group, mode, quality, stage, invalid_share)
        )

    def _observe(
        self,
        model: str,
        group: str,
        mode: str,
        quality: float,
        stage: str,
        invalid_share: float,
    ) -> Decision | None:
        p = self.policy
        with self._lock:
            cell = self._cells.setdefault((model, group), _Cell())
            floor = self.floor(model, group)  # before this score moves fine's mean
            win = self._window(cell, mode)
            win.append(float(quality))
            bad = cell.invalid.setdefault(mode, deque(maxlen=p.window))
            bad.append(float(invalid_share))
            cell.runs += 1
            self.changed = True
            if mode == "fine" or len(win) < p.min_runs or p.pin is not None:
                return None
            mean = sum(win) / len(win)
            spread = statistics.stdev(win) / math.sqrt(len(win)) if len(win) > 1 else 0.0
            broken = sum(list(bad)[-len(win) :]) / len(win)
            if broken > 0.5:
                why = (
                    f"{broken:.0%} of its merged sections failed validation over its last "
                    f"{len(win)} runs (re-run one call each, so merging saves nothing)"
                )
            elif mean + p.confidence * spread < floor:
                why = (
                    f"rolling mean {mean:.3f} (+/- {spread:.3f}) < floor {floor:.3f} over its "
                    f"last {len(win)} runs"
                )
            else:
                return None
            ladder = [m for m in LADDER if m in p.modes]
            lower = ladder[ladder.index(mode) + 1] if mode in ladder else "fine"
            cell.failed[mode] = cell.runs
            cell.mode = lower
            if lower != "fine":
                cell.scores.pop(lower, None)
                cell.invalid.pop(lower, None)
            return Decision(
                kind="compound",
                stage=stage,
                chosen=lower,
                reason=f"revert {group} on {model} from {mode} to {lower}: {why}",
                candidates=(
                    Candidate(
                        name=mode,
                        mean=mean,
                        excluded_by="merged sections invalid"
                        if broken > 0.5
                        else f"below floor {floor:.3f}",
                    ),
                ),
            )

    # ------------------------------------------------------------ persistence

    def to_json(self) -> dict[str, Any]:
        """The gate's state as JSON-ready data."""
        with self._lock:
            return {"cells": [_cell_json(m, g, c) for (m, g), c in self._cells.items()]}

    def _cell_of(self, c: Mapping[str, Any]) -> _Cell:
        """A cell from its JSON form."""
        cell = _Cell(mode=c["mode"], runs=int(c["runs"]), failed=dict(c["failed"]))
        for m, scores in c["scores"].items():
            cell.scores[m] = deque(map(float, scores), maxlen=self.policy.window)
        for m, shares in c.get("invalid", {}).items():
            cell.invalid[m] = deque(map(float, shares), maxlen=self.policy.window)
        return cell

    def load(self, path: Path) -> None:
        """Adopt the state saved at ``path`` (nothing when absent)."""
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise InputError(
                f"compound gate state {path} is unreadable ({exc}); delete it to start afresh"
            ) from exc
        with self._lock:
            for c in data.get("cells", []):
                self._cells[(c["model"], c["group"])] = self._cell_of(c)

    def save(self, path: Path) -> None:
        """Write the state to ``path`` atomically."""
        data = json.dumps(self.to_json())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(tmp, path)
        self.changed = False
