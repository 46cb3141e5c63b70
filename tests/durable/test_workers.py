"""Worker processes through the real CLI: queued runs executed by `orch worker`, a worker
killed with SIGKILL and its runs finished by a live one, on the embedded SQLite database
and on a real Postgres (started by the fixture)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.durable import Engine
from tests.crash import start_worker
from tests.servers import postgres_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ORCH = str(Path(sys.executable).with_name("orch"))
PAYMENTS = "tests/payments_pipeline.py"


@pytest.fixture
def effects(tmp_path: Path) -> Path:
    folder = tmp_path / "effects"
    folder.mkdir()
    return folder


def _env(home: Path, effects: Path, latency_s: float) -> dict[str, str]:
    return {
        **os.environ,
        "ORCH_HOME": str(home),
        "ORCH_EFFECTS_DIR": str(effects),
        "ORCH_MODEL_LATENCY_S": str(latency_s),
    }


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _effects(effects: Path, log: str) -> Counter[str]:
    path = effects / log
    return Counter(path.read_text("utf-8").splitlines() if path.exists() else [])


def _killed_worker_is_taken_over(
    home: Path, effects: Path, url: str | None, processes: list[subprocess.Popen[str]]
) -> None:
    env = _env(home, effects, latency_s=0.8)
    extra = ("--engine-url", url) if url else ()
    first = start_worker(env, *extra)
    processes.append(first)
    with Engine(url, data_dir=home, kind="client") as client:
        handles = [
            client.submit("payments", f"charge {i} for order 7", run_id=f"r{i}", file=PAYMENTS)
            for i in range(1, 5)
        ]
        deadline = time.monotonic() + 30
        while not _charged(effects) and time.monotonic() < deadline:  # mid-run, on the first
            time.sleep(0.05)
        assert _charged(effects), "the first worker never started the runs"
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed = time.monotonic()
        processes.append(start_worker(env, *extra))  # a live worker; nobody restarts the first
        results = [h.result(timeout=60) for h in handles]
        took = time.monotonic() - killed
        rows = {r.run_id: r.status for r in client.runs()}
    assert [r.status for r in results] == ["ok"] * 4, [r.error for r in results]
    assert took < 60
    assert all(rows[f"r{i}"] == "ok" for i in range(1, 5)), rows
    charges, emails = _effects(effects, "charges.log"), _effects(effects, "emails.log")
    assert len(charges) == 4 and len(emails) == 4  # none lost
    assert set(charges.values()) == {1} and set(emails.values()) == {1}  # none twice


def _charged(effects: Path) -> bool:
    return (effects / "charges.log").exists()


def test_a_killed_worker_runs_are_finished_by_a_livestart_worker(
    tmp_path: Path, effects: Path, processes: list[subprocess.Popen[str]]
) -> None:
    _killed_worker_is_taken_over(tmp_path / "home", effects, None, processes)


def test_workers_on_postgres_take_over_a_killed_worker_runs(
    tmp_path: Path, effects: Path, processes: list[subprocess.Popen[str]]
) -> None:
    with postgres_server() as url:
        try:
            _killed_worker_is_taken_over(tmp_path / "home", effects, url, processes)
        finally:
            for proc in processes:
                proc.kill()


def test_submit_waits_for_the_result_and_warns_when_no_worker_serves(
    tmp_path: Path, effects: Path, processes: list[subprocess.Popen[str]]
) -> None:
    env = _env(tmp_path / "home", effects, latency_s=0.0)
    unserved = subprocess.run(
        [ORCH, "submit", PAYMENTS, "--query", "charge 3 for order 7"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unserved.returncode == 0, unserved.stderr
    run_id = unserved.stdout.strip()
    assert "no live worker serves pipeline 'payments'" in unserved.stderr
    listed = subprocess.run(
        [ORCH, "runs", "list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert run_id in listed.stdout and "queued" in listed.stdout
    assert "no live worker serves pipeline 'payments'" in listed.stdout
    processes.append(start_worker(env))  # the queued run is taken as soon as a worker serves
    waited = subprocess.run(
        [ORCH, "submit", PAYMENTS, "--query", "charge 4 for order 7", "--wait"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert waited.returncode == 0, waited.stderr
    assert "status ok" in waited.stdout and "receipt for 4" in waited.stdout
    with Engine(data_dir=tmp_path / "home", kind="client") as client:
        first = client.row(run_id)
    assert first is not None and first.status == "ok"


def test_an_engine_url_that_does_not_answer_exits_2_in_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [ORCH, "submit", PAYMENTS, "--engine-url", "postgresql://orch@127.0.0.1:1/none"],
        cwd=ROOT,
        env={**os.environ, "ORCH_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "does not answer" in out.stderr, out.stderr


def test_runs_learn_into_redis_with_state_url(tmp_path: Path, redis_url: str) -> None:
    env = {**os.environ, "ORCH_HOME": str(tmp_path / "home")}

    def orch(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ORCH, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    for _ in range(2):
        out = orch("run", "examples/support_desk.py", "--state-url", redis_url, "--trace", "off")
        assert out.returncode == 0, out.stderr
    shown = orch("policy", "show", "support-desk", "--state-url", redis_url)
    assert "2 runs learned from" in shown.stdout, shown.stdout + shown.stderr
    assert not (tmp_path / "home" / "policy" / "support-desk").exists()  # not in files
    down = orch("run", "examples/support_desk.py", "--state-url", "redis://127.0.0.1:1/0")
    assert down.returncode == 2 and "fix --state-url" in down.stderr
    assert down.stderr.count("\n") == 1, down.stderr
