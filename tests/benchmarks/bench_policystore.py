"""What learning costs in each policy store, at 256 arms. Run:
python tests/benchmarks/bench_policystore.py [--arms N] [--rounds N]

Per store (per-arm JSON files; Redis, a real redis-server): the median time of one
learning transaction that credits one run touching 3 arms, of a load of the whole policy,
and of a refresh that finds nothing new; then throughput under contention: one process of
16 threads, then two processes of 16 threads each, crediting runs of random arms (the
policy shared through the store), as credited runs per second.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

import numpy as np

from orchestrator.routing import LinUCB, PheromoneTable
from orchestrator.routing.features import DIM
from orchestrator.routing.policy import AssignmentPolicy, RunCredit
from orchestrator.routing.policystore import PolicyStore
from orchestrator.routing.redispolicy import RedisPolicyStore
from tests.servers import redis_server


def _one_file_store() -> type:
    """The store before this one (one JSON file per pipeline, rewritten whole), read from
    git at the commit before per-arm state, for the comparison in the same run."""
    import importlib.util
    import subprocess

    root = Path(__file__).resolve().parents[2]
    text = subprocess.run(
        ["git", "show", "0da0abb:orchestrator/routing/policystore.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="orch-old-store-")) / "oldstore.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("oldstore", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["oldstore"] = module  # pydantic resolves its annotations there
    spec.loader.exec_module(module)
    return module.PolicyStore


class _OneFile:
    """The one-file store behind the per-arm stores' interface."""

    def __init__(self, where: str) -> None:
        self._s = _one_file_store()(Path(where))

    def save(self, pipeline: str, bandit: LinUCB, pheromone: PheromoneTable, runs: int) -> None:
        self._s.save(pipeline, bandit, pheromone, runs)

    def load(self, pipeline: str, *, dim: int, alpha: float) -> tuple[LinUCB, PheromoneTable, int]:
        return self._s.load(pipeline, dim=dim, alpha=alpha)

    def refresh(self, pipeline: str, policy: AssignmentPolicy) -> int:
        return 0  # it reloads everything at every update instead

    def credit(self, pipeline: str, policy: AssignmentPolicy, credits: list[RunCredit]) -> int:
        return self._s.update(
            pipeline,
            policy,
            lambda: policy.credit_runs(credits),
            runs=len(credits),
            dim=DIM,
            alpha=1.0,
        )


def _store(kind: str, where: str) -> Any:
    if kind == "one file (before)":
        return _OneFile(where)
    return PolicyStore(Path(where)) if kind == "files" else RedisPolicyStore(where)


def _arms(n: int) -> dict[str, list[tuple[str, str]]]:
    return {f"s{i}": [(f"r{i}", f"m{j}") for j in range(16)] for i in range(n // 16)}


def _credit(rng: np.random.Generator, names: list[str], run: str) -> RunCredit:
    picked = rng.choice(len(names), 3, replace=False)
    return RunCredit(
        [(names[int(i)], rng.random(DIM).tolist()) for i in picked], 0.7, "refund", 0.9, run
    )


def _work(
    kind: str, where: str, arms: int, threads: int, seconds: float, tag: str, out: mp.Queue
) -> None:
    store = _store(kind, where)
    bandit, pheromone, _ = store.load("p", dim=DIM, alpha=1.0)
    policy = AssignmentPolicy(bandit, _arms(arms), pheromone=pheromone)
    names = list(policy.bandit.arms)
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def loop(k: int) -> None:
        rng = np.random.default_rng(k)
        while time.perf_counter() < stop:
            store.credit("p", policy, [_credit(rng, names, f"{tag}-{k}-{done[k]}")])
            done[k] += 1

    ts = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(sum(done))


def measure(kind: str, where: str, args: argparse.Namespace) -> None:
    store = _store(kind, where)
    policy = AssignmentPolicy(LinUCB(DIM), _arms(args.arms), pheromone=PheromoneTable())
    store.save("p", policy.bandit, policy.pheromone, 0)
    names = list(policy.bandit.arms)
    rng = np.random.default_rng(1)
    update, load, refresh = [], [], []
    for i in range(args.rounds):
        t = time.perf_counter()
        store.credit("p", policy, [_credit(rng, names, f"m{i}")])
        update.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.refresh("p", policy)
        refresh.append(time.perf_counter() - t)
        if i % 5 == 0:
            t = time.perf_counter()
            _store(kind, where).load("p", dim=DIM, alpha=1.0)
            load.append(time.perf_counter() - t)
    ms = lambda xs: statistics.median(xs) * 1000
    print(
        f"{kind} at {args.arms} arms: one run credited (3 arms) {ms(update):.2f} ms, "
        f"refresh with nothing new {ms(refresh):.2f} ms, whole load {ms(load):.1f} ms",
        flush=True,
    )
    rates = {}
    for procs in (1, 2):
        out: mp.Queue = mp.Queue()
        ps = [
            mp.Process(
                target=_work, args=(kind, where, args.arms, 16, args.seconds, f"{procs}p{k}", out)
            )
            for k in range(procs)
        ]
        for p in ps:
            p.start()
        total = sum(out.get() for _ in ps)
        for p in ps:
            p.join()
        rates[procs] = total / args.seconds
    print(
        f"{kind}: 1 process x 16 threads {rates[1]:.0f} runs/s, 2 processes x 16 threads "
        f"{rates[2]:.0f} runs/s ({rates[2] / rates[1]:.2f}x)",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arms", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=5.0, help="of each contention run")
    args = ap.parse_args()
    measure("one file (before)", tempfile.mkdtemp(prefix="orch-policy-old-"), args)
    measure("files", tempfile.mkdtemp(prefix="orch-policy-"), args)
    with redis_server() as url:
        measure("redis", url, args)


if __name__ == "__main__":
    main()
