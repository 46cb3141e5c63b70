"""Plain values shared by every package: messages, model replies, decisions, artifacts."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Literal, NamedTuple

__all__ = [
    "DECISION_KINDS",
    "Arm",
    "Candidate",
    "Decision",
    "DecisionKind",
    "LazyCandidates",
    "LazyText",
    "Message",
    "ModelReply",
    "estimate_tokens",
    "valid_text",
]

DecisionKind = Literal[
    "intent",
    "stage",
    "assign",
    "tool_path",
    "reroute",
    "escalate",
    "compound",
    "memory_tier",
    "guard_block",
    "budget",
]
DECISION_KINDS: tuple[str, ...] = DecisionKind.__args__  # type: ignore[attr-defined]


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` as valid Unicode: bytes that were not UTF-8 (which Python keeps as lone
    surrogates, e.g. in command-line arguments) and any other lone surrogate become
    U+FFFD, the replacement character."""
    if not _SURROGATE.search(text):
        return text
    # undecodable bytes from the OS, escaped by Python: decode them as replacements
    with contextlib.suppress(UnicodeEncodeError):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _SURROGATE.sub("\ufffd", text)


def estimate_tokens(text: str) -> int:
    """Rough token count (4 characters per token), used where no tokenizer is available."""
    return (len(text) + 3) // 4


@dataclass(frozen=True, kw_only=True, slots=True)
class Message:
    """One chat message handed to a model."""

    role: Literal["system", "user", "assistant"]
    """Who speaks: system instructions, the user's turn, or an earlier model turn."""
    content: str
    """The text of the message."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelReply:
    """What a model adapter returns for one call."""

    text: str
    """The model's answer."""
    model: str
    """The pool name of the model that answered."""
    input_tokens: int
    """Prompt tokens billed."""
    output_tokens: int
    """Completion tokens billed."""
    cost_usd: float
    """Cost of this call in USD, from the pool's prices."""
    provider: str = "offline"
    """Where the answer came from (offline, litellm provider name, scripted, replay)."""
    quality: float | None = None
    """Quality known at answer time (replay backends report the recorded outcome)."""


class Arm(NamedTuple):
    """A (role, model) pair a stage may be assigned: one arm of the assignment policy."""

    role: str
    """The role that works on the stage."""
    model: str
    """The pool model that plays it."""

    @property
    def name(self) -> str:
        """The arm's key, ``role@model``."""
        return f"{self.role}@{self.model}"


class Candidate(NamedTuple):
    """One option a decision considered (a NamedTuple: decisions build many, cheaply)."""

    name: str
    """The option, e.g. ``resolver@mini`` or a stage name."""
    score: float | None = None
    """The score it was ranked by (higher wins), if scored."""
    mean: float | None = None
    """For learned choices: the estimated reward."""
    bonus: float | None = None
    """For learned choices: the exploration bonus."""
    excluded_by: str | None = None
    """The hard constraint that removed it before scoring, if any."""
    pheromone: float | None = None
    """For learned choices: the intent's pheromone level on this option."""


class LazyCandidates(Sequence[Candidate]):
    """Candidates built from parallel columns only when someone reads them.

    A decision over many arms keeps its scores as plain lists; the Candidate records are
    made on first access (a trace export, a summary), not on the decision path. The columns
    are Candidate's fields in order; trailing ones may be left out (they are None).
    """

    __slots__ = ("_columns", "_items")

    def __init__(self, *columns: Sequence[Any]) -> None:
        self._columns = columns
        self._items: tuple[Candidate, ...] | None = None

    def _all(self) -> tuple[Candidate, ...]:
        if self._items is None:
            pad = (None,) * (len(Candidate._fields) - len(self._columns))
            rows = zip(*self._columns, strict=True)
            self._items = tuple(Candidate._make(row + pad) for row in rows)
        return self._items

    def rows(self) -> list[tuple[Any, ...]]:
        """Every candidate as a plain tuple of Candidate's fields (None where not given),
        straight from the columns: what a trace encoder needs, without the records."""
        columns = self._columns
        missing = len(Candidate._fields) - len(columns)
        if not missing:
            return list(zip(*columns, strict=True))
        n = len(columns[0])
        return list(zip(*columns, *[repeat(None, n) for _ in range(missing)], strict=True))

    def __getitem__(self, i: Any) -> Any:
        return self._all()[i]

    def __len__(self) -> int:
        return len(self._columns[0])

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, Sequence) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return repr(self._all())


class LazyText:
    """A ``%``-format and its arguments, formatted only when someone reads the text.

    Decisions explain themselves in a sentence with several formatted numbers; with
    tracing off most of those sentences are never read, so the decision path keeps the
    template and its (immutable) arguments and ``Decision.reason`` formats them once, on
    first access.
    """

    __slots__ = ("args", "template")

    def __init__(self, template: str, *args: Any) -> None:
        self.template = template
        self.args = args

    def __str__(self) -> str:
        return self.template % self.args

    def __repr__(self) -> str:
        return repr(str(self))


class Decision:
    """One control-plane decision, recorded as an ``orchestrator.decision`` span event.

    Built with keywords and read-only by convention. A slotted class: every stage visit
    makes several, and it is cheaper to build than a NamedTuple or a frozen dataclass.
    ``reason`` may be given as a ``LazyText``; reading it always gives the formatted ``str``.
    """

    __slots__ = ("_reason", "arm", "candidates", "chosen", "explore", "goal", "kind", "stage")

    kind: DecisionKind
    """What was decided (intent, stage, assign, tool_path, reroute, ...)."""
    chosen: str
    """What was chosen; empty when nothing could be."""
    stage: str
    """The stage the decision belongs to, if any."""
    candidates: Sequence[Candidate]
    """The options considered, in the order they were ranked."""
    explore: bool | None
    """For learned choices: True when the choice was not the best mean (exploration)."""
    arm: Arm | None
    """For ``assign`` decisions: the arm chosen (``chosen`` is its name)."""
    goal: str | None
    """For ``escalate`` decisions that demote the stage's goal: the lesser goal chosen."""

    def __init__(
        self,
        *,
        kind: DecisionKind,
        chosen: str,
        reason: str | LazyText,
        stage: str = "",
        candidates: Sequence[Candidate] = (),
        explore: bool | None = None,
        arm: Arm | None = None,
        goal: str | None = None,
    ) -> None:
        self.kind = kind
        self.chosen = chosen
        self._reason = reason
        self.stage = stage
        self.candidates = candidates
        self.explore = explore
        self.arm = arm
        self.goal = goal

    @property
    def reason(self) -> str:
        """Why, in one human sentence."""
        r = self._reason
        if type(r) is not str:
            r = self._reason = str(r)
        return r

    def _fields(self) -> dict[str, Any]:
        """The constructor's keywords (the reason as given: still lazy if it was)."""
        return {
            "kind": self.kind,
            "chosen": self.chosen,
            "reason": self._reason,
            "stage": self.stage,
            "candidates": self.candidates,
            "explore": self.explore,
            "arm": self.arm,
            "goal": self.goal,
        }

    def replace(self, **changes: Any) -> Decision:
        """A copy with ``changes`` (keyword fields) applied."""
        return Decision(**(self._fields() | changes))

    def _key(self) -> tuple[Any, ...]:
        fields = self._fields() | {"reason": self.reason, "candidates": tuple(self.candidates)}
        return tuple(fields.values())

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, Decision) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Decision(kind={self.kind!r}, chosen={self.chosen!r}, reason={self.reason!r}, "
            f"stage={self.stage!r}, candidates={list(self.candidates)!r}, "
            f"explore={self.explore!r}, arm={self.arm!r}, goal={self.goal!r})"
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for traces and run results)."""
        out: dict[str, Any] = {"kind": self.kind, "chosen": self.chosen, "reason": self.reason}
        if self.stage:
            out["stage"] = self.stage
        if self.explore is not None:
            out["explore"] = self.explore
        if self.candidates:
            out["candidates"] = [
                {
                    "name": c.name,
                    **({"score": round(c.score, 6)} if c.score is not None else {}),
                    **({"mean": round(c.mean, 6)} if c.mean is not None else {}),
                    **({"bonus": round(c.bonus, 6)} if c.bonus is not None else {}),
                    **({"pheromone": round(c.pheromone, 6)} if c.pheromone is not None else {}),
                    **({"excluded_by": c.excluded_by} if c.excluded_by else {}),
                }
                for c in self.candidates
            ]
        return out
