"""A research pipeline: planner -> researcher -> writer -> critic -> done (or back to writer).

A question the notes do not cover escalates to a librarian, who says what to look up.

Runs offline on the built-in pool:  orch run examples/research.py
Try:  --query "compare vector search and keyword search"
      --query "how do tides work"   (not in the notes: escalated)
"""

import re

from orchestrator import Intent, Pipeline, Role, Stage, StageView
from skills import skill

# A small local corpus standing in for a search engine.
NOTES = [
    (
        "rag",
        "Retrieval-augmented generation grounds answers in documents fetched at query time; "
        "it needs no retraining when the documents change.",
    ),
    (
        "finetune",
        "Fine-tuning bakes knowledge into the weights; it is costly to redo and can "
        "forget older skills.",
    ),
    (
        "keyword",
        "Keyword search (BM25) matches exact terms; it is cheap, transparent and fails "
        "on synonyms.",
    ),
    (
        "vector",
        "Vector search matches meaning through embeddings; it handles synonyms but needs "
        "an embedding model and an index.",
    ),
    (
        "bandit",
        "Contextual bandits such as LinUCB trade exploration against exploitation with "
        "sublinear regret.",
    ),
]


def _terms(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3}


@skill(produces="sources", ensures=lambda result: len(result) > 0)
def search_notes(query: str) -> list:
    """Find the notes that share the most terms with the question."""
    q = _terms(query)
    scored = sorted(((len(q & _terms(key + " " + text)), key) for key, text in NOTES), reverse=True)
    return [key for score, key in scored[:2] if score > 0]


@skill(produces="digest")
def digest_sources(sources: list) -> str:
    """Join the chosen notes into one digest."""
    return " ".join(text for key, text in NOTES if key in sources)


@skill(produces="source_count")
def count_sources(sources: list) -> int:
    """How many notes the research rests on."""
    return len(sources)


def critic_route(view: StageView) -> str:
    return "done" if view.trail.count("critic") >= 2 or len(view.answer.split()) >= 12 else "writer"


pipeline = Pipeline(
    "research",
    intents=[
        Intent(
            "compare",
            ["compare A and B", "what are the trade-offs of X versus Y", "X or Y, which is better"],
        ),
        Intent("explain", ["explain how X works", "what is X", "why does X happen"]),
    ],
    stages=[
        Stage("plan", roles=["planner"], next=["research"], start=True),
        Stage(
            "research",
            roles=["researcher"],
            goal="digest",
            skills=[search_notes, digest_sources],
            next=["write", "no_sources"],
            escalate_to="no_sources",  # no note matches: nothing to write from
        ),
        Stage("write", roles=["writer"], next=["critique"]),
        Stage(
            "critique",
            roles=["critic"],
            skills=["word_count", count_sources],
            next=["done", "write"],
            route=critic_route,
        ),
        Stage("done", terminal=True),
        Stage("no_sources", roles=["librarian"], terminal=True, failure=True),
    ],
    roles=[
        Role(
            "planner",
            "Break the question into what must be looked up.",
            models=["mini", "standard"],
        ),
        Role(
            "researcher",
            "Gather the relevant notes and summarise what they say.",
            skills=[search_notes, digest_sources],
            models=["mini", "standard", "large"],
        ),
        Role(
            "writer",
            "Write a clear, balanced answer from the research.",
            models=["mini", "standard", "large"],
        ),
        Role(
            "critic",
            "Check the answer is complete and grounded; ask for a rewrite if not.",
            skills=["word_count", count_sources],
            models=["mini", "standard"],
        ),
        Role(
            "librarian",
            "The notes do not cover this question: say so, and what should be looked up.",
            models=["mini"],
        ),
    ],
    sample_query="What are the trade-offs of retrieval-augmented generation versus fine-tuning?",
)
