"""Warm start: the policy learns from recorded outcomes of its models before it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents import ModelPool, ModelProfile, load_routing_set
from orchestrator import Intent, Pipeline, Role, Runtime, Stage
from orchestrator.errors import InputError
from tests.agents.test_replay import answer_pipeline, replay_pool, write_set
from tests.evals.test_routing import write_specialist_set

ORCH = str(Path(sys.executable).with_name("orch"))
ROOT = Path(__file__).resolve().parents[2]
ALGEBRA = "solve the equation for x 1"
HISTORY = "which empire ruled in year 2"


def specialist_runtime(data: Path, **kw: object) -> Runtime:
    """One stage answered by one of three recorded models: a specialist per kind of query."""
    models = ("mathy", "booky", "tiny")
    pipeline = Pipeline(
        "specialists",
        intents=[
            Intent("algebra", ["solve the equation for x", "solve for y"]),
            Intent("history", ["which empire ruled in year", "which king ruled"]),
        ],
        stages=[
            Stage("answer", roles=["solver"], next=["done"], start=True),
            Stage("done", terminal=True),
        ],
        roles=[Role("solver", "Answer the question.", models=list(models))],
        pool=ModelPool(
            [ModelProfile(name=m, backend="replay", model=m, data=str(data)) for m in models]
        ),
    )
    return Runtime(pipeline, learn=False, **kw)  # type: ignore[arg-type]


def chosen(runtime: Runtime, query: str) -> str:
    result = runtime.run(query)
    return next(d.chosen for d in result.decisions if d.kind == "assign")


def test_warm_start_teaches_each_intent_its_specialist(tmp_path: Path) -> None:
    folder = write_specialist_set(tmp_path / "spec")
    data = load_routing_set(folder)
    cold = specialist_runtime(folder)
    assert [chosen(cold, q) for q in (ALGEBRA, HISTORY)].count("solver@mathy") == 2  # untaught
    cold.close()
    warm = specialist_runtime(folder)
    done = warm.warm_start(data)
    assert done.stage == "answer" and done.queries == len(data.prompts)
    assert done.arms == {"solver@mathy": 240, "solver@booky": 240, "solver@tiny": 240}
    assert done.credits == 720 and done.unmatched == ()
    assert chosen(warm, ALGEBRA) == "solver@mathy"
    assert chosen(warm, HISTORY) == "solver@booky"
    warm.close()


def test_warm_start_credits_each_record_once_and_persists(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "tiny")  # big answered both queries, small only one
    runtime = Runtime(answer_pipeline(), pool=replay_pool(folder), data_dir=tmp_path / "home")
    done = runtime.warm_start(load_routing_set(folder))
    runtime.close()
    assert done.arms == {"solver@big": 2, "solver@small": 1}
    again = Runtime(answer_pipeline(), pool=replay_pool(folder), data_dir=tmp_path / "home")
    bandit = again.policy.bandit
    pulls = {arm: int(bandit.pulls[bandit.index(arm)]) for arm in done.arms}
    assert pulls == done.arms
    assert again.runs == 0 and again.policy.pheromone.intents() == []  # records are not runs
    # the recorded reward: quality - cost_weight x cost; big on q1 earned 1 - 20 x 0.002
    assert float(bandit.b[bandit.index("solver@big")][0]) == pytest.approx(
        (1 - 20 * 0.002) + (1 - 20 * 0.003)
    )
    again.close()


def test_warm_start_refuses_what_it_cannot_match(tmp_path: Path) -> None:
    folder = write_set(tmp_path / "tiny")
    data = load_routing_set(folder)
    two = Pipeline(
        "two",
        stages=[
            Stage("draft", roles=["solver"], next=["check"], start=True),
            Stage("check", roles=["solver"], terminal=True),
        ],
        roles=[Role("solver", "Answer.", models=["big", "small"])],
    )
    runtime = Runtime(two, pool=replay_pool(folder))
    with pytest.raises(InputError, match=r"2 stages with roles \(draft, check\).*--stage"):
        runtime.warm_start(data)
    with pytest.raises(InputError, match="no stage 'nope' with roles"):
        runtime.warm_start(data, stage="nope")
    assert runtime.warm_start(data, stage="check").arms == {"solver@big": 2, "solver@small": 1}
    runtime.close()
    offline = Runtime(answer_pipeline(("mini", "standard")))
    with pytest.raises(InputError, match=r"no records of the models.*\(mini, standard\)"):
        offline.warm_start(data)
    offline.close()
    assert np.all(offline.policy.bandit.pulls == 0)


@pytest.mark.e2e
def test_cli_warm_starts_the_exam_router(tmp_path: Path) -> None:
    home = ["--data-dir", str(tmp_path / "home")]
    sample = "examples/data/mmlupro-sample"
    run = subprocess.run(
        [ORCH, "policy", "warm", "examples/exam_router.py", "--data", sample, *home],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert "stage 'answer': 350 recorded queries" in run.stdout
    assert "solver@gemini-pro" in run.stdout
    show = subprocess.run(
        [ORCH, "policy", "show", "exam-router", *home],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert "solver@gemini-pro                pulls   350" in show.stdout, show.stdout
    bad = subprocess.run(
        [ORCH, "policy", "warm", "examples/exam_router.py", "--data", str(tmp_path), *home],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert bad.returncode == 2 and "is not a routing set" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
