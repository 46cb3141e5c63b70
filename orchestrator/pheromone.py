"""Per-intent pheromone tables (ant-colony routing, AMRO-S).

Each intent keeps a level tau for every arm. Every update evaporates the whole table of that
intent, tau <- (1 - rho) * tau, and deposits rho * reward on the arm used, but only when the
outcome passed the quality gate: a specialist emerges per intent from good outcomes alone.
Levels stay in [0, max(tau0, best reward)], so they can be combined with UCB scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PheromoneTable"]


class PheromoneTable:
    """Pheromone levels per (intent, arm)."""

    def __init__(
        self, arms: Sequence[str], *, rho: float = 0.05, gate: float = 0.5, tau0: float = 0.1
    ) -> None:
        if not 0 < rho <= 1 or tau0 < 0:
            raise ValueError("pheromone needs 0 < rho <= 1 and tau0 >= 0")
        self.arms = list(arms)
        self.rho = rho
        self.gate = gate
        self.tau0 = tau0
        self._tables: dict[str, np.ndarray] = {}

    def levels(self, intent: str) -> np.ndarray:
        """The levels of every arm for ``intent`` (tau0 for an intent never seen)."""
        table = self._tables.get(intent)
        if table is None:
            return np.full(len(self.arms), self.tau0)
        return table

    def update(self, intent: str, arm: int, quality: float, reward: float) -> bool:
        """Evaporate ``intent``'s table; deposit on ``arm`` if ``quality`` passed the gate.

        Returns whether a deposit was made.
        """
        table = self._tables.get(intent)
        if table is None:
            table = self._tables[intent] = np.full(len(self.arms), self.tau0)
        table *= 1.0 - self.rho
        if quality >= self.gate and reward > 0:
            table[arm] += self.rho * reward
            return True
        return False

    def to_state(self) -> dict[str, object]:
        """A JSON-ready snapshot."""
        return {
            "arms": self.arms,
            "rho": self.rho,
            "gate": self.gate,
            "tau0": self.tau0,
            "tables": {k: v.tolist() for k, v in self._tables.items()},
        }
