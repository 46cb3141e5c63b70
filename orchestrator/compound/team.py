"""A stage's team: its agents (members) and the DAG of whose answers each one reads.

A team is a small DAG of members (roles; ``after`` names the members whose answers one
reads), validated when the stage is defined: unknown members, duplicates and cycles fail
with the fix. Its topological order and layers are what the ladder splits into calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.errors import DefinitionError

__all__ = ["Member", "Team"]


@dataclass(frozen=True, slots=True, init=False)
class Member:
    """One agent of a stage's team: a role, and the members whose answers it reads."""

    role: str
    """Name of the pipeline role that plays this member."""
    after: tuple[str, ...]
    """Members of the same team whose answers this one depends on (and alone sees)."""

    def __init__(self, role: str, *, after: Sequence[str] = ()) -> None:
        if not isinstance(role, str) or not role:
            raise DefinitionError(f"a team member needs a role name, got {role!r}")
        if isinstance(after, str):
            raise DefinitionError(
                f"member {role!r}: after takes a list of member names, e.g. after=[{after!r}]"
            )
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "after", tuple(after))


class Team:
    """A stage's members in topological order, with their layers; validated."""

    def __init__(self, stage: str, members: Sequence[Member | str]) -> None:
        where = f"stage {stage!r}"
        items = [Member(m) if isinstance(m, str) else m for m in members]
        for m in items:
            if not isinstance(m, Member):
                raise DefinitionError(f"{where}: team members must be Member objects or role names")
        names = [m.role for m in items]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DefinitionError(f"{where}: team lists {dupes} more than once")
        deps = {m.role: m.after for m in items}
        for m in items:
            for d in m.after:
                if d not in deps:
                    raise DefinitionError(
                        f"{where}: member {m.role!r} reads {d!r}, which is not in the team "
                        f"{names}; add Member({d!r}) or fix after=[...]"
                    )
        self.layers: list[tuple[str, ...]] = []
        placed: set[str] = set()
        while len(placed) < len(names):
            layer = tuple(n for n in names if n not in placed and set(deps[n]) <= placed)
            if not layer:
                loop = [n for n in names if n not in placed]
                raise DefinitionError(
                    f"{where}: team members {loop} depend on each other in a cycle; "
                    "after=[...] must form a DAG"
                )
            self.layers.append(layer)
            placed.update(layer)
        self.order: tuple[str, ...] = tuple(n for layer in self.layers for n in layer)
        self.deps: dict[str, tuple[str, ...]] = deps
        self.sink = self.order[-1]
        """The member whose answer is the stage's answer (last in topological order)."""

    def __len__(self) -> int:
        return len(self.order)
