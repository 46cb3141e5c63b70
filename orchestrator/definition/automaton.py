"""The goal-stage automaton: which stage may follow which, checked once and on every move."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from orchestrator.errors import DefinitionError

__all__ = ["StageMachine"]


class StageMachine:
    """A finite automaton over stage names with one start state and terminal states.

    Construction validates the whole machine; afterwards ``allows`` answers in O(1).
    """

    __slots__ = ("_next", "start", "terminals")

    def __init__(
        self, transitions: Mapping[str, Iterable[str]], *, start: str, terminals: Iterable[str]
    ) -> None:
        self._next: dict[str, tuple[str, ...]] = {s: tuple(n) for s, n in transitions.items()}
        self.start = start
        self.terminals = frozenset(terminals)
        self._validate()

    def _validate(self) -> None:
        stages = self._next
        if self.start not in stages:
            raise DefinitionError(f"start stage {self.start!r} is not a defined stage")
        if not self.terminals:
            raise DefinitionError(
                "no terminal stage: the pipeline could never finish; mark at least one stage "
                "terminal=True (e.g. Stage('done', terminal=True))"
            )
        for stage, nexts in stages.items():
            for target in nexts:
                if target not in stages:
                    raise DefinitionError(
                        f"stage {stage!r} moves to {target!r}, which is not a defined stage; "
                        f"defined stages are {sorted(stages)}"
                    )
            if len(set(nexts)) != len(nexts):
                raise DefinitionError(f"stage {stage!r} lists a next stage twice: {list(nexts)}")
            if stage in self.terminals and nexts:
                raise DefinitionError(
                    f"terminal stage {stage!r} has next stages {list(nexts)}; a terminal stage "
                    "ends the run, so drop its next stages or terminal=True"
                )
            if stage not in self.terminals and not nexts:
                raise DefinitionError(
                    f"stage {stage!r} is not terminal and has no next stages; give it next=[...] "
                    "or mark it terminal=True"
                )
        reachable = self._closure([self.start], forward=True)
        unreachable = sorted(set(stages) - reachable)
        if unreachable:
            raise DefinitionError(
                f"stage {unreachable[0]!r} is unreachable from start stage {self.start!r}; "
                "add it to some stage's next=[...] or remove it"
                + (f" (also unreachable: {unreachable[1:]})" if len(unreachable) > 1 else "")
            )
        finishing = self._closure(self.terminals, forward=False)
        stuck = sorted(set(stages) - finishing)
        if stuck:
            raise DefinitionError(
                f"stage {stuck[0]!r} can never reach a terminal stage, so a run entering it "
                "could not finish; give it a path to a terminal stage"
            )

    def _closure(self, seeds: Iterable[str], *, forward: bool) -> set[str]:
        edges: Mapping[str, Iterable[str]] = self._next
        if not forward:
            rev: dict[str, list[str]] = {s: [] for s in self._next}
            for s, nexts in self._next.items():
                for n in nexts:
                    rev[n].append(s)
            edges = rev
        seen = set(seeds)
        queue = deque(seen)
        while queue:
            for n in edges[queue.popleft()]:
                if n not in seen:
                    seen.add(n)
                    queue.append(n)
        return seen

    @property
    def stages(self) -> tuple[str, ...]:
        """All stage names, in definition order."""
        return tuple(self._next)

    def next_of(self, stage: str) -> tuple[str, ...]:
        """The stages allowed after ``stage``, in definition order."""
        return self._next[stage]

    def allows(self, current: str, target: str) -> bool:
        """Whether the automaton permits moving from ``current`` to ``target``."""
        return target in self._next.get(current, ())

    def is_terminal(self, stage: str) -> bool:
        """Whether ``stage`` ends the run."""
        return stage in self.terminals

    def accepts(self, path: Iterable[str]) -> bool:
        """Whether ``path`` is a run the automaton allows from its start stage."""
        it = iter(path)
        current = next(it, None)
        if current != self.start:
            return False
        for stage in it:
            if not self.allows(current, stage):
                return False
            current = stage
        return True
