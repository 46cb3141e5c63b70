"""Exam router: real models' recorded answers to MMLU-Pro questions, routed by the policy.

Runs offline: the models are replayed from examples/data/mmlupro-sample (350 questions,
25 per subject, with what 15 real models answered; Apache-2.0, see its NOTICE). Each run
without --query asks a random recorded question; repeated runs teach the policy which
model to trust per subject, at what price:

    for i in $(seq 20); do orch run examples/exam_router.py --cost-weight 500; done
    orch policy show exam-router

--query must be one of the recorded questions; other text gets a clear error naming the
pools that answer free text.
"""

import json
import random
from pathlib import Path

from agents import ModelPool, ModelProfile
from orchestrator import Intent, Pipeline, Role, Stage

DATA = Path(__file__).parent / "data" / "mmlupro-sample"
QUESTIONS = [json.loads(line) for line in (DATA / "queries.jsonl").read_text().splitlines()]

# USD per million tokens: LiteLLM's public list prices (as recorded with the data).
MODELS = {
    "gemini-pro": ("gemini-1.5-pro-002", 1.25, 5.00),
    "gemini-flash": ("gemini-1.5-flash-002", 0.075, 0.30),
    "llama-70b": ("Meta-Llama-3_1-70B-Instruct", 0.88, 0.88),
    "deepseek-v2": ("DeepSeek-Coder-V2", 0.14, 0.28),
    "mistral-7b": ("Mistral-7B-Instruct-v0.2", 0.20, 0.20),
}
pool = ModelPool(
    ModelProfile(
        name=name,
        backend="replay",
        model=recorded,
        data=str(DATA),
        input_price=pin,
        output_price=pout,
    )
    for name, (recorded, pin, pout) in MODELS.items()
)


def _subject_examples() -> list[Intent]:
    by_subject: dict[str, list[str]] = {}
    for q in QUESTIONS:
        by_subject.setdefault(q["category"], []).append(q["prompt"].split("\n")[0])
    return [Intent(s.replace(" ", "_"), examples[:8]) for s, examples in sorted(by_subject.items())]


pipeline = Pipeline(
    "exam-router",
    intents=_subject_examples(),
    stages=[
        Stage("answer", roles=["solver"], next=["done"], start=True),
        Stage("done", terminal=True),
    ],
    roles=[
        Role("solver", "Answer the multiple-choice question with the letter of the right option.")
    ],
    pool=pool,
    sample_query=lambda: random.choice(QUESTIONS)["prompt"],
    min_intent_confidence=0.05,
)
