"""orch eval memory: LoCoMo-format loading, the JSON it writes, bad input, the real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import InputError
from orchestrator.evals.memory import evaluate_memory, load_conversations

LOCOMO = Path(__file__).resolve().parents[3] / "shared" / "data" / "locomo"
ORCH = str(Path(sys.executable).with_name("orch"))


def _conversation(path: Path) -> None:
    turns = [
        ("Ann", "I adopted a beagle called Biscuit"),
        ("Bob", "Lovely! I just started the violin"),
        ("Ann", "Biscuit chewed my shoes yesterday"),
        ("Bob", "My violin teacher is very patient"),
    ]
    data = {
        "speaker_a": "Ann",
        "speaker_b": "Bob",
        "session_1_date_time": "1 May 2023",
        "session_1": [
            {"speaker": s, "dia_id": f"D1:{i + 1}", "text": t} for i, (s, t) in enumerate(turns[:2])
        ],
        "session_2_date_time": "9 May 2023",
        "session_2": [
            {"speaker": s, "dia_id": f"D2:{i + 1}", "text": t} for i, (s, t) in enumerate(turns[2:])
        ],
        "session_1_summary": "ANNOTATION: never read",
        "qa": [
            {
                "question": "What did Biscuit chew?",
                "answer": "shoes",
                "evidence": ["D2:1"],
                "category": 4,
            },
            {
                "question": "Who teaches Bob?",
                "answer": "a teacher",
                "evidence": ["D2:2"],
                "category": 1,
            },
            {"question": "No evidence here", "answer": "-", "evidence": [], "category": 5},
        ],
    }
    path.write_text(json.dumps(data))


def test_loader_reads_turns_only_and_the_cli_writes_the_documented_json(tmp_path: Path) -> None:
    _conversation(tmp_path / "conv-x.json")
    convs = load_conversations(tmp_path)
    assert [i.id for i in convs[0].items] == ["D1:1", "D1:2", "D2:1", "D2:2"]
    assert all("ANNOTATION" not in i.text for i in convs[0].items)
    assert len(convs[0].questions) == 2  # the one without evidence is not scored
    out = tmp_path / "m.json"
    done = subprocess.run(
        [
            ORCH,
            "eval",
            "memory",
            "--data",
            str(tmp_path),
            "--json",
            str(out),
            "--budget-share",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["questions"] == 2
    assert (
        set(data["full_context"]) == {"recall", "tokens"} and data["full_context"]["recall"] == 1.0
    )
    for p in ("recent", "bm25", "bm25+context", "routed"):
        assert 0 <= data["policies"][p]["recall"] <= 1
        assert data["policies"][p]["tokens"] <= 0.5 * data["full_context"]["tokens"]
    assert data["policies"]["bm25"]["recall"] == 1.0  # both answers share words with the question


def test_bad_memory_data_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_conversations(tmp_path / "nope")
    with pytest.raises(InputError, match="holds no"):
        load_conversations(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_conversations(tmp_path)
    (tmp_path / "bad.json").write_text('{"speaker_a": "x"}')
    with pytest.raises(InputError, match="not a LoCoMo conversation"):
        load_conversations(tmp_path)


@pytest.mark.skipif(not LOCOMO.is_dir(), reason="the LoCoMo data is not beside this checkout")
def test_high_tier_meets_the_recall_target_on_locomo() -> None:
    report = evaluate_memory(load_conversations(LOCOMO))
    assert report.questions > 1000
    assert report.target("bm25+context")
    assert report.policies["bm25"]["recall"] > report.policies["recent"]["recall"]
