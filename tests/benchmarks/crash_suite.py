"""Crash suite: runs killed with SIGKILL at random moments, then resumed. Run:
python tests/benchmarks/crash_suite.py [--kills N] [--seed S]

Each trial (``tests/crash.py``) starts ``orch run tests/payments_pipeline.py`` (a charge,
then an email, each a side-effecting skill; 0.3 s per model call), kills it with SIGKILL
0-0.7 s after it printed its run id (a run takes about 0.65 s), and resumes it with ``orch run --resume`` until it
ends. Prints runs lost (no checkpoint to resume from), runs completed, side-effect calls
executed twice (one idempotency key, two executions), and runs with a wrong number of
distinct charges or emails (corrupt state).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from tests.crash import trial


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=50, help="trials [default: 50]")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
