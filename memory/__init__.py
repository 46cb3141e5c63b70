"""Memory: tiers (working, episodic, semantic, profile) at Low/Mid/High budget, routed by
intent, held in an in-process or a Redis store, handed to each role within its budget."""

from memory.item import TIERS, MemoryItem, decode_text
from memory.router import DEFAULT_PLAN, MemoryContext, MemoryRouter
from memory.store import FallbackStore, Limits, LocalStore, MemoryStore, Outage, StoreEvent
from memory.tiers import LEVELS, Selection, Selector
from memory.working import ContextSelection, make_item, select_recent

__all__ = [
    "DEFAULT_PLAN",
    "LEVELS",
    "TIERS",
    "ContextSelection",
    "FallbackStore",
    "Limits",
    "LocalStore",
    "MemoryContext",
    "MemoryItem",
    "MemoryRouter",
    "MemoryStore",
    "Outage",
    "Selection",
    "Selector",
    "StoreEvent",
    "decode_text",
    "make_item",
    "select_recent",
]
