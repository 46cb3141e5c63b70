"""Replay of recorded outcomes: a small set written here, and the real sets when present."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agents import ModelPool, ModelProfile, load_routing_set
from orchestrator import Pipeline, Role, Runtime, Stage
from orchestrator.errors import InputError, PoolConfigError

REAL = Path(
    os.environ.get(
        "ORCH_ROUTING_DATA", Path(__file__).resolve().parents[3] / "shared" / "data" / "routing"
    )
)


def write_set(folder: Path) -> Path:
    folder.mkdir(parents=True)
    queries = [
        {"query_id": "q1", "category": "math", "prompt": "What is 2 + 2?\nA. 3\nB. 4"},
        {"query_id": "q2", "category": "law", "prompt": "Is a verbal contract binding?"},
    ]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n")
    (folder / "routing.csv").write_text(
        "query_id,category,model,quality,cost_usd,input_tokens_est,output_tokens_est\n"
        "q1,math,big,1,0.002,12,3\n"
        "q1,math,small,0,0.0001,12,5\n"
        "q2,law,big,1,0.003,10,4\n"
        "q2,law,small,,,,\n"
    )
    return folder


def answer_pipeline(models: tuple[str, ...] = ("big", "small")) -> Pipeline:
    return Pipeline(
        "answer",
        stages=[
            Stage("answer", roles=["solver"], next=["done"], start=True),
            Stage("done", terminal=True),
        ],
        roles=[Role("solver", "Answer the question.", models=list(models))],
    )


def replay_pool(data: Path) -> ModelPool:
    return ModelPool(
        [ModelProfile(name=m, backend="replay", model=m, data=str(data)) for m in ("big", "small")]
    )


def test_loader_keeps_missing_cells_as_no_record(tmp_path: Path) -> None:
    rs = load_routing_set(write_set(tmp_path / "tiny"))
    assert rs.models == ("big", "small") and rs.query_ids == ("q1", "q2")
    big, small = rs.model_index("big"), rs.model_index("small")
    assert rs.quality[0, big] == 1 and rs.quality[0, small] == 0
    assert rs.cost[1, big] == 0.003
    assert rs.quality[1, small] != rs.quality[1, small]  # NaN: no record, not quality 0
    with pytest.raises(InputError, match="has no model 'huge'"):
        rs.model_index("huge")


def test_replayed_runs_report_recorded_quality_and_cost(tmp_path: Path) -> None:
    data = write_set(tmp_path / "tiny")
    rt = Runtime(answer_pipeline(), pool=replay_pool(data), cost_weight=0.0)
    result = rt.run("What is 2 + 2?\nA. 3\nB. 4")
    assert result.status == "ok"
    model = result.outputs[0]["model"]
    expected = {"big": (1.0, 0.002), "small": (0.0, 0.0001)}[model]
    assert (result.quality, result.cost_usd) == pytest.approx(expected)


def test_a_model_without_a_record_fails_over_and_keeps_its_circuit(tmp_path: Path) -> None:
    data = write_set(tmp_path / "tiny")
    pipeline = answer_pipeline(("small", "big"))  # untrained, all tie: small comes first
    rt = Runtime(pipeline, pool=replay_pool(data), learn=False, data_dir=tmp_path / "home")
    result = rt.run("Is a verbal contract binding?")  # q2: small has no record
    assert result.status == "ok" and result.outputs[0]["model"] == "big"
    reroute = next(d for d in result.decisions if d.kind == "reroute")
    assert "'small' cannot answer this request (no_record)" in reroute.reason
    assert rt.breakers.states() == []  # not an endpoint fault: small stays offered
    assert rt.run("What is 2 + 2?\nA. 3\nB. 4").outputs[0]["model"] == "small"


def test_unrecorded_requests_fail_clearly(tmp_path: Path) -> None:
    data = write_set(tmp_path / "tiny")
    pool = ModelPool([ModelProfile(name="big", backend="replay", model="big", data=str(data))])
    rt = Runtime(answer_pipeline(), pool=pool, only_model="big", data_dir=tmp_path / "home")
    with pytest.raises(InputError, match=r"no record of this request.*offline pool"):
        rt.run("write me a poem")
    assert not (tmp_path / "home" / "policy").exists()  # nothing learned from bad input


def test_pool_file_validation_for_replay(tmp_path: Path) -> None:
    f = tmp_path / "pool.toml"
    f.write_text("[[models]]\nname = 'x'\nbackend = 'replay'\n")
    with pytest.raises(PoolConfigError, match="needs `model`"):
        ModelPool.from_file(f)
    with pytest.raises(InputError, match=r"queries\.jsonl is missing"):
        load_routing_set(tmp_path)


@pytest.mark.skipif(not (REAL / "mmlupro").is_dir(), reason="shared routing data not present")
def test_real_mmlupro_outcomes_replay() -> None:
    rs = load_routing_set(REAL / "mmlupro")
    assert len(rs.query_ids) == 12032 and len(rs.models) == 15
    col = rs.model_index("gemini-1.5-pro-002")
    import numpy as np

    assert abs(float(np.nanmean(rs.quality[:, col])) - 0.702) < 0.005
    pool = ModelPool(
        [
            ModelProfile(
                name="pro", backend="replay", model="gemini-1.5-pro-002", data=str(REAL / "mmlupro")
            )
        ]
    )
    p = Pipeline(
        "answer",
        stages=[
            Stage("answer", roles=["solver"], next=["done"], start=True),
            Stage("done", terminal=True),
        ],
        roles=[Role("solver", "Answer.")],
    )
    result = Runtime(p, pool=pool).run(rs.prompts[0])
    assert result.status == "ok"
    assert result.quality == rs.quality[0, col] and result.cost_usd == pytest.approx(
        rs.cost[0, col]
    )


def test_pool_file_refuses_unrecorded_replay_models(tmp_path: Path) -> None:
    data = write_set(tmp_path / "tiny")
    f = tmp_path / "pool.toml"
    f.write_text(f"[[models]]\nname = 'x'\nbackend = 'replay'\nmodel = 'huge'\ndata = '{data}'\n")
    with pytest.raises(PoolConfigError, match=r"replays model 'huge'.*recorded \['big', 'small'\]"):
        ModelPool.from_file(f)
