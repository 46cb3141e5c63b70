"""How far can any router get on a routing set? Full-information reference points.

Run (needs scikit-learn, which the project does not depend on: ``pip install scikit-learn``):

    python tests/benchmarks/routing_ceiling.py ../shared/data/routing/routerbench [--seeds 3] [--embed]

Same splits as ``orch eval routing`` (seed s: shuffle with default_rng(s), learn on 60%,
evaluate on the rest), but every reference here learns from the *full* recorded table of
the training queries (every model's outcome on every query), which no online policy sees:

- logreg: per model, a logistic regression of correctness on tf-idf word 1-2 grams of the
  prompt plus the category (C chosen by 3-fold cross-validation on the training queries);
- category: per model, its mean quality in the query's category on the training queries;
- category oracle: the same means taken on the evaluated queries themselves (cheating; an
  upper bound for any router that only knows the category);
- with ``--embed`` (needs ``pip install wordllama``, see routing_context.py): logreg with
  the prompt's 256-dimension WordLlama sentence embedding added to its features.

Each chooses ``argmax quality - lam * est_cost / c_ref`` with est_cost a per-model linear
fit of cost on prompt length (known before a call), over a fine lambda sweep. Printed: the
best quality (relative to the best single model) among the seed-averaged points that cost
at most half of the best single model.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

import numpy as np

from agents import load_routing_set


def _logreg(q_tr: np.ndarray, x_tr: Any, x_te: Any) -> np.ndarray:
    """Per model, P(correct) on the evaluated queries: a logistic regression on the
    training queries' recorded outcomes ``q_tr`` (C chosen by 3-fold cross-validation)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    p_hat = np.zeros((x_te.shape[0], q_tr.shape[1]))
    for j in range(q_tr.shape[1]):
        seen = ~np.isnan(q_tr[:, j])
        y = q_tr[seen, j]
        if len(set(y)) < 2:
            p_hat[:, j] = y.mean() if len(y) else 0.0
            continue
        scores = {
            cc: cross_val_score(
                LogisticRegression(C=cc, max_iter=2000), x_tr[seen], y, cv=3, scoring="neg_log_loss"
            ).mean()
            for cc in (0.3, 1.0, 3.0, 10.0)
        }
        clf = LogisticRegression(C=max(scores, key=scores.__getitem__), max_iter=2000)
        p_hat[:, j] = clf.fit(x_tr[seen], y).predict_proba(x_te)[:, 1]
    return p_hat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="a routing-set folder (queries.jsonl + routing.csv)")
    ap.add_argument("--seeds", type=int, default=3, help="shuffles to average (default 3)")
    ap.add_argument(
        "--embed", action="store_true", help="add logreg with sentence embeddings (WordLlama)"
    )
    args = ap.parse_args()
    try:
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression  # noqa: F401  (used by _logreg)
    except ImportError:
        sys.exit("this script needs scikit-learn: pip install scikit-learn")
    warnings.simplefilter("ignore")
    d = load_routing_set(args.data)
    q, c = d.quality, d.cost
    n, m = q.shape
    cats = sorted(set(d.categories))
    cat = np.array([cats.index(k) for k in d.categories])
    length = np.array([len(p) / 4 for p in d.prompts])
    lams = np.concatenate([[0.0], np.geomspace(0.005, 5, 60)])
    emb = None
    if args.embed:
        from routing_context import embed  # this folder: run as a script

        emb = embed(list(d.prompts))
    points: dict[str, list[list[tuple[float, float]]]] = {}
    for seed in range(args.seeds):
        order = np.random.default_rng(seed).permutation(n)
        cut = int(n * 0.6)
        tr, te = order[:cut], order[cut:]
        best = int(np.nanargmax(np.nanmean(q[tr], 0)))
        c_ref = float(np.nanmean(c[tr, best]))
        bq, bc = np.nanmean(q[te, best]), np.nanmean(c[te, best])
        vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_features=50000)
        onehot = np.eye(len(cats)) * 3.0
        x_tr = hstack([vec.fit_transform([d.prompts[i] for i in tr]), csr_matrix(onehot[cat[tr]])])
        x_te = hstack([vec.transform([d.prompts[i] for i in te]), csr_matrix(onehot[cat[te]])])
        x_tr, x_te = x_tr.tocsr(), x_te.tocsr()

        c_hat = np.zeros((len(te), m))
        for j in range(m):
            has = ~np.isnan(c[tr, j])
            a = np.c_[np.ones(has.sum()), length[tr][has]]
            w = np.linalg.lstsq(a, c[tr, j][has], rcond=None)[0]
            c_hat[:, j] = np.maximum(np.c_[np.ones(len(te)), length[te]] @ w, 0.0)
        avail = ~np.isnan(q[te])

        def per_cat(rows: np.ndarray, table: np.ndarray) -> np.ndarray:
            return np.array(
                [
                    [np.nanmean(table[rows][cat[rows] == k, j]) for j in range(m)]
                    for k in range(len(cats))
                ]
            )

        refs = {
            "logreg": _logreg(q[tr], x_tr, x_te),
            "category": per_cat(tr, q)[cat[te]],
            "category oracle": per_cat(te, q)[cat[te]],
        }
        if emb is not None:
            refs["logreg + embedding"] = _logreg(
                q[tr],
                hstack([x_tr, csr_matrix(emb[tr])]).tocsr(),
                hstack([x_te, csr_matrix(emb[te])]).tocsr(),
            )
        rows = np.arange(len(te))
        for name, est in refs.items():
            pts = []
            for lam in lams:
                value = np.where(avail, np.nan_to_num(est, nan=-1.0) - lam * c_hat / c_ref, -np.inf)
                pick = value.argmax(1)
                pts.append((c[te][rows, pick].mean() / bc, q[te][rows, pick].mean() / bq))
            points.setdefault(name, []).append(pts)
        print(f"seed {seed + 1}/{args.seeds} done", file=sys.stderr, flush=True)
    print(f"{d.name}: quality relative to the best single model, at <= 0.5x its cost")
    for name, runs in points.items():
        mean = np.mean(np.array(runs), axis=0)
        ok = [(cq, qq) for cq, qq in mean if cq <= 0.5]
        cq, qq = max(ok, key=lambda t: t[1]) if ok else (float("nan"), float("nan"))
        print(f"  {name:16s} {qq:.3f}x quality at {cq:.2f}x cost")


if __name__ == "__main__":
    main()
