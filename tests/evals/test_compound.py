"""``orch eval compound``: the comparison with hand-written LangGraph, and the gate scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.errors import InputError
from orchestrator.evals.compound import evaluate_compound, load_example
from tests.cli.test_cli import assert_clean_error, orch

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "examples" / "due_diligence.py", ROOT / "examples" / "market_intel.py"]


def test_compound_beats_the_langgraph_baseline_and_the_gate_reverts() -> None:
    report = evaluate_compound(FILES, queries=6)
    dd, mi = report.pipelines["due-diligence"], report.pipelines["market-intel"]
    assert (dd["agents"], mi["agents"]) == (5, 14)
    for p in (dd, mi):
        assert p["langgraph"]["llm_calls"] == p["agents"] == p["fine"]["llm_calls"]
        assert p["compound"]["llm_calls"] < p["agents"]
        assert p["compound"]["input_tokens"] <= 0.55 * p["langgraph"]["input_tokens"]
    # topology-aware context: fine mode alone already halves the 14-agent transcript cost
    assert mi["fine"]["input_tokens"] < 0.6 * mi["langgraph"]["input_tokens"]
    gate = report.gate
    assert 1 <= gate["runs_to_revert"] <= 10
    drop = gate["drop_at_run"] - 1
    assert gate["timeline"][:3] == ["fine"] * 3
    assert gate["timeline"][drop - 1] == "standard"  # merged before the drop ...
    assert gate["timeline"][-1] == "sequential"  # ... and under the size limit after it


def test_files_without_a_team_or_baseline_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no stage with a team"):
        load_example(ROOT / "examples" / "research.py")
    examples = ROOT / "examples"
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "langgraph_baseline.py").write_text(
        (examples / "baselines" / "langgraph_baseline.py").read_text()
    )
    f = tmp_path / "nobase.py"
    text = (examples / "due_diligence.py").read_text()
    f.write_text(text.replace("def langgraph_baseline", "def other_name"))
    with pytest.raises(InputError, match="defines no langgraph_baseline"):
        load_example(f)


@pytest.mark.e2e
def test_the_cli_writes_the_json_the_issue_asks_for(tmp_path: Path) -> None:
    out_file = tmp_path / "compound.json"
    out = orch("eval", "compound", "--queries", "4", "--json", str(out_file), timeout=300)
    assert out.returncode == 0, out.stderr
    assert "compound saves" in out.stdout and "targets:" in out.stdout
    data = json.loads(out_file.read_text())
    for name, p in data["pipelines"].items():
        assert isinstance(p["agents"], int), name
        for variant in ("langgraph", "fine", "compound"):
            v = p[variant]
            assert isinstance(v["llm_calls"], int) and isinstance(v["input_tokens"], int)
            assert 0 <= v["quality"] <= 1
    assert isinstance(data["gate"]["runs_to_revert"], int)
    bad = orch("eval", "compound", "examples/research.py")
    assert_clean_error(bad, "no stage with a team")
