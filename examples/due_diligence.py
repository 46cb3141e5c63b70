"""Due diligence on a company: a 5-agent team run fine or merged into fewer calls.

Runs offline on the built-in pool:  orch run examples/due_diligence.py
Try:  --query "due diligence on Northwind Robotics"
Compare with a hand-written LangGraph version (``langgraph_baseline`` below):
    orch eval compound examples/due_diligence.py

The ``diligence`` stage has a team: four analysts and a memo writer who reads them. The
compound controller runs the team one call per agent (fine) or merged into fewer calls
when its quality gate allows; the stage's lead role runs the tool graph (company facts)
and the policy picks the model that plays the whole team.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from baselines.langgraph_baseline import transcript_graph

from orchestrator import Intent, Member, Pipeline, Role, Stage
from skills import skill

COMPANIES = {
    "northwind robotics": ("warehouse robots", "USD 41M", "Delaware", "2 pending patent suits"),
    "blue harbor foods": ("frozen seafood", "EUR 18M", "Ireland", "1 recall in 2025"),
    "quanta ledger": ("payments software", "USD 63M", "Singapore", "no open litigation"),
    "alder health": ("clinic scheduling SaaS", "GBP 9M", "England", "GDPR audit open"),
    "ferro mobility": ("e-bike fleet leasing", "EUR 27M", "Netherlands", "lease disputes"),
    "solis grid": ("solar inverter maker", "USD 88M", "Texas", "tariff exposure claim"),
    "kestrel analytics": ("retail demand forecasting", "USD 12M", "Ontario", "none known"),
    "mirren textiles": ("technical fabrics", "INR 900M", "Gujarat", "labour tribunal case"),
}


def _company(query: str) -> str:
    low = query.lower()
    for name in COMPANIES:
        if name in low or name.split()[0] in low:
            return name
    return "kestrel analytics"


@skill(produces="company")
def find_company(query: str) -> str:
    """The company the request is about (from the embedded registry)."""
    return _company(query)


@skill(produces="sector")
def sector_of(company: str) -> str:
    """The company's line of business."""
    return COMPANIES[company][0]


@skill(produces="revenue")
def revenue_of(company: str) -> str:
    """Last reported annual revenue."""
    return COMPANIES[company][1]


@skill(produces="jurisdiction")
def jurisdiction_of(company: str) -> str:
    """Where the company is incorporated."""
    return COMPANIES[company][2]


@skill(produces="legal_flags")
def legal_flags_of(company: str) -> str:
    """Open legal matters on record."""
    return COMPANIES[company][3]


@skill(produces="dossier")
def dossier(company: str, sector: str, revenue: str, jurisdiction: str, legal_flags: str) -> str:
    """One line joining the company facts."""
    return f"{company}: {sector}, {revenue}, {jurisdiction}, {legal_flags}"


# Each analyst's instructions: (name, instructions, members it reads)
ANALYSTS: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "financials",
        "You are a financial analyst. Assess revenue scale, growth signals and the financial "
        "risks a buyer should probe. Quote the figures you are given.",
        (),
    ),
    (
        "legal",
        "You are a corporate lawyer. Assess the jurisdiction and open legal matters, and what "
        "they mean for a transaction.",
        (),
    ),
    (
        "market",
        "You are a market analyst. Assess the sector, its competition and the company's "
        "position in it.",
        (),
    ),
    (
        "risks",
        "You are a risk officer. From the analysts' findings, list the three most material "
        "risks, most severe first.",
        ("financials", "legal", "market"),
    ),
    (
        "memo",
        "You write the investment committee memo: a recommendation (proceed, proceed with "
        "conditions, or stop) with the facts and risks that support it.",
        ("financials", "legal", "risks"),
    ),
]

COMPANY_SKILLS = [find_company, sector_of, revenue_of, jurisdiction_of, legal_flags_of, dossier]

pipeline = Pipeline(
    "due-diligence",
    intents=[
        Intent("diligence", ["due diligence on X", "should we acquire X", "assess company X"]),
    ],
    stages=[
        Stage(
            "diligence",
            roles=["lead"],
            team=[Member(name, after=after) for name, _, after in ANALYSTS],
            skills=COMPANY_SKILLS,
            goal="dossier",
            # the lookups run one after another (each only needs the company)
            tool_edges=[
                ("sector_of", "revenue_of"),
                ("revenue_of", "jurisdiction_of"),
                ("jurisdiction_of", "legal_flags_of"),
            ],
            next=["done"],
            start=True,
        ),
        Stage("done", terminal=True),
    ],
    roles=[
        Role(
            "lead",
            "You lead a due diligence team and gather the company facts.",
            skills=COMPANY_SKILLS,
            models=["standard", "large"],
        ),
        *[Role(name, text, max_output_tokens=300) for name, text, _ in ANALYSTS],
    ],
    sample_query="Run due diligence on Northwind Robotics before we make an offer.",
)

ASKS = [
    "Run due diligence on {} before we make an offer.",
    "Should we acquire {}? Assess it for the investment committee.",
    "Assess {} as an acquisition target: money, legal exposure, market.",
]
QUERIES = [ask.format(name.title()) for ask in ASKS for name in COMPANIES]
"""Evaluation queries (three asks per company)."""


def gather(query: str) -> dict[str, str]:
    """The company facts, as the baseline's tool node fetches them."""
    company = _company(query)
    sector, revenue, jurisdiction, flags = COMPANIES[company]
    return {
        "company": company,
        "sector": sector,
        "revenue": revenue,
        "jurisdiction": jurisdiction,
        "legal_flags": flags,
        "dossier": f"{company}: {sector}, {revenue}, {jurisdiction}, {flags}",
    }


def langgraph_baseline(chat: Callable[[str, str, int], Any]) -> Any:
    """The same pipeline hand-written in LangGraph (see examples/baselines/langgraph_baseline.py)."""
    return transcript_graph([(n, text) for n, text, _ in ANALYSTS], gather, chat)
