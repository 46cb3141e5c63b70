"""Routing with sentence embeddings instead of hashed words: an experiment, not the shipped policy.

Run (needs the WordLlama package, which the project does not depend on; its wheel ships
a 256-dimension embedding model, so nothing is downloaded: ``pip install wordllama``):

    python tests/benchmarks/routing_embedding.py ../shared/data/routing/routerbench [--seeds 5]

Same splits and lambda sweep as ``orch eval routing`` (seed s: shuffle with
default_rng(s), learn online on 60% with bandit feedback, evaluate frozen and greedy on
the rest). Compared:

- ours and LinUCB alone (``routing_eval._run_online`` itself) with the shipped context
  (bias, category one-hot, 16 hashed word buckets), and with the word buckets replaced by
  the first 16 or 64 dimensions of the prompt's WordLlama embedding (its dimensions are
  trained to be usable as prefixes), renormalised;
- kNN (k = 25) on the shipped hashed tf-idf vectors and on the 256-dimension embeddings.

Printed per policy: the best quality (relative to the best single model) among the
seed-averaged Pareto points that cost at most half the best single model, its frontier
read as a curve at half and at 0.3x that cost, and where it first lies below the lexical
kNN's curve (if it does).
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
from orchestrator import routing_eval as R

KINDS = ("ours", "linucb")
PREFIXES = (16, 64)


def embed(prompts: list[str]) -> np.ndarray:
    """Unit-length 256-dimension WordLlama embeddings of ``prompts`` (the model in its wheel)."""
    try:
        import wordllama
    except ImportError:
        sys.exit("this script needs WordLlama: pip install wordllama")
    # WordLlama looks for its bundled tokenizer under "tokenizer/", but the wheel has it
    # under "tokenizers/", which is where it looks in a cache folder: point the cache at
    # the package so both files are found and nothing is fetched
    here = Path(wordllama.__file__).parent
    model = wordllama.WordLlama.load(cache_dir=here, disable_download=True)
    return np.asarray(model.embed(prompts, norm=True), dtype=float)


class _EmbeddedContext:
    """``routing_eval._Context`` with its word buckets replaced by an embedding prefix."""

    def __init__(self, base: R._Context, data: RoutingSet, emb: np.ndarray, width: int) -> None:
        keep = 1 + len(set(data.categories))  # bias and category one-hot
        part = emb[:, :width]
        part = part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-9)
        self.x = np.hstack([base.x[:, :keep], part])
        self.dim = self.x.shape[1]
        self.intents = base.intents
        self.available = base.available


def main() -> None:
    data, seeds = load_args(__doc__)
    emb = embed(list(data.prompts))
    base = R._Context(data)
    contexts: dict[str, Any] = {"words": base}  # routing_eval._Context or its stand-in
    contexts |= {f"emb{w}": _EmbeddedContext(base, data, emb, w) for w in PREFIXES}
    similarity = {"knn_words": R._lexical(data.prompts), "knn_emb256": emb}

    def per_seed(split: Split) -> Callable[[float], dict[str, np.ndarray]]:
        knn_q = {
            k: knn_quality(v, data.quality, split.train, split.test) for k, v in similarity.items()
        }

        def choose(lam: float) -> dict[str, np.ndarray]:
            picks = {k: split.knn_picks(est, base.available, lam) for k, est in knn_q.items()}
            for cname, ctx in contexts.items():
                for kind in KINDS:  # the shipped learner (it draws nothing from rng for these)
                    learned = R._run_online(
                        kind, data, ctx, split.train, lam, split.c_ref, split.rng
                    )
                    picks[f"{kind}/{cname}"] = np.array(
                        [learned(int(i), base.available[i]) for i in split.test]
                    )
            return picks

        return choose

    acc, best, evaluated = sweep(data, seeds, per_seed)
    print_summary(data.name, acc, best, seeds=seeds, evaluated=evaluated, reference="knn_words")


if __name__ == "__main__":
    main()
