"""Control-plane cost counted, not timed. Run:  python tests/benchmarks/bench_instructions.py

The same comparison as bench_runtime.py's per-step benchmark (a 10-stage linear pipeline
through our Runtime vs the same graph in raw LangGraph), run under valgrind's cachegrind,
which counts the instructions executed and simulates the caches (L1, and a 512 KiB
last level standing in for this machine's L2). The counts do not depend on the machine's
load or clock, so a change of a few percent shows in one run; wall time needs many
interleaved runs and still drifts with the machine's state (see docs/benchmarks.md).

Five processes run the same script: one only sets up (imports, graphs, warm-up), one runs
raw LangGraph 2N times (``invoke``, as a user runs a graph), two run raw and ours
alternately N times each (tracing off; JSONL tracing), and one runs raw LangGraph 2N times
through ``stream(stream_mode="values")``, the way our Runtime drives its graph (LangGraph
does less work per step that way than in ``invoke``, which streams updates too): ours
against it is our control plane's cost alone. Subtracting the set-up process leaves each
side's cost per step. Needs valgrind on PATH; takes about 4 minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

STEPS = 10
RUNS = 100
"""Runs of each side per measured process."""
T = TypeVar("T")
LAST_LEVEL = "524288,8,64"
"""Simulated last-level cache: 512 KiB, 8-way, 64-byte lines (an EPYC core's L2)."""


def child(mode: str, n: int, trace_dir: str) -> None:
    """The measured program: set up both graphs, warm up, then run ``mode``."""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_runtime as bench

    import orchestrator.execution.runtime as engine
    from orchestrator import Runtime
    from orchestrator.tracing.exporters import make_provider

    # ~50x slower under valgrind: without this, the learner's linger would expire after
    # every run and learning would be batched far more finely than in real time
    engine.LEARN_LINGER_S = 1e6
    provider = make_provider("jsonl", trace_dir=Path(trace_dir)) if mode == "on" else None
    raw = bench.raw_langgraph()
    ours = Runtime(bench.our_pipeline(), tracer_provider=provider)
    raw_input = {"query": bench.QUERY, "outputs": [], "cost": 0.0}
    for _ in range(10):
        raw.invoke(raw_input)
        ours.run(bench.QUERY)
    ours.flush()
    if mode == "raw_stream":  # raw LangGraph driven the way our Runtime drives its graph
        for _ in range(2 * n):
            for _ in raw.stream(raw_input, stream_mode="values"):
                pass
        ours.close()
        return
    for i in range(0 if mode == "base" else n):
        raw.invoke(raw_input)
        if mode == "raw":
            raw.invoke(raw_input)
        else:
            ours.run(bench.QUERY)
            if i % bench.BLOCK == bench.BLOCK - 1:  # learning applied per block, as timed
                ours.flush()
    ours.close()


def totals(path: Path) -> dict[str, int]:
    events: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            return dict(zip(events, map(int, line.split()[1:]), strict=True))
    raise ValueError(f"{path}: no summary line; did cachegrind finish?")


def cachegrind(script: str, args: list[str], file: Path, *, cache_sim: bool) -> dict[str, int]:
    """Run ``script --child ARGS`` under cachegrind, counting into ``file``; its totals."""
    env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    sim = ["--cache-sim=yes", f"--LL={LAST_LEVEL}"] if cache_sim else ["--cache-sim=no"]
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            *sim,
            f"--cachegrind-out-file={file}",
            sys.executable,
            script,
            "--child",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode:
        sys.exit(f"cachegrind run {args[0]!r} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return totals(file)


def measure(mode: str, n: int, out: Path) -> dict[str, int]:
    args = [mode, str(n), str(out / f"traces-{mode}")]
    return cachegrind(__file__, args, out / f"cachegrind.{mode}", cache_sim=True)


def count_all(measure: Callable[[str, int, Path], T], names: Sequence[str], n: int) -> dict[str, T]:
    """``measure(name, n, folder)`` for every name, two processes at a time."""
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed; install it (e.g. apt install valgrind) to count")
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(2) as pool:
        jobs = {m: pool.submit(measure, m, n, Path(tmp)) for m in names}
        return {m: j.result() for m, j in jobs.items()}


def variant_cli(doc: str, runs: int, child: Callable[[str, int], None]) -> int | None:
    """The command line of a script that counts variants: ``--runs N`` (returned), or the
    hidden ``--child VARIANT N`` that a counted process runs (``child`` is called; None)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--runs", type=int, default=runs, help=f"runs per variant (default {runs})")
    ap.add_argument("--child", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return None
    return int(args.runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=RUNS, help="runs of each side (default 100)")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "N", "TRACE_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return
    n = args.runs
    print(f"running 5 processes under cachegrind ({n} runs a side; about 4 minutes at 100) ...")
    t = count_all(measure, ("base", "raw", "off", "on", "raw_stream"), n)

    def per_step(mode: str, key: str) -> tuple[float, float]:
        def get(m: str) -> int:
            return t[m][key] if key in t[m] else sum(t[m][k] for k in key.split("+"))

        raw = (get("raw") - get("base")) / (2 * n * STEPS)
        if mode == "raw_stream":
            return raw, (get(mode) - get("base")) / (2 * n * STEPS)
        ours = (get(mode) - get("base")) / (n * STEPS) - raw
        return raw, ours

    for key, label in (("Ir", "instructions"), ("ILmr+DLmr+DLmw", "last-level misses")):
        raw, off = per_step("off", key)
        _, on = per_step("on", key)
        _, streamed = per_step("raw_stream", key)
        print(
            f"{label} per step: raw LangGraph {raw:,.0f} | ours, tracing off {off:,.0f} "
            f"({off / raw:.3f}x) | ours, JSONL tracing {on:,.0f} ({on / raw:.3f}x)"
        )
        print(
            f"  raw LangGraph driven by stream(values) as ours is: {streamed:,.0f} "
            f"({streamed / raw:.3f}x invoke's); against it ours {off / streamed:.3f}x / "
            f"{on / streamed:.3f}x"
        )


if __name__ == "__main__":
    main()
