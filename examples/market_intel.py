"""Competitive intelligence on a rival: a 14-agent team run fine or merged into fewer calls.

Runs offline on the built-in pool:  orch run examples/market_intel.py
Try:  --query "competitive brief on Voltix"
Compare with a hand-written LangGraph version (``langgraph_baseline`` below):
    orch eval compound examples/market_intel.py

Eight collectors each cover one signal, four analysts each read the collectors they need,
a strategist reads the analysts and a writer turns it into the brief. The compound
controller decides how many calls the 14 agents take, gated on measured quality.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from baselines.langgraph_baseline import transcript_graph

from orchestrator import Intent, Member, Pipeline, Role, Stage
from skills import skill

RIVALS = {
    "voltix": ("EV chargers", "cut prices 12%", "hiring 40 firmware engineers", "Series C"),
    "aerolume": ("drone inspection", "new enterprise tier", "hiring sales in Germany", "IPO filed"),
    "cobalt lane": ("freight brokerage", "prices flat", "hiring freeze", "Series B extension"),
    "pixelforge": ("game engines", "free indie tier", "hiring 12 ML researchers", "profitable"),
    "tidewell": ("water sensors", "raised prices 8%", "hiring installers", "grant funded"),
    "orbitra": ("satellite imagery", "per-image pricing", "hiring in Japan", "Series D"),
}


def _rival(query: str) -> str:
    low = query.lower()
    for name in RIVALS:
        if name in low or name.split()[0] in low:
            return name
    return "voltix"


@skill(produces="rival")
def find_rival(query: str) -> str:
    """The competitor the request is about (from the embedded watch list)."""
    return _rival(query)


@skill(produces="signals")
def rival_signals(rival: str) -> str:
    """The latest tracked signals on the competitor, in one line."""
    market, pricing, hiring, funding = RIVALS[rival]
    return f"market {market}; pricing {pricing}; hiring {hiring}; funding {funding}"


def gather(query: str) -> dict[str, str]:
    """The facts the baseline's tool node fetches (the same as the skills')."""
    rival = _rival(query)
    market, pricing, hiring, funding = RIVALS[rival]
    return {
        "rival": rival,
        "signals": f"market {market}; pricing {pricing}; hiring {hiring}; funding {funding}",
    }


COLLECT = "From the signals given, report only what concerns {what}, with the figures."
AGENTS: list[tuple[str, str, tuple[str, ...]]] = [
    ("pricing", "You track competitor pricing. " + COLLECT.format(what="pricing"), ()),
    ("product", "You track product launches. " + COLLECT.format(what="products"), ()),
    ("hiring", "You track hiring. " + COLLECT.format(what="hiring and team growth"), ()),
    ("patents", "You track patents. " + COLLECT.format(what="technology and IP"), ()),
    ("news", "You track press coverage. " + COLLECT.format(what="news and announcements"), ()),
    ("reviews", "You track customer reviews. " + COLLECT.format(what="customer sentiment"), ()),
    ("partners", "You track partnerships. " + COLLECT.format(what="partners and channels"), ()),
    ("funding", "You track funding. " + COLLECT.format(what="funding and runway"), ()),
    (
        "threats",
        "You are a threat analyst. From the product, patent and news reports, name the "
        "threats this rival poses to us.",
        ("product", "patents", "news"),
    ),
    (
        "openings",
        "You are an opportunity analyst. From the reviews, pricing and partner reports, name "
        "where we can win customers from this rival.",
        ("reviews", "pricing", "partners"),
    ),
    (
        "positioning",
        "You are a positioning analyst. From the pricing, product and review reports, place "
        "the rival on price and capability against us.",
        ("pricing", "product", "reviews"),
    ),
    (
        "capacity",
        "You are a financial analyst. From the funding and hiring reports, judge how much the "
        "rival can invest over the next year.",
        ("funding", "hiring"),
    ),
    (
        "strategist",
        "You are the strategist. From the four analyses, recommend our top three moves.",
        ("threats", "openings", "positioning", "capacity"),
    ),
    (
        "writer",
        "You write the one-page competitive brief for executives: the rival, the key signals, "
        "and the recommended moves.",
        ("strategist", "threats", "openings"),
    ),
]

pipeline = Pipeline(
    "market-intel",
    intents=[Intent("brief", ["competitive brief on X", "what is rival X doing", "track X"])],
    stages=[
        Stage(
            "intel",
            roles=["desk"],
            team=[Member(name, after=after) for name, _, after in AGENTS],
            skills=[find_rival, rival_signals],
            goal="signals",
            next=["done"],
            start=True,
        ),
        Stage("done", terminal=True),
    ],
    roles=[
        Role(
            "desk",
            "You run the competitive intelligence desk and gather the rival's signals.",
            skills=[find_rival, rival_signals],
            models=["standard", "large"],
        ),
        *[Role(name, text, max_output_tokens=250) for name, text, _ in AGENTS],
    ],
    sample_query="Competitive brief on Voltix: what are they doing and how do we respond?",
)

ASKS = [
    "Competitive brief on {}: how do we respond?",
    "What is {} doing, and what should we do about it?",
    "Track {} for the exec team: signals, threats, our moves.",
    "Prepare the quarterly rival review of {}.",
]
QUERIES = [ask.format(name.title()) for ask in ASKS for name in RIVALS]
"""Evaluation queries (four asks per rival)."""


def langgraph_baseline(chat: Callable[[str, str, int], Any]) -> Any:
    """The same pipeline hand-written in LangGraph (see examples/baselines/langgraph_baseline.py)."""
    return transcript_graph([(n, text) for n, text, _ in AGENTS], gather, chat, max_tokens=250)
