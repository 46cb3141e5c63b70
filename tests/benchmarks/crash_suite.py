"""Crash suite: runs killed with SIGKILL at random moments, then resumed. Run:
python tests/benchmarks/crash_suite.py [--kills N] [--seed S] [--through run|workers]

Each trial (``tests/crash.py``) starts ``orch run tests/payments_pipeline.py`` (a charge,
then an email, each a side-effecting skill; 0.3 s per model call), kills it with SIGKILL
0-0.7 s after it printed its run id (a run takes about 0.65 s), and resumes it with ``orch resume RUN_ID`` until it
ends. Prints runs lost (no checkpoint to resume from), runs completed, side-effect calls
executed twice (one idempotency key, two executions), and runs with a wrong number of
distinct charges or emails (corrupt state).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from tests.crash import Trial, start_worker, trial, worker_trial


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=50, help="trials [default: 50]")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--through",
        choices=("run", "workers"),
        default="run",
        help="kill `orch run` processes (resumed with `orch resume`), or workers with 5 "
        "runs in flight (finished by a new worker) [default: run]",
    )
    args = ap.parse_args()
    if args.through == "workers":
        workers(args)
        return
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="orch-crash-"))
    home, effects = root / "home", root / "effects"
    effects.mkdir(parents=True)
    started = time.perf_counter()
    lost = completed = twice = corrupt = interrupted = 0
    for i in range(args.kills):
        t = trial(home, effects, rng, max_delay_s=0.7)
        lost += not t.finished and not t.charges
        completed += t.finished
        twice += t.executed_twice
        corrupt += t.finished and t.effects != (1, 1)
        interrupted += t.interrupted
        print(
            f"{i + 1:>3}/{args.kills} run {t.run_id} killed after {t.killed_after_s:.2f} s: "
            f"{'interrupted' if t.interrupted else 'had finished'}, "
            f"{'completed' if t.finished else 'NOT completed'} after {t.resumes} resume(s), "
            f"charges {dict(t.charges) or '{}'}, emails {dict(t.emails) or '{}'}",
            flush=True,
        )
    print(
        f"{args.kills} kills in {time.perf_counter() - started:.0f} s ({interrupted} stopped a "
        f"run before its end): runs lost {lost}, "
        f"completed {completed}, side effects executed twice {twice}, corrupt state {corrupt}"
    )


def workers(args: argparse.Namespace) -> None:
    """--through workers: each kill stops a worker with 5 runs submitted to it."""
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="orch-crash-workers-"))
    home, effects = root / "home", root / "effects"
    effects.mkdir(parents=True)
    env = {**os.environ, "ORCH_HOME": str(home), "ORCH_EFFECTS_DIR": str(effects)}
    started = time.perf_counter()
    worker = start_worker(env)
    every: list[Trial] = []
    try:
        for i in range(args.kills // 5):
            trials, worker = worker_trial(home, effects, rng, worker, tag=f"k{i}-")
            every += trials
            print(
                f"{i + 1:>3}/{args.kills // 5} worker killed after {trials[0].killed_after_s:.2f}"
                f" s with {sum(t.interrupted for t in trials)} of 5 runs unfinished: "
                f"{sum(t.finished for t in trials)} completed by the next worker, side effects "
                f"twice {sum(t.executed_twice for t in trials)}",
                flush=True,
            )
    finally:
        worker.kill()
    lost = sum(not t.finished for t in every)
    twice = sum(t.executed_twice for t in every)
    corrupt = sum(t.finished and t.effects != (1, 1) for t in every)
    print(
        f"{args.kills // 5} worker kills, {len(every)} runs ({sum(t.interrupted for t in every)} "
        f"unfinished at the kill) in {time.perf_counter() - started:.0f} s: runs lost {lost}, "
        f"completed {sum(t.finished for t in every)}, side effects executed twice {twice}, "
        f"corrupt state {corrupt}"
    )


if __name__ == "__main__":
    main()
