"""The call journal: a resumed run takes what its calls returned before it stopped, and
never makes a recorded call again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agents import ScriptedModel
from orchestrator import Pipeline, Role, Runtime, Stage
from orchestrator.execution import sqlite_checkpointer
from orchestrator.execution.graph import journal_for
from orchestrator.execution.journal import MISSING, MemoryJournal, SqliteJournal
from orchestrator.testing import scripted_pool
from skills import idempotency_key, skill


def test_a_journal_keeps_the_first_value_of_a_key_and_survives_a_reconnect(
    tmp_path: Path,
) -> None:
    saver = sqlite_checkpointer(tmp_path / "c.sqlite")
    journal = journal_for(saver)
    assert isinstance(journal, SqliteJournal) and journal.get("run", "k") is MISSING
    journal.put("run", "k", [True, {"receipt": "R-1"}, "ok"])
    journal.put("run", "k", [False, "again", "error"])  # a second put is ignored
    saver.conn.close()  # type: ignore[attr-defined]
    reread = journal_for(sqlite_checkpointer(tmp_path / "c.sqlite"))
    assert reread is not None and reread.get("run", "k") == [True, {"receipt": "R-1"}, "ok"]
    assert reread.get("other", "k") is MISSING
    memory = MemoryJournal()
    memory.put("r", "k", 1)
    memory.put("r", "k", 2)
    assert memory.get("r", "k") == 1 and memory.get("r", "x") is MISSING


def test_a_resumed_run_does_not_repeat_a_side_effect_or_a_paid_model_call(
    tmp_path: Path,
) -> None:
    charged: list[str | None] = []

    @skill(produces="receipt", side_effects=True)
    def charge(query: str) -> str:
        """Charge the card."""
        charged.append(idempotency_key())
        return "R-1"

    pipeline = Pipeline(
        "pay",
        stages=[
            Stage("a", roles=["r"], next=["b"], start=True),
            Stage("b", roles=["r"], skills=[charge], goal="receipt", next=["done"]),
            Stage("done", terminal=True),
        ],
        roles=[Role("r", "Do.", skills=[charge])],
    )
    # the model answers stage a, then fails in stage b after the charge ran
    model = ScriptedModel(["a done", RuntimeError("HTTP 503")], name="m")
    saver = sqlite_checkpointer(tmp_path / "c.sqlite")
    rt = Runtime(pipeline, pool=scripted_pool(model), checkpointer=saver, learn=False)
    failed = rt.run("charge it")
    assert failed.status == "failed" and charged == [f"{failed.run_id}:b:0:charge#1"]
    assert len(model.calls) == 2
    resumed = rt.resume(failed.run_id)
    assert resumed.status == "ok", resumed.error
    assert charged == [f"{failed.run_id}:b:0:charge#1"]  # not charged again
    assert resumed.facts["receipt"] == "R-1"
    assert len(model.calls) == 3  # stage b's answer; stage a's was not asked again
    # the journal holds what the visits recorded: their arms, replies and calls
    rows = sqlite3.connect(tmp_path / "c.sqlite").execute(
        "SELECT key FROM orch_calls WHERE run_id = ? ORDER BY key", (failed.run_id,)
    )
    keys = [k for (k,) in rows]
    assert f"{failed.run_id}:b:0:charge#1" in keys and f"{failed.run_id}:a:0:answer" in keys
