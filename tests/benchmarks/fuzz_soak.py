"""Fuzz soak of the public surface. Run:  python tests/benchmarks/fuzz_soak.py [--cases N]

Hypothesis draws pipeline definitions, queries (lone surrogates, control characters, a
1 MB text), built-in skill arguments and model replies (forged CALL and NEXT lines, deep
or huge JSON, empty bodies), ``tests/fuzzing.py``'s four targets, N/4 cases each (default
10,000 in all). Any exception outside each target's documented error types stops it, and
Hypothesis prints the smallest case that raises it. Prints cases and time per target.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from tests.fuzzing import soak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000, help="cases in all [default: 10000]")
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # the unpriced-model warnings of random pools
    started = time.perf_counter()
    last = [started]

    def say(line: str) -> None:
        now = time.perf_counter()
        print(f"{line}  ({now - last[0]:.0f} s)", flush=True)
        last[0] = now

    counted = soak(args.cases, progress=say)
    total = sum(counted.values())
    print(f"{total} cases in {time.perf_counter() - started:.0f} s, 0 undocumented exceptions")


if __name__ == "__main__":
    main()
