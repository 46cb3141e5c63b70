"""Capability requirements (intent, stage, role) remove models before the bandit sees them."""

from __future__ import annotations

import pytest

from orchestrator import Intent, Pipeline, Role, Runtime, Stage
from orchestrator.errors import DefinitionError, PoolConfigError


def pipeline(
    stage_req: dict | None = None, role_req: dict | None = None, intent_req: dict | None = None
) -> Pipeline:
    return Pipeline(
        "cap",
        intents=[
            Intent("easy", ["say hello", "good morning"]),
            Intent("hard", ["prove the theorem", "derive the formula"], requires=intent_req),
        ],
        stages=[
            Stage("work", roles=["worker"], next=["done"], start=True, requires=stage_req),
            Stage("done", terminal=True),
        ],
        roles=[Role("worker", "Do the work.", requires=role_req)],  # every pool model
    )


def test_requirements_are_validated_at_definition() -> None:
    with pytest.raises(DefinitionError, match="stage 'work' requires 'reasoning': 2"):
        pipeline(stage_req={"reasoning": 2})
    with pytest.raises(DefinitionError, match="role 'worker' requires 'code': -1"):
        Role("worker", "Do.", requires={"code": -1})


def test_models_that_fall_short_are_excluded_and_traced() -> None:
    rt = Runtime(pipeline(stage_req={"reasoning": 0.7}))
    for _ in range(6):
        result = rt.run("say hello")
        assign = next(d for d in result.decisions if d.kind == "assign")
        assert assign.chosen != "worker@mini"
        mini = next(c for c in assign.candidates if c.name == "worker@mini")
        assert mini.excluded_by == "capability: reasoning 0.45 < 0.70" and mini.score is None


def test_intent_requirement_applies_to_its_requests_only() -> None:
    rt = Runtime(pipeline(intent_req={"reasoning": 0.85}, role_req={"tool_use": 0.5}))
    hard = rt.run("prove the theorem please")
    assert hard.intent == "hard"
    assert next(d for d in hard.decisions if d.kind == "assign").chosen == "worker@large"
    easy = rt.run("say hello")
    excluded = [
        c for d in easy.decisions if d.kind == "assign" for c in d.candidates if c.excluded_by
    ]
    assert excluded == []


def test_unmeetable_requirement_names_it_and_the_closest_model() -> None:
    with pytest.raises(PoolConfigError) as info:
        Runtime(pipeline(stage_req={"reasoning": 0.99}))
    msg = str(info.value)
    assert "stage 'work' requires {'reasoning': 0.99}" in msg
    assert "closest in the pool is large (reasoning 0.90)" in msg


def test_a_model_without_a_price_is_warned_about_once_with_what_it_means() -> None:
    from agents import ModelPool, ModelProfile
    from orchestrator.routing.eligibility import UnpricedModelWarning

    pool = ModelPool(
        [
            ModelProfile(name="free", backend="litellm", model="openai/m", api_base="http://x/v1"),
            ModelProfile(name="mini", input_price=0.15, output_price=0.6),
        ]
    )
    with pytest.warns(UnpricedModelWarning) as caught:
        Runtime(pipeline(), pool=pool, budget_usd=0.01).close()
    (warning,) = caught
    text = str(warning.message)
    assert "model 'free' has no price in the pool: its calls count as $0.000000" in text
    assert "the run's budget cannot limit them" in text
    assert "give input_price and output_price" in text
    assert ModelProfile(name="x", backend="litellm", model="m").cost(1000, 1000) == 0.0


def test_a_budget_counts_the_querys_own_length() -> None:
    # 100,000 characters are about 25,000 tokens in every prompt: $0.00375 per call on
    # the cheapest model, so a $0.001 budget admits no call instead of being overshot
    rt = Runtime(pipeline(), budget_usd=0.001, learn=False)
    long = "say hello " + "word " * 20_000
    result = rt.run(long)
    assert result.status == "failed" and "raise the budget" in (result.error or "")
    assert result.cost_usd <= 0.001
    budget = next(d for d in result.decisions if d.kind == "budget")
    assert "arm(s) excluded" in budget.reason
    short = rt.run("say hello")
    assert short.status == "ok" and short.cost_usd <= 0.001
