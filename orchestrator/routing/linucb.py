"""Disjoint LinUCB (Li et al. 2010) with Sherman-Morrison updates, vectorised over arms.

Each arm a keeps A_a^-1 (d x d) and b_a (d). For context x the score is
``theta_a . x + alpha * sqrt(x^T A_a^-1 x)`` with ``theta_a = A_a^-1 b_a``. The ratio of
that standard deviation to the one of an arm never credited, ``sqrt(x^T x / ridge)``, is the
arm's *uncertainty left* for x: 1 before any evidence, falling toward 0 as it learns.
Observing reward r for arm a applies the rank-one update of A_a = A_a + x x^T directly to
the inverse: ``A^-1 -= (A^-1 x)(A^-1 x)^T / (1 + x^T A^-1 x)``; b_a += r x.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ALPHA", "ArmScores", "LinUCB"]

ALPHA = 1.0
"""The default exploration weight: the one `orch eval routing` measures. A smaller one
pays less while learning but learns a worse policy on the recorded routing sets
(docs/benchmarks.md, "The exploration weight")."""


@dataclass(frozen=True, slots=True)
class ArmScores:
    """Scores of every arm for one context."""

    mean: np.ndarray
    """Estimated reward theta . x per arm."""
    bonus: np.ndarray
    """Exploration bonus alpha * sqrt(x^T A^-1 x) per arm."""
    left: np.ndarray
    """Uncertainty left per arm: sqrt(x^T A^-1 x) over its prior value, in [0, 1]."""


class LinUCB:
    """A growable set of disjoint ridge-regression arms over ``dim`` features.

    Each arm is one (d+1) x d block of a single array: the d rows of A^-1, then theta, so
    that scoring a run of adjacent arms is one matrix-vector product plus one for the
    variances; ``a_inv`` and ``theta`` are views into that array.
    """

    def __init__(self, dim: int, *, alpha: float = ALPHA, ridge: float = 1.0) -> None:
        if dim <= 0 or alpha < 0 or ridge <= 0:
            raise ValueError("LinUCB needs dim > 0, alpha >= 0 and ridge > 0")
        self.dim = dim
        self.alpha = alpha
        self.ridge = ridge
        self.arms: list[str] = []
        self._index: dict[str, int] = {}
        self.b = np.empty((0, dim))
        self.pulls = np.empty(0, dtype=np.int64)
        self._stack(np.empty((0, dim, dim)), np.empty((0, dim)))

    def _stack(self, a_inv: np.ndarray, theta: np.ndarray) -> None:
        self._m = np.concatenate([a_inv, theta[:, None, :]], axis=1)  # (n, d + 1, d)
        self.a_inv = self._m[:, : self.dim, :]
        self.theta = self._m[:, self.dim, :]
        self._rows: dict[tuple[Any, ...], Any] = {}  # views of runs of arms, gather plans

    def ensure_arms(self, names: Sequence[str]) -> list[int]:
        """Indices of ``names``, adding unseen arms with the prior A = ridge * I."""
        new = [n for n in dict.fromkeys(names) if n not in self._index]
        if new:
            k = len(new)
            eye = np.broadcast_to(np.eye(self.dim) / self.ridge, (k, self.dim, self.dim))
            self._stack(
                np.concatenate([self.a_inv, eye]),
                np.concatenate([self.theta, np.zeros((k, self.dim))]),
            )
            self.b = np.concatenate([self.b, np.zeros((k, self.dim))])
            self.pulls = np.concatenate([self.pulls, np.zeros(k, dtype=np.int64)])
            for n in new:
                self._index[n] = len(self.arms)
                self.arms.append(n)
        return [self._index[n] for n in names]

    def index(self, name: str) -> int:
        """Index of a known arm."""
        return self._index[name]

    def scores(self, x: np.ndarray, arms: slice | None = None) -> ArmScores:
        """Mean and exploration bonus for context ``x`` of every arm, or of a slice of arms."""
        d = self.dim
        block = self._m if arms is None else self._m[arms]
        # (k, d + 1): A^-1 x for each arm, then theta . x; 2-D dot is numpy's fast path
        r = np.dot(block.reshape(-1, d), x).reshape(-1, d + 1)
        sd = np.sqrt(np.maximum(np.dot(r[:, :d], x), 0.0))
        prior = math.sqrt(float(np.dot(x, x)) / self.ridge)
        left = np.minimum(sd / prior, 1.0) if prior > 0.0 else np.ones_like(sd)
        return ArmScores(mean=r[:, self.dim], bonus=self.alpha * sd, left=left)

    def ucb_lists(
        self, x: np.ndarray, start: int, stop: int
    ) -> tuple[list[float], list[float], list[float]]:
        """(means, bonuses, uncertainty left) of the adjacent arms ``start:stop`` as lists:
        the decision path.

        Same numbers as ``scores``; three numpy calls on a cached 2-D view, the rest in
        Python (a dozen arms are cheaper as floats than as more array operations).
        """
        d = self.dim
        rows = self._rows.get((start, stop))
        if rows is None:
            rows = self._rows[(start, stop)] = self._m[start:stop].reshape(-1, d)
        r = np.dot(rows, x).reshape(-1, d + 1)
        var = np.dot(r[:, :d], x).tolist()
        sqrt = math.sqrt
        sd = [sqrt(v) if v > 0.0 else 0.0 for v in var]
        xx = float(np.dot(x, x))
        a = self.alpha
        if xx > 0.0:
            inv = sqrt(self.ridge / xx)
            left = [s * inv if s * inv < 1.0 else 1.0 for s in sd]
        else:
            left = [1.0] * len(sd)
        return r[:, d].tolist(), [a * s for s in sd], left

    def ucb_one_hot(
        self, c: np.ndarray, start: int, stop: int, hot: np.ndarray
    ) -> tuple[list[float], list[float], list[float]]:
        """(means, bonuses, uncertainty left) of the adjacent arms ``start:stop``, arm
        ``start + k`` under the context ``x = c + e_hot[k]`` (``c`` is 0 at ``hot[k]``):
        the first visits of several stages, whose contexts differ only in the stage's
        one-hot feature, scored in one pass.

        With ``u = A^-1 c``: ``theta . x = theta . c + theta[h]`` and
        ``x^T A^-1 x = c . u + 2 u[h] + A^-1[h, h]``, so one product over the block serves
        every arm; the same numbers as ``ucb_lists`` with x built in full.
        """
        d = self.dim
        k = stop - start
        key = (start, stop, hot.tobytes())
        plan = self._rows.get(key)
        if plan is None:  # the block as 2-D rows, and where each arm's one-hot terms lie
            arm = np.arange(k)
            rows = self._m[start:stop].reshape(-1, d)
            at_r = np.concatenate([arm * (d + 1) + hot, arm * (d + 1) + d])
            first = (start + arm) * (d + 1) * d
            at_m = np.concatenate([first + hot * d + hot, first + d * d + hot])
            plan = self._rows[key] = (rows, at_r, at_m, self._m.reshape(-1))
        rows, at_r, at_m, flat = plan
        r = np.dot(rows, c)  # per arm: A^-1 c, then theta . c
        quad = np.dot(r.reshape(k, d + 1)[:, :d], c).tolist()  # c . A^-1 c
        u = r.take(at_r).tolist()  # (A^-1 c)[h] per arm, then theta . c per arm
        m = flat.take(at_m).tolist()  # A^-1[h, h] per arm, then theta[h] per arm
        sqrt = math.sqrt
        sd = []
        for i in range(k):
            v = quad[i] + 2.0 * u[i] + m[i]
            sd.append(sqrt(v) if v > 0.0 else 0.0)
        mean = [u[i] + m[i] for i in range(k, 2 * k)]
        inv = sqrt(self.ridge / (float(np.dot(c, c)) + 1.0))
        a = self.alpha
        return mean, [a * s for s in sd], [s * inv if s * inv < 1.0 else 1.0 for s in sd]

    def update(self, arm: int, x: np.ndarray, reward: float) -> None:
        """Credit ``reward`` to ``arm`` for context ``x`` (Sherman-Morrison)."""
        a_inv = self.a_inv[arm]
        ax = a_inv @ x
        a_inv -= np.outer(ax, ax) / (1.0 + x @ ax)
        self.b[arm] += reward * x
        self.theta[arm] = a_inv @ self.b[arm]
        self.pulls[arm] += 1

    def update_many(
        self, arms: Sequence[int], xs: np.ndarray, reward: float | Sequence[float] | np.ndarray
    ) -> None:
        """Credit rewards to several (arm, context) pairs at once; ``reward`` is one value
        for every pair or one per pair.

        Equal to calling ``update`` for each pair in any order (an arm's A and b are sums).
        The k pairs of one arm are one rank-k Woodbury update of its inverse,
        ``A^-1 -= U (I + X U)^-1 U^T`` with ``U = A^-1 X^T``. Arms credited fewer times
        than the most credited one get zero rows (which change neither A nor b), so every
        arm is updated in one stacked pass: a batch of many runs costs about as much as
        one run. Arms with more pairs than features (a warm start from recorded outcomes)
        have ``X^T X`` added to A itself and A inverted again: a d x d inverse instead of
        a k x k solve.
        """
        n = len(arms)
        if n == 0:
            return
        by_arm: dict[int, list[int]] = {}
        for i, a in enumerate(arms):
            by_arm.setdefault(int(a), []).append(i)
        d = self.dim
        # row n of the inputs is the zero context with reward 0: as padding it changes nothing
        xs = np.concatenate([np.asarray(xs, dtype=float).reshape(n, d), np.zeros((1, d))])
        rewards = np.zeros(n + 1)
        rewards[:n] = reward
        woodbury = [a for a, pairs in by_arm.items() if len(pairs) <= d]
        direct = [a for a, pairs in by_arm.items() if len(pairs) > d]
        if woodbury:
            counts = [len(by_arm[a]) for a in woodbury]
            k = max(counts)
            rows = np.asarray(
                [by_arm[a] + [n] * (k - c) for a, c in zip(woodbury, counts, strict=True)],
                dtype=np.intp,
            )  # (m, k), padded with the zero row
            x = xs[rows]  # (m, k, d)
            idx = np.asarray(woodbury, dtype=np.intp)
            block = self._m[idx]  # (m, d + 1, d): A^-1 rows, then theta
            a_inv = block[:, :d, :]
            u = np.matmul(a_inv, x.transpose(0, 2, 1))  # (m, d, k)
            if k == 1:
                a_inv -= u * (u.transpose(0, 2, 1) / (1.0 + np.matmul(x, u)))
            else:
                s = np.matmul(x, u)
                s.reshape(len(woodbury), k * k)[:, :: k + 1] += 1.0  # + I
                a_inv -= np.matmul(u, np.linalg.solve(s, u.transpose(0, 2, 1)))
            self._credit(idx, block, np.matmul(rewards[rows][:, None, :], x)[:, 0, :], counts)
        if direct:  # one arm at a time: their numbers of pairs may differ widely
            idx = np.asarray(direct, dtype=np.intp)
            block = self._m[idx]
            gram = np.stack([xs[by_arm[a]].T @ xs[by_arm[a]] for a in direct])
            block[:, :d, :] = np.linalg.inv(np.linalg.inv(block[:, :d, :]) + gram)
            rx = np.stack([rewards[by_arm[a]] @ xs[by_arm[a]] for a in direct])
            self._credit(idx, block, rx, [len(by_arm[a]) for a in direct])

    def _credit(
        self, idx: np.ndarray, block: np.ndarray, rx: np.ndarray, counts: list[int]
    ) -> None:
        """Store the updated A^-1 of the arms ``idx`` (in ``block``), add the reward-weighted
        contexts ``rx`` to their b, and refresh theta = A^-1 b."""
        d = self.dim
        b = self.b[idx] + rx
        block[:, d, :] = np.matmul(block[:, :d, :], b[:, :, None])[:, :, 0]
        self._m[idx] = block
        self.b[idx] = b
        self.pulls[idx] += counts

    def arm_state(self, name: str) -> tuple[np.ndarray, np.ndarray, int]:
        """(A^-1, b, pulls) of arm ``name``, copied: what a store saves of one arm."""
        i = self._index[name]
        return self.a_inv[i].copy(), self.b[i].copy(), int(self.pulls[i])

    def set_arm(self, name: str, a_inv: np.ndarray, b: np.ndarray, pulls: int) -> None:
        """Replace arm ``name``'s state (added if unseen) with one read from a store;
        ValueError on a wrong shape or non-finite numbers."""
        d = self.dim
        a_inv = np.asarray(a_inv, dtype=float).reshape(d, d)
        b = np.asarray(b, dtype=float).reshape(d)
        if not (np.isfinite(a_inv).all() and np.isfinite(b).all()):
            raise ValueError(f"non-finite numbers in the state of arm {name!r}")
        (i,) = self.ensure_arms([name])
        self._m[i, :d, :] = a_inv
        self._m[i, d, :] = a_inv @ b
        self.b[i] = b
        self.pulls[i] = pulls

    def to_state(self) -> dict[str, Any]:
        """A JSON-ready snapshot."""
        return {
            "dim": self.dim,
            "alpha": self.alpha,
            "ridge": self.ridge,
            "arms": list(self.arms),
            "a_inv": self.a_inv.tolist(),
            "b": self.b.tolist(),
            "pulls": self.pulls.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LinUCB:
        """Rebuild from ``to_state``; raises ValueError on inconsistent shapes."""
        bandit = cls(int(state["dim"]), alpha=float(state["alpha"]), ridge=float(state["ridge"]))
        arms = [str(a) for a in state["arms"]]
        n, d = len(arms), bandit.dim
        a_inv = np.asarray(state["a_inv"], dtype=float).reshape(n, d, d)
        b = np.asarray(state["b"], dtype=float).reshape(n, d)
        pulls = np.asarray(state["pulls"], dtype=np.int64).reshape(n)
        if not (np.isfinite(a_inv).all() and np.isfinite(b).all()):
            raise ValueError("non-finite numbers in the bandit state")
        bandit.arms = arms
        bandit._index = {a: i for i, a in enumerate(arms)}
        bandit.b, bandit.pulls = b, pulls
        bandit._stack(a_inv, np.einsum("nij,nj->ni", a_inv, b))
        return bandit
