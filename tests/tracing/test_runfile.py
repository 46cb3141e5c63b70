"""The JSONL run-file tracer: OpenTelemetry API spans written one file per run."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from orchestrator.errors import InputError
from orchestrator.tracing.runfile import RunFileTracerProvider
from orchestrator.tracing.spans import ATTR, RunTracer
from orchestrator.tracing.viewer import list_runs, prune_runs


def test_a_run_file_holds_the_root_first_and_every_child(tmp_path: Path) -> None:
    provider = RunFileTracerProvider(tmp_path)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root", attributes={ATTR.RUN_ID: "run-1"}) as root:
        with tracer.start_as_current_span("child", attributes={"a": 1}) as child:
            child.add_event("orchestrator.decision", {"k": "v"})
            grandchild = tracer.start_span("grandchild")
            grandchild.set_status(Status(StatusCode.ERROR, "it broke"))
            grandchild.end()
        root.set_attribute("b", "x")
    # written when the root span ended: on disk without a flush, no temporary file left
    assert [p.name for p in tmp_path.iterdir()] == ["run-1.jsonl"]
    lines = [json.loads(x) for x in (tmp_path / "run-1.jsonl").read_text().splitlines()]
    assert [s["name"] for s in lines] == ["root", "grandchild", "child"]
    r, g, c = lines
    assert r["parent_id"] is None and r["attributes"] == {ATTR.RUN_ID: "run-1", "b": "x"}
    assert c["parent_id"] == r["span_id"] and g["parent_id"] == c["span_id"]
    assert len({s["trace_id"] for s in lines}) == 1
    assert g["status"] == "ERROR" and g["status_message"] == "it broke"
    assert c["events"][0]["name"] == "orchestrator.decision"
    assert c["events"][0]["attributes"] == {"k": "v"}
    assert all(s["end_ns"] >= s["start_ns"] for s in lines)
    provider.shutdown()


def test_api_context_propagation_and_exceptions_work(tmp_path: Path) -> None:
    provider = RunFileTracerProvider(tmp_path)
    tracer = provider.get_tracer("t")
    root = tracer.start_span("root", attributes={ATTR.RUN_ID: "run-2"})
    with pytest.raises(ValueError), trace.use_span(root, end_on_exit=True):
        assert trace.get_current_span() is root
        inner = tracer.start_span("inner")  # parent found through the API context
        inner.end()
        raise ValueError("boom")
    root.set_attribute("late", 1)  # after end: ignored
    assert not root.is_recording()
    provider.force_flush()
    lines = [json.loads(x) for x in (tmp_path / "run-2.jsonl").read_text().splitlines()]
    assert lines[1]["parent_id"] == lines[0]["span_id"]
    assert lines[0]["status"] == "ERROR" and "late" not in lines[0]["attributes"]
    assert lines[0]["events"][0]["name"] == "exception"
    assert lines[0]["events"][0]["attributes"]["exception.message"] == "boom"
    provider.shutdown()


def test_runtime_spans_opened_straight_from_their_parent_nest_like_api_spans(
    tmp_path: Path,
) -> None:
    provider = RunFileTracerProvider(tmp_path)
    tracer = RunTracer(provider)
    root = tracer.workflow("p", run_id="run-3", query="q")
    agent = tracer.agent(root, role="r", stage="s", model="m")
    chat = tracer.chat(agent, model="m")
    chat.end()
    agent.end()
    root.end()
    lines = [json.loads(x) for x in (tmp_path / "run-3.jsonl").read_text().splitlines()]
    by_name = {s["name"]: s for s in lines}
    assert by_name["invoke_agent r"]["parent_id"] == by_name["invoke_workflow p"]["span_id"]
    assert by_name["chat m"]["parent_id"] == by_name["invoke_agent r"]["span_id"]
    assert len({s["trace_id"] for s in lines}) == 1
    assert by_name["invoke_agent r"]["attributes"][ATTR.STAGE] == "s"
    off = RunTracer(trace.NoOpTracerProvider())
    assert not off.agent(
        off.workflow("p", run_id="x", query="q"), role="r", stage="s", model="m"
    ).is_recording()


def test_an_unwritable_trace_directory_warns_and_the_run_goes_on(tmp_path: Path) -> None:
    blocked = tmp_path / "traces"
    blocked.write_text("a file where the trace directory should be")
    tracer = RunFileTracerProvider(blocked).get_tracer("t")
    root = tracer.start_span("root", attributes={ATTR.RUN_ID: "run-4"})
    with pytest.warns(UserWarning, match="could not write trace of run run-4"):
        root.end()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traces"]


def test_a_written_trace_leaves_no_temporary_file(tmp_path: Path) -> None:
    tracer = RunFileTracerProvider(tmp_path / "deep" / "traces").get_tracer("t")
    tracer.start_span("root", attributes={ATTR.RUN_ID: "run-5"}).end()
    assert [p.name for p in (tmp_path / "deep" / "traces").iterdir()] == ["run-5.jsonl"]


def test_decisions_in_a_run_file_match_the_eager_event_attributes(tmp_path: Path) -> None:
    # the run-file span keeps decisions and builds their attributes when the file is
    # written; the result must be what an SDK span gets at record time
    from orchestrator import Runtime
    from orchestrator.tracing.spans import DECISION_EVENT, decision_attributes
    from tests.conftest import make_desk

    rt = Runtime(make_desk(), tracer_provider=RunFileTracerProvider(tmp_path), learn=False)
    result = rt.run("refund my order 42")
    lines = [json.loads(x) for x in (tmp_path / f"{result.run_id}.jsonl").read_text().splitlines()]
    events = sorted(
        (e for s in lines for e in s["events"] if e["name"] == DECISION_EVENT),
        key=lambda e: e["time_ns"],
    )
    assert len(events) == len(result.decisions) > 5
    assert [e["attributes"] for e in events] == [decision_attributes(d) for d in result.decisions]
    assert {"intent", "assign", "memory_tier", "stage"} <= {
        e["attributes"][ATTR.D_KIND] for e in events
    }


def test_prune_removes_by_age_spares_the_newest_and_leaves_foreign_files(tmp_path: Path) -> None:
    tracer = RunFileTracerProvider(tmp_path).get_tracer("t")
    day = 86_400 * 10**9
    now_ns = time.time_ns()
    for i, age_days in enumerate((0, 2, 5, 9)):  # run-0 newest
        tracer.start_span(
            "root",
            attributes={ATTR.RUN_ID: f"run-{i}", ATTR.PIPELINE: "p" if i % 2 else "q"},
            start_time=now_ns - age_days * day,
        ).end(end_time=now_ns - age_days * day + 1)
    (tmp_path / "notes.jsonl").write_text("not a trace\n")
    stale = tmp_path / ".run-9.123.jsonl.tmp"  # a write cut off two hours ago
    stale.write_text("{")
    os.utime(stale, (time.time() - 7200,) * 2)
    fresh = tmp_path / ".run-8.123.jsonl.tmp"  # a write maybe still going
    fresh.write_text("{")
    now = dt.datetime.now()

    with pytest.raises(InputError, match="--older-than AGE, --keep N or both"):
        prune_runs(tmp_path)
    seen = prune_runs(tmp_path, older_than=dt.timedelta(days=3), dry_run=True, now=now)
    assert [r.run_id for r in seen.removed] == ["run-2", "run-3"] and seen.left == 2
    assert len(list_runs(tmp_path)) == 4 and stale.exists()  # a dry run removes nothing

    # older than 1 day, but the 3 newest are spared: only run-3 goes
    done = prune_runs(tmp_path, older_than=dt.timedelta(days=1), keep=3, now=now)
    assert [r.run_id for r in done.removed] == ["run-3"] and done.left == 3
    assert done.partials == [stale] and not stale.exists() and fresh.exists()
    assert done.freed_bytes > 0
    # a pipeline's own runs: of q's (run-0, run-2), all but the newest
    done = prune_runs(tmp_path, keep=1, pipeline="q", now=now)
    assert [r.run_id for r in done.removed] == ["run-2"]
    assert sorted(r.run_id for r in list_runs(tmp_path)) == ["run-0", "run-1"]
    assert (tmp_path / "notes.jsonl").exists()  # not a trace of ours: left alone
    with pytest.raises(InputError, match="no traced run of pipeline 'x'"):
        prune_runs(tmp_path, keep=0, pipeline="x")


def test_prune_goes_on_past_a_file_it_cannot_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracer = RunFileTracerProvider(tmp_path).get_tracer("t")
    for i in range(3):
        tracer.start_span("root", attributes={ATTR.RUN_ID: f"run-{i}"}).end()
    unlink = os.unlink

    def refuse_one(path: str | os.PathLike[str]) -> None:
        if Path(path).name == "run-1.jsonl":
            raise PermissionError(13, "Permission denied")
        unlink(path)

    monkeypatch.setattr(os, "unlink", refuse_one)
    done = prune_runs(tmp_path, keep=0)
    assert sorted(r.run_id for r in done.removed) == ["run-0", "run-2"]
    assert done.failed == [(tmp_path / "run-1.jsonl", "Permission denied")]
    assert [r.run_id for r in list_runs(tmp_path)] == ["run-1"]
