"""Speed of the local models on this machine. Run (needs the [local] extra):
python tests/benchmarks/bench_local_models.py [--runs N]

Per model (Qwen2.5-Coder 1.5B and 0.5B, GGUF, llama.cpp through xllamacpp, 2 threads):
the time to join and verify the weights on first use (their cache removed first), the
load time, the resident memory the load added, then N completions of a fixed ~120-token
prompt with 64 answer tokens: median time to the first token (a 1-token completion),
prompt and generation tokens per second as llama.cpp reports them.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from agents.local_model import loaded
from agents.weights import WEIGHTS, gguf_path

PROMPT = (
    "You are a support agent. A customer writes: my order 123 arrived broken, the kettle "
    "does not heat and the lid is cracked; I paid 49.99 and want my money back or a new "
    "one, whichever is faster. Write a short, polite reply that says what happens next, "
    "names the order and the amount, and asks for one photo of the damage."
)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(name: str, runs: int, cache: Path) -> None:
    t = time.perf_counter()
    path = gguf_path(name, cache)
    joined = time.perf_counter() - t
    before = _rss_mb()
    t = time.perf_counter()
    server = loaded(path, slots=1)
    load = time.perf_counter() - t
    grown = _rss_mb() - before
    request = {"model": "local", "messages": [{"role": "user", "content": PROMPT}]}
    first, prompt_tps, gen_tps = [], [], []
    for i in range(runs):
        salted = {**request, "messages": [{"role": "user", "content": f"({i}) {PROMPT}"}]}
        t = time.perf_counter()
        server.handle_chat_completions({**salted, "max_tokens": 1, "temperature": 0})
        first.append(time.perf_counter() - t)
        out = server.handle_chat_completions(
            {**request, "messages": [{"role": "user", "content": f"[{i}] {PROMPT}"}],
             "max_tokens": 64, "temperature": 0}
        )  # fmt: skip
        timings = out.get("timings", {})
        prompt_tps.append(float(timings.get("prompt_per_second", 0.0)))
        gen_tps.append(float(timings.get("predicted_per_second", 0.0)))
    print(
        f"{name}: join + verify {joined:.1f} s, load {load:.1f} s, +{grown:.0f} MB resident; "
        f"time to first token {statistics.median(first):.2f} s, prompt "
        f"{statistics.median(prompt_tps):.1f} tok/s, generation {statistics.median(gen_tps):.1f} "
        f"tok/s  [medians of {runs}]",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="orch-models-"))
    for name in WEIGHTS:
        bench(name, args.runs, cache)


if __name__ == "__main__":
    main()
