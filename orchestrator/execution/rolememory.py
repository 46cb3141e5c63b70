"""What a role sees and leaves behind at a stage visit.

It sees the run's earlier outputs that are relevant to it, within its context budget
(role-aware working memory, a ``memory_tier`` decision), and, when the run has a
``scope``, the tiers of that scope's long-term memory the intent's plan picks, within the
budget left (``MemoryRouter``). Its answer is written back to the scope's episodic
memory. A shared store (Redis) is wrapped so that the runtime keeps working while it is
down; each time it goes down or comes back is recorded as a ``memory_tier`` decision.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from memory import (
    FallbackStore,
    LocalStore,
    MemoryItem,
    MemoryRouter,
    MemoryStore,
    Outage,
    StoreEvent,
)
from memory.item import MAX_ITEM_CHARS
from memory.working import select_for_role
from orchestrator.execution.run import Visit
from orchestrator.types import Decision, LazyText

__all__ = ["RoleMemory"]


class RoleMemory:
    """Context in and answers out for the roles of one runtime; see the module docstring.

    ``store`` None: working memory only (runs cannot have a scope).
    """

    def __init__(self, store: MemoryStore | None) -> None:
        self._events: list[StoreEvent] = []
        if store is not None and not isinstance(store, LocalStore | FallbackStore):
            # a shared store (Redis): degrade to the in-process one when it is down
            store = FallbackStore(store, on_event=self._events.append)
        self.store = store
        """Long-term memory of runs given a ``scope`` (None: working memory only)."""
        self.router = MemoryRouter(store) if store is not None else None

    def context(self, visit: Visit) -> Sequence[str]:
        """The lines of context the visit's role gets: recalled long-term memory of the
        request's scope (if any) first, then the relevant earlier outputs of this run
        (those of the stage the run comes from always count)."""
        role, stage, request, done = visit.at.role, visit.stage.name, visit.request, visit.done
        ctx, span = visit.ctx, visit.span
        selection = select_for_role(
            done,
            role.context_tokens,
            focus=f"{role.instructions} {stage} {request['query']}",
            previous_stage=done[-1]["stage"] if done else None,
        )
        ctx.record(
            span,
            Decision(
                kind="memory_tier",
                stage=stage,
                chosen=selection.tier,
                reason=LazyText(
                    "%d of %d earlier outputs relevant to this role, %d of %d context tokens",
                    len(selection.lines),
                    selection.considered,
                    selection.tokens,
                    role.context_tokens,
                ),
            ),
        )
        scope = request.get("scope")
        if scope is None or self.router is None:
            return selection.lines
        recalled = self.router.context(
            scope,
            request["query"],
            intent=request["intent"],
            budget_tokens=max(role.context_tokens - selection.tokens, 0),
            skip_group=ctx.run_id,  # this run's own outputs are working memory
        )
        self._report(visit)
        for d in recalled.decisions:
            ctx.record(span, d.replace(stage=stage))
        return (*recalled.lines, *selection.lines)

    def remember(self, visit: Visit, answer: str) -> None:
        """Write the visit's answer to its scope's episodic memory (for later stages and
        runs); nothing without a store or a scope."""
        scope = visit.request["scope"]
        if self.store is None or scope is None:
            return
        now = time.time()
        self.store.put(
            MemoryItem(
                tier="episodic",
                scope=scope,
                id=visit.key,
                text=answer[:MAX_ITEM_CHARS],
                key=f"{visit.role} ({visit.stage.name})",
                time=time.strftime("%Y-%m-%d %H:%M", time.localtime(now)),
                seq=time.time_ns() // 1000,
                group=visit.ctx.run_id,
            )
        )
        self._report(visit)

    def _report(self, visit: Visit) -> None:
        """Record what happened to the shared store (down, back) as decisions."""
        while self._events:
            event = self._events.pop(0)
            visit.ctx.record(
                visit.span,
                Decision(
                    kind="memory_tier",
                    stage=visit.stage.name,
                    chosen="local" if event.change is Outage.DOWN else "shared",
                    reason=event.message,
                ),
            )
