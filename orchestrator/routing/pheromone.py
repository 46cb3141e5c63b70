"""Per-intent pheromone tables (ant-colony routing, AMRO-S).

Each intent keeps a level tau for every arm. An update evaporates the intent's whole table,
tau <- (1 - rho) * tau, then deposits rho * reward on each arm the run used, but only when
the outcome passed the quality gate: a specialist emerges per intent from good outcomes
alone, and arms that stop paying fade. Levels stay within [0, max(tau0, best reward)], so
they can be added to UCB scores; the tables are readable evidence of what was learned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["PheromoneTable"]


class PheromoneTable:
    """Pheromone levels per (intent, arm); arms can be added later (they start at tau0)."""

    def __init__(self, *, rho: float = 0.05, gate: float = 0.5, tau0: float = 0.1) -> None:
        if not 0 < rho <= 1 or tau0 < 0:
            raise ValueError("pheromone needs 0 < rho <= 1 and tau0 >= 0")
        self.rho = rho
        self.gate = gate
        self.tau0 = tau0
        self.arms: list[str] = []
        self._tables: dict[str, np.ndarray] = {}
        self._fresh = np.empty(0)

    def ensure_arms(self, names: Sequence[str]) -> None:
        """Add arms not yet known, at level tau0 in every table."""
        new = [n for n in dict.fromkeys(names) if n not in self.arms]
        if new:
            self.arms.extend(new)
            for intent, table in self._tables.items():
                self._tables[intent] = np.concatenate([table, np.full(len(new), self.tau0)])

    def levels(self, intent: str) -> np.ndarray:
        """Levels of every arm for ``intent`` (tau0 everywhere for an intent never seen)."""
        table = self._tables.get(intent)
        if table is not None:
            return table
        if len(self._fresh) != len(self.arms):  # one shared, read-only tau0 table
            self._fresh = np.full(len(self.arms), self.tau0)
            self._fresh.flags.writeable = False
        return self._fresh

    def update(self, intent: str, arms: Sequence[int], quality: float, reward: float) -> bool:
        """Evaporate ``intent``'s table; deposit on ``arms`` if ``quality`` passed the gate.

        Returns whether a deposit was made.
        """
        table = self._tables.get(intent)
        if table is None:
            table = self._tables[intent] = np.full(len(self.arms), self.tau0)
        table *= 1.0 - self.rho
        if quality >= self.gate and reward > 0:
            for a in set(arms):
                table[a] += self.rho * reward
            return True
        return False

    def table_state(self, intent: str) -> dict[str, float]:
        """``intent``'s levels by arm name: what a store saves of one intent."""
        return dict(zip(self.arms, self.levels(intent).tolist(), strict=True))

    def set_table(self, intent: str, levels: dict[str, float]) -> None:
        """Replace ``intent``'s table with one read from a store (arms it does not name
        stay at tau0; arms it names that are unknown are added); ValueError on a level
        that is negative or not finite."""
        self.ensure_arms(list(levels))
        at = {a: i for i, a in enumerate(self.arms)}
        table = np.full(len(self.arms), self.tau0)
        for arm, level in levels.items():
            if not (np.isfinite(level) and level >= 0):
                raise ValueError(f"pheromone level of {arm!r} for {intent!r} is {level}")
            table[at[arm]] = level
        self._tables[intent] = table

    def intents(self) -> list[str]:
        """Intents with a table."""
        return sorted(self._tables)

    def to_state(self) -> dict[str, Any]:
        """A JSON-ready snapshot."""
        return {
            "rho": self.rho,
            "gate": self.gate,
            "tau0": self.tau0,
            "arms": list(self.arms),
            "tables": {k: v.tolist() for k, v in self._tables.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PheromoneTable:
        """Rebuild from ``to_state``; ValueError on inconsistent shapes or values."""
        table = cls(rho=float(state["rho"]), gate=float(state["gate"]), tau0=float(state["tau0"]))
        table.arms = [str(a) for a in state["arms"]]
        for intent, levels in dict(state["tables"]).items():
            arr = np.asarray(levels, dtype=float)
            if arr.shape != (len(table.arms),) or not np.isfinite(arr).all() or (arr < 0).any():
                raise ValueError(f"pheromone table {intent!r} is malformed")
            table._tables[str(intent)] = arr
        return table
