"""Other contexts for the bandit than the shipped one: an experiment, not the shipped policy.

Run:

    python tests/benchmarks/routing_context.py ../shared/data/routing/routerbench [--seeds 5]

Same splits and lambda sweep as ``orch eval routing`` (seed s: shuffle with
default_rng(s), learn on 60%, evaluate frozen and greedy on the rest). Ours, LinUCB alone
(both from bandit feedback) and ours warm-started from the training queries' full table
(``ours_warm``) are run by ``simulation.run_online`` itself on these contexts:

- ``words``: the shipped replay context (bias, category one-hot, 16 hashed word buckets);
- ``words+query``: that plus the runtime's other query features (``FeatureBuilder``:
  log query length, has digits, is a question), which the replay context leaves out;
- ``intent-words``: the word buckets inside a block per category (zero in the other
  categories' blocks), so each arm weighs words per intent, as one ridge model per
  (intent, arm) would (in ``routing_fine_sweep.py`` only: ours warm-started);
- ``emb16`` / ``emb64``: the word buckets replaced by the first 16 or 64 dimensions of
  the prompt's WordLlama embedding (its dimensions are trained to be usable as
  prefixes), renormalised; with them a kNN on the full 256-dimension embedding. Only
  when WordLlama is installed (not a project dependency; its wheel ships the model, so
  nothing is downloaded: ``pip install wordllama``); skipped with a note otherwise.

The kNN (k = 25) on the shipped hashed tf-idf vectors is the reference. Printed per
policy: the best quality (relative to the best single model) among the seed-averaged
Pareto points that cost at most half the best single model, its frontier read as a curve
at half and at 0.3x that cost, and where it first lies below the reference kNN's curve.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from replay_common import (  # this folder: run as a script
    Split,
    knn_quality,
    load_args,
    print_summary,
    sweep,
)

from agents import RoutingSet
from orchestrator.evals.routing import simulation as R
from orchestrator.routing.features import FeatureBuilder

KINDS = ("ours", "linucb", "ours_warm")
PREFIXES = (16, 64)
_QUERY_FEATURES = (2, 5, 6)
"""Where ``FeatureBuilder.base`` puts the log query length, has digits and is a question."""


def embed(prompts: list[str], *, required: bool = True) -> np.ndarray | None:
    """Unit-length 256-dimension WordLlama embeddings of ``prompts`` (the model in its
    wheel); without WordLlama, exit if ``required``, else None."""
    try:
        import wordllama
    except ImportError:
        if required:
            sys.exit("this script needs WordLlama: pip install wordllama")
        return None
    # WordLlama looks for its bundled tokenizer under "tokenizer/", but the wheel has it
    # under "tokenizers/", which is where it looks in a cache folder: point the cache at
    # the package so both files are found and nothing is fetched
    here = Path(wordllama.__file__).parent
    model = wordllama.WordLlama.load(cache_dir=here, disable_download=True)
    return np.asarray(model.embed(prompts, norm=True), dtype=float)


class _QueryContext:
    """``simulation.ReplayContext`` plus the runtime's query features (log length, has
    digits, is a question), computed by the runtime's own ``FeatureBuilder``."""

    def __init__(self, base: R.ReplayContext, data: RoutingSet) -> None:
        fb = FeatureBuilder()
        extra = [
            [x[i] for i in _QUERY_FEATURES]
            for x in (fb.base(query=p, intent="", confidence=1.0) for p in data.prompts)
        ]
        self.x = np.hstack([base.x, np.asarray(extra)])
        self.dim = self.x.shape[1]
        self.intents = base.intents
        self.available = base.available


class _IntentWordsContext:
    """``simulation.ReplayContext`` with its word buckets moved into one block per category:
    a query's words fill its own category's block, the other blocks stay zero."""

    def __init__(self, base: R.ReplayContext, data: RoutingSet) -> None:
        keep = 1 + len(set(data.categories))  # bias and category one-hot
        words = base.x[:, keep:]
        blocks = [base.x[:, [j]] * words for j in range(1, keep)]
        self.x = np.hstack([base.x[:, :keep], *blocks])
        self.dim = self.x.shape[1]
        self.intents = base.intents
        self.available = base.available


class _EmbeddedContext:
    """``simulation.ReplayContext`` with its word buckets replaced by an embedding prefix."""

    def __init__(
        self, base: R.ReplayContext, data: RoutingSet, emb: np.ndarray, width: int
    ) -> None:
        keep = 1 + len(set(data.categories))  # bias and category one-hot
        part = emb[:, :width]
        part = part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-9)
        self.x = np.hstack([base.x[:, :keep], part])
        self.dim = self.x.shape[1]
        self.intents = base.intents
        self.available = base.available


def main() -> None:
    data, seeds = load_args(__doc__)
    base = R.ReplayContext(data)
    contexts: dict[str, Any] = {"words": base}  # simulation.ReplayContext or its stand-ins
    contexts["words+query"] = _QueryContext(base, data)
    similarity = {"knn_words": R.lexical(data.prompts)}
    emb = embed(list(data.prompts), required=False)
    if emb is None:
        print("WordLlama is not installed: embedding contexts skipped", file=sys.stderr)
    else:
        contexts |= {f"emb{w}": _EmbeddedContext(base, data, emb, w) for w in PREFIXES}
        similarity["knn_emb256"] = emb

    def per_seed(split: Split) -> Callable[[float], dict[str, np.ndarray]]:
        knn_q = {
            k: knn_quality(v, data.quality, split.train, split.test) for k, v in similarity.items()
        }

        def choose(lam: float) -> dict[str, np.ndarray]:
            picks = {k: split.knn_picks(est, base.available, lam) for k, est in knn_q.items()}
            for cname, ctx in contexts.items():
                for kind in KINDS:  # the shipped learner (it draws nothing from rng for these)
                    learned = R.run_online(
                        kind, data, ctx, split.train, lam, split.c_ref, split.rng
                    ).choose
                    picks[f"{kind}/{cname}"] = np.array(
                        [learned(int(i), base.available[i]) for i in split.test]
                    )
            return picks

        return choose

    acc, best, evaluated = sweep(data, seeds, per_seed)
    print_summary(data.name, acc, best, seeds=seeds, evaluated=evaluated, reference="knn_words")


if __name__ == "__main__":
    main()
