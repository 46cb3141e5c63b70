"""Routing evaluation by replay: a synthetic set with a known answer, the CLI, real data."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents import load_routing_set
from orchestrator.errors import InputError
from orchestrator.evals.routing import LAMBDAS, ONLINE, POLICIES, evaluate_routing, report
from orchestrator.evals.routing.frontier import above, curve, dominates
from orchestrator.evals.routing.report import at_half_cost
from orchestrator.evals.routing.simulation import SeedResult, run_online
from tests.agents.test_replay import REAL

ORCH = str(Path(sys.executable).with_name("orch"))


def write_specialist_set(folder: Path, n: int = 240) -> Path:
    """Two kinds of query; each has a specialist model, the other model is right half the time."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    queries, rows = [], ["query_id,category,model,quality,cost_usd"]
    for i in range(n):
        cat = "algebra" if i % 2 else "history"
        words = "solve the equation for x" if cat == "algebra" else "which empire ruled in year"
        queries.append({"query_id": f"q{i}", "category": cat, "prompt": f"{words} {i}"})
        alg_q = 1 if cat == "algebra" else int(rng.random() < 0.5)
        his_q = 1 if cat == "history" else int(rng.random() < 0.5)
        rows.append(f"q{i},{cat},mathy,{alg_q},0.002")
        rows.append(f"q{i},{cat},booky,{his_q},0.001")
        rows.append(f"q{i},{cat},tiny,0,0.0001")
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n")
    (folder / "routing.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_policies_learn_the_specialists(tmp_path: Path) -> None:
    data = load_routing_set(write_specialist_set(tmp_path / "spec"))
    report = evaluate_routing(data, seeds=2)
    at0 = {name: pts[0] for name, pts in report.points.items()}  # lambda = 0
    assert report.oracle["quality"] == pytest.approx(1.0)
    assert report.best_single["quality"] < 0.85
    for learner in ("ours", "ours_warm", "linucb", "knn"):
        assert at0[learner][1] >= 0.95, (learner, at0[learner])
    assert at0["random"][1] < 0.8
    assert min(c for c, *_ in report.points["cheapest"]) == pytest.approx(0.0001)
    for name, pts in report.points.items():
        assert len(pts) == len(LAMBDAS), name
        assert all(q <= report.oracle["quality"] + 1e-9 for _, q, *_ in pts), name
        # regret: the oracle's mean reward minus the policy's, at each point's lambda
        assert [lam for _, _, lam, _ in pts] == list(LAMBDAS), name
        assert all(regret >= -1e-12 for *_, regret in pts), name
    for name, (_, q, _, regret) in at0.items():  # with cost weighing nothing: quality lost
        assert regret == pytest.approx(report.oracle["quality"] - q), name
    assert at0["random"][3] > 0.2 > at0["ours"][3]
    # while learning online: the same regret per training query, exploration included
    assert set(report.learning_regret) == set(ONLINE)
    for name, regrets in report.learning_regret.items():
        assert len(regrets) == len(LAMBDAS) and min(regrets) >= -1e-12, name
    assert report.learning_regret["ours"][0] < at0["random"][3]  # it learns as it goes
    out = report.as_json()
    assert {"queries", "best_single", "oracle", "frontier"} <= set(out)
    assert {"ours", "knn"} <= set(out["frontier"])
    assert set(out["best_single"]) == {"model", "quality", "cost"}
    # each seed's own frontier at half the best model's cost, with its spread
    assert set(out["at_half_cost"]) == set(POLICIES)
    ours_half = out["at_half_cost"]["ours"]
    assert ours_half["standard_error"] >= 0
    best = report.best_single["quality"]
    assert 0.7 < ours_half["quality_vs_best"] <= report.oracle["quality"] / best
    assert report.at_half_cost["cheapest"][0] == 0.0  # the tiny model is never right
    # picking at random costs the models' mean price, more than half the best one's
    assert out["at_half_cost"]["random"] == {"quality_vs_best": None, "standard_error": None}
    costs = [c for c, _ in out["frontier"]["ours"]]
    quals = [q for _, q in out["frontier"]["ours"]]
    assert costs == sorted(costs) and quals == sorted(quals)  # a Pareto frontier


def test_seeds_spread_over_processes_give_the_same_report(tmp_path: Path) -> None:
    data = load_routing_set(write_specialist_set(tmp_path / "spec", n=120))
    said: list[str] = []
    two = evaluate_routing(data, seeds=2, jobs=2, progress=said.append)
    assert two.as_json() == evaluate_routing(data, seeds=2, jobs=1).as_json()
    assert "2 processes" in said[0] and sum("finished" in m for m in said) == 2
    with pytest.raises(ValueError, match="jobs"):
        evaluate_routing(data, jobs=0)


def _die(seed: int) -> None:
    os._exit(1)  # a worker killed mid-seed (say, out of memory)


def test_a_worker_that_dies_is_reported_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the dying worker is patched in by forking")
    data = load_routing_set(write_specialist_set(tmp_path / "spec", n=60))
    monkeypatch.setattr(report, "_seed_in_worker", _die)
    with pytest.raises(InputError, match=r"ended abruptly .* fewer processes than 2"):
        evaluate_routing(data, seeds=2, jobs=2)


@pytest.mark.e2e
def test_cli_writes_the_documented_json(tmp_path: Path) -> None:
    data = write_specialist_set(tmp_path / "spec", n=120)
    out = tmp_path / "r.json"
    args = ["--data", str(data), "--json", str(out), "--seeds", "2", "--jobs", "2"]
    run = subprocess.run(
        [ORCH, "eval", "routing", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "best single model:" in run.stdout and "2 processes" in run.stderr
    assert "regret against the oracle" in run.stdout and "while learning" in run.stdout
    assert "at half the best model's cost" in run.stdout and "x ± 0." in run.stdout
    assert set(json.loads(out.read_text())["learning_regret"]) == set(ONLINE)
    assert "seed 1/2 done" in run.stderr and "seed 2/2 done" in run.stderr
    result = json.loads(out.read_text())
    assert result["queries"] == 120 and "ours" in result["frontier"]
    bad = subprocess.run(
        [ORCH, "eval", "routing", "--data", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "queries.jsonl is missing" in bad.stderr
    # an output that cannot be written is refused before the evaluation, not after it
    for flag in ("--json", "--plot"):
        bad = subprocess.run(
            [ORCH, "eval", "routing", "--data", str(data), flag, str(tmp_path / "no" / "r.out")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 2, bad.stderr
        assert f"Invalid value for '{flag}'" in bad.stderr and "does not exist" in bad.stderr
        assert "seed 1/" not in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.skipif(not (REAL / "routerbench").is_dir(), reason="shared routing data not present")
def test_real_routerbench_sanity() -> None:
    report = evaluate_routing(load_routing_set(REAL / "routerbench"), seeds=1)
    assert report.best_single["model"] == "gpt-4-1106-preview"
    assert report.oracle["quality"] > 0.95
    ours = report.frontier["ours"]
    assert max(q for _, q, *_ in ours) > 0.8  # learns far better than random
    assert min(c for c, *_ in ours) < report.best_single["cost"] / 5


def test_frontiers_compare_as_curves() -> None:
    # two sweeps of one rising trade-off, sampled at interleaved costs: each "beats" the
    # other at its own points, but as curves ours lies above everywhere
    ours = [[1.0, 0.50], [3.0, 0.80], [5.0, 0.90]]
    knn = [[1.0, 0.50], [2.0, 0.62], [4.0, 0.84], [5.0, 0.88]]
    assert not dominates(ours, knn)  # kNN's (2, 0.62) has no ours point at <= 2 as good
    assert above(ours, knn) is None
    # truly below on a stretch: found, with where
    worse = [[1.0, 0.50], [3.0, 0.60], [5.0, 0.90]]
    assert above(worse, knn) == pytest.approx([2.0, 0.55, 0.62])
    # the other cannot be cheaper than anything ours offers
    assert above(ours, [[0.5, 0.3], *knn]) == pytest.approx([0.5, -np.inf, 0.3])
    # beyond its dearest point a frontier keeps its best quality
    assert curve(ours, 9.0) == 0.90 and above(ours, [[9.0, 0.91]]) is not None
    # differences below one query's share of the mean are not differences
    assert above(ours, [[0.9999, 0.5004]], resolution=1e-3) is None
    assert above(ours, [[0.99, 0.5004]], resolution=1e-3) is not None


def test_each_seed_is_read_at_half_its_best_models_cost() -> None:
    seed = SeedResult
    # best model 0.8 at cost 4: half its cost is 2, where the frontier (1, 0.6)-(3, 0.8)
    # reads 0.7, and a dearer, worse point is not on the frontier
    one = seed(("m", 0.8, 4.0), {"p": [(1.0, 0.6, 0.0), (3.0, 0.8, 0.0), (3.5, 0.7, 0.0)]}, {})
    # best model 0.5 at cost 2: half is 1, exactly its point of 0.45
    two = seed(("m", 0.5, 2.0), {"p": [(1.0, 0.45, 0.0), (0.5, 0.3, 0.0)]}, {})
    mean, se = at_half_cost([one, two], "p")
    assert mean == pytest.approx((0.7 / 0.8 + 0.45 / 0.5) / 2)
    assert se == pytest.approx(np.std([0.7 / 0.8, 0.9], ddof=1) / np.sqrt(2))
    assert at_half_cost([one], "p") == (pytest.approx(0.875), None)  # one seed: no spread
    # a seed where the policy never gets that cheap: no figure, rather than a wrong one
    dear = seed(("m", 0.5, 2.0), {"p": [(1.5, 0.45, 0.0)]}, {})
    mean, se = at_half_cost([one, dear], "p")
    assert np.isnan(mean) and se is None


def test_the_runtime_explores_as_the_evaluation_measured() -> None:
    """The evaluation's figures describe the runtime's policy only with the same
    exploration weight (they once differed: 1.0 measured, 0.5 run)."""
    import inspect

    from orchestrator.execution import Runtime
    from orchestrator.routing.linucb import ALPHA, LinUCB

    defaults = [
        inspect.signature(f).parameters["alpha"].default for f in (Runtime, LinUCB, run_online)
    ]
    assert defaults == [ALPHA] * 3
