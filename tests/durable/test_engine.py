"""The durable engine in one process: runs as DBOS workflows on the embedded SQLite
database, submitted to a queue and executed by this process as a worker, listed with
their status, resumed by id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.definition.loader import load_pipeline
from orchestrator.durable import Engine
from orchestrator.errors import InputError
from orchestrator.execution import Runtime

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "examples" / "support_desk.py"


@pytest.fixture
def worker(orch_home: Path) -> Iterator[tuple[Engine, Runtime]]:
    """This process as a launched worker of the support-desk pipeline."""
    pipeline, _ = load_pipeline(SUPPORT)
    engine = Engine(data_dir=orch_home)
    runtime = Runtime(pipeline, data_dir=orch_home, engine=engine)
    engine.launch()
    try:
        yield engine, runtime
    finally:
        runtime.close()
        engine.close()


def test_submitted_runs_execute_and_are_listed_with_their_status(
    worker: tuple[Engine, Runtime],
) -> None:
    engine, runtime = worker
    handles = [runtime.submit("refund order 123, it arrived broken") for _ in range(3)]
    results = [h.result(timeout=60) for h in handles]
    assert [r.run_id for r in results] == [h.run_id for h in handles]
    assert all(r.status in ("ok", "escalated") and r.answer for r in results)
    rows = {r.run_id: r for r in engine.runs()}
    for r in results:
        assert rows[r.run_id].status == r.status
        assert rows[r.run_id].pipeline == "support-desk"
        assert rows[r.run_id].query.startswith("refund order 123")


def test_a_run_finished_in_its_checkpoint_is_settled_not_run_again(
    worker: tuple[Engine, Runtime],
) -> None:
    engine, runtime = worker
    first = runtime.run("refund order 9, it arrived broken", run_id="done1")
    assert runtime.has_checkpoint("done1") and not runtime.resumable("done1")
    # its workflow started after the run ended (a process that died before reporting)
    again = engine.start(runtime, "refund order 9, it arrived broken", run_id="done1")
    result = again.result(timeout=60)
    assert result.trail == first.trail and result.answer == first.answer
    assert result.cost_usd == pytest.approx(first.cost_usd)


def test_resume_refuses_unknown_finished_and_queued_runs(
    worker: tuple[Engine, Runtime], orch_home: Path
) -> None:
    engine, runtime = worker
    with pytest.raises(InputError, match="no run 'nope'"):
        engine.resume("nope")
    done = runtime.submit("refund order 5, it arrived broken")
    done.result(timeout=60)
    with pytest.raises(InputError, match="already finished"):
        engine.resume(done.run_id)
    # a run of a pipeline no live worker serves waits in its queue, and the list says so
    with Engine(data_dir=orch_home, kind="client") as client:
        client.submit("research", "what is durable execution?", run_id="waiting1")
        row = client.row("waiting1")
    assert row is not None and row.status == "queued"
    assert "no live worker serves pipeline 'research'" in row.detail
    with pytest.raises(InputError, match="is queued"):
        engine.resume("waiting1")


def test_submit_without_an_engine_says_how_to_get_one(orch_home: Path) -> None:
    pipeline, _ = load_pipeline(SUPPORT)
    with Runtime(pipeline) as runtime, pytest.raises(InputError, match="submit needs an engine"):
        runtime.submit("hello")


def test_an_engine_url_that_is_not_postgres_is_refused(orch_home: Path) -> None:
    with pytest.raises(InputError, match="not a Postgres URL"):
        Engine("mysql://db/x", data_dir=orch_home)
    with pytest.raises(InputError, match="does not answer"):
        Engine("postgresql://orch@127.0.0.1:1/none", data_dir=orch_home)


def test_a_pipeline_concurrency_limit_holds_over_a_worker_allowing_more(
    orch_home: Path,
) -> None:
    import threading
    import time

    from orchestrator import Pipeline, Role, ScriptedModel, Stage
    from orchestrator.testing import scripted_pool

    lock, running, most = threading.Lock(), [0], [0]

    def answer(messages: object) -> str:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        return "done\nNEXT: end"

    pipeline = Pipeline(
        "one-at-a-time",
        stages=[Stage("work", roles=["r"], next=["end"], start=True), Stage("end", terminal=True)],
        roles=[Role("r", "Work.")],
        pool=scripted_pool(ScriptedModel([answer] * 20, name="m")),
        concurrency=1,
        rate_limit=(100, 1.0),
    )
    engine = Engine(data_dir=orch_home, concurrency=4)  # the worker would run 4 at once
    runtime = Runtime(pipeline, data_dir=orch_home, engine=engine)
    engine.launch()
    try:
        handles = [runtime.submit(f"task {i}") for i in range(4)]
        assert all(h.result(timeout=60).status == "ok" for h in handles)
    finally:
        runtime.close()
        engine.close()
    assert most[0] == 1  # the pipeline's limit, over every worker
