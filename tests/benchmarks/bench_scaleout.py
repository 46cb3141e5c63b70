"""Scale-out: runs per second with 1, 2 and 4 workers on one Postgres, learned state in
one Redis; and a spend cap shared by all of them. Run:
python tests/benchmarks/bench_scaleout.py [--runs N] [--concurrency C] [--latency S]

Starts a real Postgres (a temporary data directory) and a real redis-server, then for each
number of workers: `orch worker tests/payments_pipeline.py --engine-url ... --state-url
...` processes (each executing C runs at once), a warm-up, then N runs per worker
submitted at once and timed from the first submit to the last result. The pipeline's one
model answers after S seconds (I/O-bound runs, as with a real endpoint). Checks that
nothing is lost (every run ok, each charge and email once) and that every run is credited
exactly once (bandit pulls in Redis == assign decisions of the runs). Then the shared
budget: 32 runs submitted at once over 4 workers against a spend cap worth about half of
them; prints the total spend against the cap.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from orchestrator.durable import Engine
from orchestrator.routing.features import DIM
from orchestrator.routing.redispolicy import RedisPolicyStore
from tests.servers import postgres_server, redis_server

ROOT = Path(__file__).resolve().parents[2]
ORCH = str(Path(sys.executable).with_name("orch"))
PAYMENTS = "tests/payments_pipeline.py"


def _database(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + f"/{name}"


def _workers(n: int, env: dict[str, str], args: list[str]) -> list[subprocess.Popen[str]]:
    procs = [
        subprocess.Popen(
            [ORCH, "worker", PAYMENTS, "--trace", "off", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for p in procs:
        assert p.stderr is not None
        line = p.stderr.readline()
        if "serving payments" not in line:
            raise RuntimeError(f"a worker did not start: {line} {p.stderr.read()}")
    return procs


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=60)


def _batch(client: Engine, tag: str, count: int) -> tuple[list, float]:
    started = time.perf_counter()
    handles = [
        client.submit(
            "payments", f"charge {i % 90 + 1} for order 7", run_id=f"{tag}-{i}", file=PAYMENTS
        )
        for i in range(count)
    ]
    results = [h.result(timeout=600) for h in handles]
    return results, time.perf_counter() - started


def scale(n: int, args: argparse.Namespace, pg: str, redis: str, home: Path) -> dict[str, float]:
    engine_url = _database(pg, f"scale{n}")
    state_url = f"{redis.rsplit('/', 1)[0]}/{n}"
    effects = home / f"effects{n}"
    effects.mkdir(parents=True)
    env = {
        **os.environ,
        "ORCH_HOME": str(home / f"home{n}"),
        "ORCH_EFFECTS_DIR": str(effects),
        "ORCH_MODEL_LATENCY_S": str(args.latency),
    }
    procs = _workers(
        n,
        env,
        [
            "--engine-url",
            engine_url,
            "--state-url",
            state_url,
            "--concurrency",
            str(args.concurrency),
        ],
    )
    try:
        with Engine(engine_url, data_dir=home / "client", kind="client") as client:
            warm, _ = _batch(client, f"warm{n}", n * args.concurrency)
            results, took = _batch(client, f"run{n}", n * args.runs)
    finally:
        _stop(procs)  # each worker applies its pending learning before it exits
    every = warm + results
    assigns = sum(1 for r in every for d in r.decisions if d.kind == "assign")
    bandit, _, credited = RedisPolicyStore(state_url).load("payments", dim=DIM, alpha=1.0)
    charges = Counter((effects / "charges.log").read_text().splitlines())
    emails = Counter((effects / "emails.log").read_text().splitlines())
    return {
        "runs": len(results),
        "seconds": took,
        "rps": len(results) / took,
        "ok": sum(r.status == "ok" for r in every),
        "all": len(every),
        "assigns": assigns,
        "pulls": int(bandit.pulls.sum()),
        "credited": credited,
        "charges": len(charges),
        "charged_twice": sum(v > 1 for v in charges.values()),
        "emails": len(emails),
        "emailed_twice": sum(v > 1 for v in emails.values()),
    }


def shared_budget(args: argparse.Namespace, pg: str, redis: str, home: Path) -> None:
    engine_url = _database(pg, "budget")
    state_url = f"{redis.rsplit('/', 1)[0]}/9"
    effects = home / "effects-budget"
    effects.mkdir(parents=True)
    cap = 0.004  # the worst-case reservations of about 16 runs: less than 32 runs need
    env = {
        **os.environ,
        "ORCH_HOME": str(home / "home-budget"),
        "ORCH_EFFECTS_DIR": str(effects),
        "ORCH_MODEL_LATENCY_S": str(args.latency),
        "ORCH_SPEND_CAP_USD": str(cap),
    }
    procs = _workers(
        4, env, ["--engine-url", engine_url, "--state-url", state_url, "--concurrency", "8"]
    )
    try:
        with Engine(engine_url, data_dir=home / "client", kind="client") as client:
            results, took = _batch(client, "budget", 32)
    finally:
        _stop(procs)
    spent = sum(r.cost_usd for r in results)
    refused = sum(1 for r in results if r.status == "failed" and "spend cap" in (r.error or ""))
    print(
        f"shared budget: 32 runs over 4 workers in {took:.1f} s against a cap of ${cap:.6f}: "
        f"spent ${spent:.6f} ({spent / cap:.2f}x the cap), {sum(r.status == 'ok' for r in results)} "
        f"ok, {refused} refused by the cap",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40, help="runs per worker [default: 40]")
    ap.add_argument("--concurrency", type=int, default=2, help="runs per worker at once")
    ap.add_argument("--latency", type=float, default=0.2, help="seconds per model call")
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="orch-scale-"))
    with postgres_server() as pg, redis_server() as redis:
        rows = {}
        for n in (int(x) for x in args.workers.split(",")):
            rows[n] = row = scale(n, args, pg, redis, home)
            print(
                f"{n} worker(s) x {args.concurrency}: {row['runs']} runs in {row['seconds']:.1f} s"
                f" = {row['rps']:.2f} runs/s; ok {row['ok']}/{row['all']}; assign decisions "
                f"{row['assigns']}, bandit pulls {row['pulls']}, runs credited {row['credited']}; "
                f"charges {row['charges']} (twice {row['charged_twice']}), emails {row['emails']} "
                f"(twice {row['emailed_twice']})",
                flush=True,
            )
        base = rows[min(rows)]["rps"]
        print(
            "speed-up: " + ", ".join(f"{n} workers {r['rps'] / base:.2f}x" for n, r in rows.items())
        )
        shared_budget(args, pg, redis, home)


if __name__ == "__main__":
    main()
