"""What durability costs per step on the embedded default. Run:
python tests/benchmarks/bench_durability.py [--rounds N]

The 10-stage linear pipeline of bench_runtime.py (offline model, tracing off), four ways,
interleaved round by round: no checkpointer (a run cannot be resumed); a SQLite checkpointer
without the call journal; the same with the journal, which records each visit's arm,
model reply (and tool calls) before the run moves on; and the same run as a DBOS durable
workflow on the embedded SQLite engine (what ``orch run`` does now). Prints the median
time per step of each and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_runtime as bench

from orchestrator import Runtime
from orchestrator.durable import Engine
from orchestrator.execution import sqlite_checkpointer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30, help="rounds of 8 runs per variant")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="orch-durability-"))
    plain = Runtime(bench.our_pipeline(), learn=False)
    saved = Runtime(
        bench.our_pipeline(), checkpointer=sqlite_checkpointer(folder / "a.sqlite"), learn=False
    )
    saved.journal = None  # checkpoints only
    journaled = Runtime(
        bench.our_pipeline(), checkpointer=sqlite_checkpointer(folder / "b.sqlite"), learn=False
    )
    engine = Engine(data_dir=folder / "engine", kind="run")
    durable = Runtime(bench.our_pipeline(), checkpointer=engine.checkpointer(), learn=False)
    engine.serve(durable)
    engine.launch()
    variants = {
        "no checkpointer": plain,
        "checkpoints": saved,
        "checkpoints + journal": journaled,
        "durable workflow": durable,
    }
    per_step: dict[str, list[float]] = {k: [] for k in variants}
    for rnd in range(args.rounds + 2):
        for name, rt in variants.items():
            t = time.perf_counter()
            for _ in range(8):
                if rt is durable:  # a DBOS workflow around the journaled run
                    engine.start(rt, bench.QUERY, run_id=uuid.uuid4().hex[:12]).result()
                else:
                    rt.run(bench.QUERY)
            if rnd >= 2:  # warm-up rounds left out
                per_step[name].append((time.perf_counter() - t) / (8 * bench.STEPS) * 1e6)
    med = {k: statistics.median(v) for k, v in per_step.items()}
    base, ck = med["no checkpointer"], med["checkpoints"]
    print(
        f"per step: no checkpointer {base:.0f} us | SQLite checkpoints {ck:.0f} us "
        f"({ck / base:.2f}x) | checkpoints + call journal {med['checkpoints + journal']:.0f} us "
        f"({med['checkpoints + journal'] / base:.2f}x; {med['checkpoints + journal'] / ck:.2f}x "
        f"the checkpoints alone) | durable workflow {med['durable workflow']:.0f} us "
        f"({med['durable workflow'] / base:.2f}x; "
        f"{med['durable workflow'] / med['checkpoints + journal']:.2f}x checkpoints + journal)"
        f"  [medians of {args.rounds} rounds of 8 runs]"
    )
    engine.close()


if __name__ == "__main__":
    main()
