"""What running a skill under its timeout costs. Run:  python tests/benchmarks/bench_skill_call.py

Every skill runs on a worker thread under ``timeout_s`` (default ``DEFAULT_TIMEOUT_S``), so
that no skill can hang a run; ``timeout_s=math.inf`` runs it on the calling thread. This
times one call of a trivial skill both ways, through the runtime's ``invoke_skill``
(contract checks included), in medians of interleaved blocks.
"""

from __future__ import annotations

import math
import statistics
import time

from orchestrator.execution.toolrunner import invoke_skill
from skills import skill


@skill
def threaded(x: int) -> int:
    """Double it (under the default timeout)."""
    return 2 * x


@skill(timeout_s=math.inf)
def inline(x: int) -> int:
    """Double it (no timeout: on the calling thread)."""
    return 2 * x


def main() -> None:
    blocks: dict[str, list[float]] = {"threaded": [], "inline": []}
    for _ in range(40):
        for name, s in (("threaded", threaded), ("inline", inline)):
            t = time.perf_counter()
            for _ in range(200):
                invoke_skill(s, {"x": 1})
            blocks[name].append((time.perf_counter() - t) / 200 * 1e6)
    t_med = statistics.median(blocks["threaded"][5:])
    i_med = statistics.median(blocks["inline"][5:])
    print(
        f"one skill call: under its timeout (worker thread) {t_med:.1f} us, "
        f"inline (timeout_s=math.inf) {i_med:.1f} us  [medians of 35 blocks of 200]"
    )


if __name__ == "__main__":
    main()
