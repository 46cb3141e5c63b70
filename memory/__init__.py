"""Memory: context handed to each role under its budget (working tier for now)."""

from memory.working import ContextSelection, make_item, select_recent

__all__ = ["ContextSelection", "make_item", "select_recent"]
