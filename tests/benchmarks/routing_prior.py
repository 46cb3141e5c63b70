"""LinUCB's prior mean and exploration weight in the routing replay: an experiment.

Run:

    python tests/benchmarks/routing_prior.py ../shared/data/routing/routerbench [--seeds 5]
        [--alphas 0.5,1.0] [--priors zero,pooled] [--kinds ours,linucb,ours_warm]
        [--alpha-grows]

Same splits and lambda sweep as ``orch eval routing`` (seed s: shuffle with
default_rng(s), learn on 60%, evaluate frozen and greedy on the rest). Each policy
(``simulation.run_online`` itself) runs for every exploration weight ``alpha`` (the eval
and ``Runtime`` use ``linucb.ALPHA`` = 1.0) and every prior mean of LinUCB's arms:

- ``zero``: as shipped, plain ridge regression, every arm's estimate shrunk toward 0;
- ``pooled``: every arm's prior mean is the mean reward of every update so far (the
  context's bias feature carries it: ``theta = A^-1 (b + ridge * m * e_0)``). With it,
  adding a constant to every reward adds it to every estimate and changes no choice;
  with the zero prior, when rewards are mostly negative (a high cost weight) the arms
  tried least look best, since they are shrunk most toward 0.

With ``--alpha-grows``, each weight also runs scaled by ``1 + lambda`` (variant
``a{alpha}x(1+lam)``): LinUCB's bonus should scale with the reward's noise, and the cost
term's share of that noise grows with the cost weight lambda.

The kNN (k = 25, hashed tf-idf) is the reference. Printed per variant: the best quality
(relative to the best single model) among the seed-averaged Pareto points that cost at
most half the best single model, its frontier read as a curve at half and 0.3x that
cost, and where it first lies below kNN's curve.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from replay_common import Split, knn_quality, print_summary, sweep  # this folder: a script

from agents import load_routing_set
from orchestrator.evals.routing import simulation as R
from orchestrator.routing.linucb import LinUCB


class PooledPrior(LinUCB):
    """LinUCB whose arms' prior mean is the mean reward of every update so far; feature 0
    of every context must be the constant 1 (``simulation.ReplayContext``'s bias)."""

    def prior_mean(self) -> float:
        n = int(self.pulls.sum())
        return float(self.b[:, 0].sum()) / n if n else 0.0  # b[:, 0] sums the rewards

    def _refresh(self) -> None:
        """theta = A^-1 (b + ridge m e_0) for every arm: the pooled mean m moved."""
        shift = self.ridge * self.prior_mean()
        self.theta[:] = (
            np.matmul(self.a_inv, self.b[:, :, None])[:, :, 0] + shift * self.a_inv[:, :, 0]
        )

    def update(self, arm: int, x: np.ndarray, reward: float) -> None:
        super().update(arm, x, reward)
        self._refresh()

    def update_many(
        self, arms: Sequence[int], xs: np.ndarray, reward: float | Sequence[float] | np.ndarray
    ) -> None:
        super().update_many(arms, xs, reward)
        self._refresh()


@contextlib.contextmanager
def bandit_class(cls: type[LinUCB]) -> Iterator[None]:
    """``routing_eval`` builds its policies' bandits from ``cls`` meanwhile."""
    R.LinUCB = cls  # type: ignore[misc]
    try:
        yield
    finally:
        R.LinUCB = LinUCB  # type: ignore[misc]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="a routing-set folder (queries.jsonl + routing.csv)")
    ap.add_argument("--seeds", type=int, default=5, help="shuffles to average (default 5)")
    ap.add_argument("--alphas", default="1.0", help="exploration weights (default 1.0)")
    ap.add_argument("--priors", default="zero,pooled", help="zero, pooled or both")
    ap.add_argument("--kinds", default="ours,linucb,ours_warm", help="policies to run")
    ap.add_argument("--alpha-grows", action="store_true", help="also run each alpha x (1 + lambda)")
    args = ap.parse_args()
    data = load_routing_set(args.data)
    alphas = [float(a) for a in args.alphas.split(",")]
    priors = {"zero": LinUCB, "pooled": PooledPrior}
    chosen = {p: priors[p] for p in args.priors.split(",")}
    kinds = args.kinds.split(",")
    grows = (False, True) if args.alpha_grows else (False,)
    weights = [(a, g) for g in grows for a in alphas]  # (alpha, scaled by 1 + lambda?)
    ctx, lex = R.ReplayContext(data), R.lexical(data.prompts)

    def per_seed(split: Split) -> Callable[[float], dict[str, np.ndarray]]:
        knn_q = knn_quality(lex, data.quality, split.train, split.test)

        def choose(lam: float) -> dict[str, np.ndarray]:
            picks = {"knn": split.knn_picks(knn_q, ctx.available, lam)}
            for prior, cls in chosen.items():
                with bandit_class(cls):
                    for alpha, grow in weights:
                        label = f"a{alpha:g}x(1+lam)" if grow else f"a{alpha:g}"
                        for kind in kinds:
                            a = alpha * (1 + lam) if grow else alpha
                            learned = R.run_online(
                                kind, data, ctx, split.train, lam, split.c_ref, split.rng, a
                            ).choose
                            picks[f"{kind}/{prior}/{label}"] = np.array(
                                [learned(int(i), ctx.available[i]) for i in split.test]
                            )
            return picks

        return choose

    acc, best, evaluated = sweep(data, args.seeds, per_seed)
    print_summary(data.name, acc, best, seeds=args.seeds, evaluated=evaluated, reference="knn")


if __name__ == "__main__":
    main()
