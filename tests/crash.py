"""Kill -9 a run at a random moment, resume it, and count what its side effects did.

Used by ``tests/execution/test_crash.py`` (a few kills) and
``tests/benchmarks/crash_suite.py`` (many): each trial starts ``orch run`` on
``tests/payments_pipeline.py``, waits for the run's id on stderr, kills the process with
SIGKILL after a random delay, resumes the run with ``orch resume RUN_ID`` until it ends,
and reads the side-effect logs.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORCH = str(Path(sys.executable).with_name("orch"))
PIPELINE = "tests/payments_pipeline.py"


@dataclass(frozen=True, slots=True)
class Trial:
    """What one killed-and-resumed run did."""

    run_id: str
    killed_after_s: float
    finished: bool
    """Whether the resumed run ended (status ok)."""
    interrupted: bool
    """Whether the kill stopped the run before its end (else it had finished already)."""
    resumes: int
    charges: Counter[str]
    """Executions of ``charge_card`` by idempotency key."""
    emails: Counter[str]

    @property
    def executed_twice(self) -> int:
        """Side-effect calls that ran more than once (one key, several executions)."""
        return sum(1 for n in (*self.charges.values(), *self.emails.values()) if n > 1)

    @property
    def effects(self) -> tuple[int, int]:
        """Distinct charges and emails (what a service deduplicating by key did)."""
        return len(self.charges), len(self.emails)


def _env(home: Path, effects: Path) -> dict[str, str]:
    return {**os.environ, "ORCH_HOME": str(home), "ORCH_EFFECTS_DIR": str(effects)}


def _count(effects: Path, log: str, run_id: str) -> Counter[str]:
    path = effects / log
    lines = path.read_text("utf-8").splitlines() if path.exists() else []
    return Counter(line for line in lines if line.startswith(f"{run_id}:"))


def trial(home: Path, effects: Path, rng: random.Random, *, max_delay_s: float = 1.0) -> Trial:
    """One `orch run` killed after a random delay (0 to ``max_delay_s`` after its id is printed),
    then resumed to its end (at most three resumes)."""
    env = _env(home, effects)
    proc = subprocess.Popen(
        [ORCH, "run", PIPELINE, "--query", f"charge {rng.randint(1, 99)} for order 7"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "started run ID (...)", printed before any work
    if not line.startswith("started run "):
        proc.kill()
        raise RuntimeError(f"orch run did not start a run: {line!r} {proc.stderr.read()}")
    run_id = line.split()[2]
    delay = rng.uniform(0.0, max_delay_s)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished, resumes, interrupted = False, 0, True
    for _ in range(3):
        out = subprocess.run(
            [ORCH, "resume", run_id],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        resumes += 1
        if out.returncode == 0 and "status ok" in out.stdout:
            finished = True
            break
        if "already finished" in out.stderr:  # it ended before the kill
            finished, interrupted = True, resumes > 1
            break
        if f"no run {run_id!r}" in out.stderr:  # killed before its workflow was started
            break
    return Trial(
        run_id=run_id,
        killed_after_s=delay,
        finished=finished,
        interrupted=interrupted,
        resumes=resumes,
        charges=_count(effects, "charges.log", run_id),
        emails=_count(effects, "emails.log", run_id),
    )


def start_worker(env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    """`orch worker` on the payments pipeline, once it says it serves."""
    proc = subprocess.Popen(
        [ORCH, "worker", PIPELINE, "--trace", "off", "--concurrency", "4", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if "serving payments" not in line:
        proc.kill()
        raise RuntimeError(f"the worker did not start: {line!r} {proc.stderr.read()}")
    return proc


def worker_trial(
    home: Path,
    effects: Path,
    rng: random.Random,
    worker: subprocess.Popen[str],
    *,
    runs: int = 5,
    max_delay_s: float = 0.8,
    tag: str = "w",
) -> tuple[list[Trial], subprocess.Popen[str]]:
    """``runs`` runs submitted to the live ``worker``, which is killed with SIGKILL after
    a random delay; a new worker (nobody restarts the dead one) must finish them. Returns
    each run's trial and the new worker (the next trial's victim)."""
    from orchestrator.durable import Engine

    env = _env(home, effects)
    with Engine(data_dir=home, kind="client") as client:
        ids = [f"{tag}{i}" for i in range(runs)]
        handles = [
            client.submit(
                "payments", f"charge {rng.randint(1, 99)} for order 7", run_id=r, file=PIPELINE
            )
            for r in ids
        ]
        delay = rng.uniform(0.0, max_delay_s)
        time.sleep(delay)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        rows = {r.run_id: r.status for r in client.runs(limit=None)}
        interrupted = {r for r in ids if rows.get(r) in ("running", "queued")}
        replacement = start_worker(env)
        finished = {}
        for r, h in zip(ids, handles, strict=True):
            try:
                finished[r] = h.result(timeout=120).status == "ok"
            except TimeoutError:
                finished[r] = False
    trials = [
        Trial(
            run_id=r,
            killed_after_s=delay,
            finished=finished[r],
            interrupted=r in interrupted,
            resumes=0,
            charges=_count(effects, "charges.log", r),
            emails=_count(effects, "emails.log", r),
        )
        for r in ids
    ]
    return trials, replacement
