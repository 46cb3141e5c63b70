"""The state-aware dispatcher: every stage move and skill call passes its guards.

Requests to move come from several sources, in priority order: an escalation forced by the
tool graph, the stage's ``route`` function, the model's ``NEXT:`` line. The first request
the automaton allows wins; each one it refuses becomes a ``guard_block`` decision (those
after the winner too: a forbidden request is recorded whoever else asked), and if none is
allowed the stage's first allowed next stage is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from orchestrator.definition import StageMachine
from orchestrator.types import Candidate, Decision, LazyText

__all__ = ["Dispatcher", "Move", "MoveRequest", "Requester"]


Requester = Literal["escalation", "route", "model"]
"""Who asks to move a run to a stage, in priority order: the tool graph found no path to
the stage's goal (``escalation``), the stage's ``route`` function, the model's ``NEXT:``
line."""

MoveRequest = tuple[Requester, str, str | None]
"""A request to move from a stage: who asks, who as the trace names it (e.g. ``model
'mini'``), and the stage asked for (None: no request). A plain tuple: a visit makes one
or two."""


Move = tuple[str | None, list[Decision], list[Requester]]
"""The dispatcher's verdict: the next stage (None when the stage was terminal), the
decisions (a ``guard_block`` per refused request, then the ``stage`` decision), and who
asked for each refused move. A plain tuple: one per visit."""


class Dispatcher:
    """Applies the stage automaton and skill permissions to requests."""

    def __init__(self, machine: StageMachine) -> None:
        self.machine = machine
        self._options = {
            s: tuple(Candidate(name=n) for n in machine.next_of(s)) for s in machine.stages
        }

    def next_stage(self, stage: str, requests: Sequence[MoveRequest]) -> Move:
        """Pick the next stage from ``requests``, the first the automaton allows; every
        request it refuses is a ``guard_block``, whether it came before or after the one
        taken."""
        if self.machine.is_terminal(stage):
            return None, [], []
        allowed = self.machine.next_of(stage)
        decisions: list[Decision] = []
        refused: list[Requester] = []
        chosen: str | None = None
        reason: str | LazyText = ""
        for by, source, target in requests:
            if target is None:
                continue
            if target in allowed:
                if chosen is None:
                    chosen, reason = target, LazyText("%s asked for %r", source, target)
                continue
            refused.append(by)
            decisions.append(
                Decision(
                    kind="guard_block",
                    stage=stage,
                    chosen="",
                    reason=(
                        f"{source} asked to move from {stage!r} to {target!r}: not allowed; "
                        f"allowed next stages are {list(allowed)}"
                    ),
                    candidates=(Candidate(name=target, excluded_by="stage automaton"),),
                )
            )
        if chosen is None:
            chosen = allowed[0]
            reason = f"no allowed request; took the first allowed next stage {chosen!r}"
        decisions.append(
            Decision(
                kind="stage",
                stage=stage,
                chosen=chosen,
                reason=reason,
                candidates=self._options[stage],
            )
        )
        return chosen, decisions, refused

    @staticmethod
    def skill_block(stage: str, role: str, skill: str, permitted: Sequence[str]) -> Decision | None:
        """A ``guard_block`` decision if ``role`` may not call ``skill`` in ``stage``."""
        if skill in permitted:
            return None
        return Decision(
            kind="guard_block",
            stage=stage,
            chosen="",
            reason=(
                f"role {role!r} may not call skill {skill!r} in stage {stage!r}; permitted "
                f"skills are {list(permitted)}"
            ),
            candidates=(Candidate(name=skill, excluded_by="skill permissions"),),
        )
