"""A model from the pool as a reranker for the High memory tier: one call per query."""

from __future__ import annotations

import re
from collections.abc import Sequence

from orchestrator.protocols import ModelAdapter
from orchestrator.types import Message

__all__ = ["ModelReranker"]

RERANK = (
    "You rank passages by how well they help answer a question. Reply with one line "
    "`ORDER: <numbers>` listing the useful passages, most useful first, e.g. `ORDER: 3, 1`."
)
_ORDER = re.compile(r"ORDER:\s*([\d,\s]+)")


class ModelReranker:
    """Reranks passages with ``adapter`` (any pool model): numbered passages in, the
    numbers it lists out. Numbers it invents are ignored; passages it leaves out are
    dropped; a reply without an ORDER line keeps the retrieval order."""

    def __init__(self, adapter: ModelAdapter, *, max_chars: int = 400) -> None:
        self.adapter = adapter
        self.max_chars = max_chars

    def rerank(self, query: str, passages: Sequence[str]) -> list[int]:
        """Indices of ``passages``, best first."""
        numbered = "\n".join(f"[{i + 1}] {p[: self.max_chars]}" for i, p in enumerate(passages))
        reply = self.adapter.complete(
            [
                Message(role="system", content=RERANK),
                Message(role="user", content=f"Question: {query}\nPassages:\n{numbered}"),
            ],
            max_tokens=8 + 4 * len(passages),
        )
        m = _ORDER.search(reply.text)
        if not m:
            return list(range(len(passages)))
        out: list[int] = []
        for tok in m.group(1).replace(",", " ").split():
            i = int(tok) - 1
            if 0 <= i < len(passages) and i not in out:
                out.append(i)
        return out
