"""Memory items: what every tier stores, checked at the door.

Tiers (what kind of memory): ``working`` (one run's agent outputs), ``episodic`` (a
conversation or user's turns, ordered, with their time), ``semantic`` (facts and
documents, retrieved by relevance), ``profile`` (stable key facts). A scope names whose
memory it is (a conversation, a user); items are unique by (tier, scope, id).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.errors import MemoryItemError
from orchestrator.types import estimate_tokens

__all__ = ["MAX_ITEM_CHARS", "TIERS", "MemoryItem", "check_tier", "decode_text"]

TIERS = ("working", "episodic", "semantic", "profile")
MAX_ITEM_CHARS = 16_000
"""An item longer than this is refused (split a document into passages first)."""


def check_tier(tier: str) -> str:
    """``tier`` if it is known; MemoryItemError naming the known ones otherwise."""
    if tier not in TIERS:
        raise MemoryItemError(f"unknown memory tier {tier!r}; tiers are {list(TIERS)}")
    return tier


def decode_text(raw: str | bytes, *, where: str) -> str:
    """Text of an item; bytes must be UTF-8 (the error says where they are not)."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MemoryItemError(
            f"{where}: text is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position "
            f"{exc.start}); decode it with the right codec, or with errors='replace'"
        ) from None


@dataclass(frozen=True, kw_only=True, slots=True)
class MemoryItem:
    """One remembered thing."""

    tier: str
    """``working``, ``episodic``, ``semantic`` or ``profile``."""
    scope: str
    """Whose memory: a conversation or user id ('' for shared knowledge)."""
    id: str
    """Unique within (tier, scope), e.g. a turn id ``D3:12`` or a fact key."""
    text: str
    """The content."""
    key: str = ""
    """Who said it (episodic), a title (semantic) or the fact's name (profile)."""
    time: str = ""
    """When (episodic: the session's date)."""
    seq: int = 0
    """Order within the scope (episodic turns); later is larger."""
    group: str = ""
    """A unit the item belongs to (episodic: the session), for neighbour context."""
    expires_at: float = 0.0
    """Wall-clock time after which the item is gone (0: never); set by the store's TTL."""

    def __post_init__(self) -> None:
        check_tier(self.tier)
        if not isinstance(self.text, str):
            raise MemoryItemError(
                f"memory item {self.id!r}: text must be str; decode bytes with decode_text()"
            )
        if len(self.text) > MAX_ITEM_CHARS:
            raise MemoryItemError(
                f"memory item {self.id!r} ({self.tier}) has {len(self.text)} characters, over "
                f"the {MAX_ITEM_CHARS} limit; split it into passages"
            )
        if not self.id:
            raise MemoryItemError(f"a {self.tier} memory item needs an id")

    @property
    def tokens(self) -> int:
        """Tokens of its context line."""
        return estimate_tokens(self.line)

    @property
    def line(self) -> str:
        """How the item reads in a context."""
        head = f"[{self.time}] " if self.time else ""
        who = f"{self.key}: " if self.key else ""
        return f"{head}{who}{self.text}"

    def expired(self, now: float | None = None) -> bool:
        """Whether its TTL has passed."""
        return bool(self.expires_at) and (now or time.time()) >= self.expires_at

    def to_json(self) -> str:
        """One JSON line."""
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> MemoryItem:
        """Rebuild from ``to_json``."""
        data: dict[str, Any] = json.loads(text)
        return cls(**data)
