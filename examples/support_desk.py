"""A customer-support desk: triage -> refund | troubleshoot -> review -> done, or escalate.

Runs offline on the built-in pool:  orch run examples/support_desk.py
Try:  --query "refund order 456"   (not delivered yet: the refund precondition blocks it)
      --query "refund order 789"   (only in the archive: the tool graph reroutes)
      --query "the app crashes when I log in"
"""

from orchestrator import Intent, Pipeline, Role, Stage, StageView
from skills import skill

# A tiny order system standing in for a real one.
ORDERS = {
    "123": {"status": "delivered", "total": 49.99, "item": "kettle"},
    "456": {"status": "shipped", "total": 15.00, "item": "mug"},
}
ARCHIVE = {"789": {"status": "delivered", "total": 120.00, "item": "blender"}}
KNOWLEDGE_BASE = {
    "crash": "KB-101: clear the app cache, then reinstall the latest version.",
    "login": "KB-204: reset your password from the sign-in page; links expire in 1 hour.",
    "payment": "KB-310: payments can take 3 business days to appear.",
}
REFUNDED: set[str] = set()


@skill(requires=lambda query: any(c.isdigit() for c in query), produces="order_id")
def extract_order_id(query: str) -> str:
    """Find the order number in the customer's message."""
    return "".join(c if c.isdigit() else " " for c in query).split()[0]


@skill(produces="order", cost=0.001, latency_ms=20, ensures=lambda result: "status" in result)
def lookup_order(order_id: str) -> dict:
    """Fetch an order from the live order database."""
    return dict(ORDERS[order_id])


@skill(produces="order", cost=0.002, latency_ms=400)
def lookup_order_archive(order_id: str) -> dict:
    """Fetch an order from the slower archive of old orders."""
    return dict(ARCHIVE[order_id])


@skill(
    produces="refund_id",
    requires=lambda order, order_id: order["status"] == "delivered" and order_id not in REFUNDED,
    ensures=lambda result: result.startswith("RF-"),
    side_effects=True,
)
def issue_refund(order_id: str, order: dict) -> str:
    """Refund a delivered order in full and return the refund id."""
    REFUNDED.add(order_id)
    return f"RF-{order_id}-{int(order['total'] * 100)}"


@skill(produces="kb_article")
def search_kb(query: str) -> str:
    """Find the knowledge-base article that matches the problem described."""
    words = query.lower()
    for key, article in KNOWLEDGE_BASE.items():
        if key in words or (key == "login" and "log in" in words):
            return article
    raise LookupError("no article matches")


def triage_route(view: StageView) -> str:
    return {"refund": "refund", "tech": "troubleshoot"}.get(view.intent, "escalate")


def review_route(view: StageView) -> str:
    previous = [s for s in view.trail if s in ("refund", "troubleshoot")][-1]
    settled = all(
        str(v) in view.answer for k, v in view.facts.items() if k in ("refund_id", "kb_article")
    )
    return "done" if settled or view.trail.count("review") >= 2 else previous


pipeline = Pipeline(
    "support-desk",
    intents=[
        Intent(
            "refund",
            [
                "I want my money back",
                "refund order 123",
                "please refund my order",
                "the item arrived broken, refund it",
            ],
        ),
        Intent(
            "tech",
            [
                "the app crashes",
                "I cannot log in",
                "login fails with an error",
                "the website shows an error when paying",
            ],
        ),
    ],
    stages=[
        Stage(
            "triage",
            roles=["triager"],
            next=["refund", "troubleshoot", "escalate"],
            start=True,
            route=triage_route,
        ),
        Stage(
            "refund",
            roles=["resolver"],
            goal="refund_id",
            escalate_to="escalate",
            skills=[extract_order_id, lookup_order, lookup_order_archive, issue_refund],
            next=["review", "escalate"],
        ),
        Stage(
            "troubleshoot",
            roles=["resolver"],
            goal="kb_article",
            escalate_to="escalate",
            skills=[search_kb],
            next=["review", "escalate"],
        ),
        Stage(
            "review",
            roles=["reviewer"],
            next=["done", "refund", "troubleshoot"],
            route=review_route,
        ),
        Stage("escalate", roles=["handoff"], terminal=True, failure=True),
        Stage("done", terminal=True),
    ],
    roles=[
        Role(
            "triager",
            "Classify the request and say which team handles it.",
            models=["mini", "standard"],
        ),
        Role(
            "resolver",
            "Resolve the customer's problem with the facts your tools found; "
            "quote ids and article numbers exactly.",
            skills=[extract_order_id, lookup_order, lookup_order_archive, issue_refund, search_kb],
            models=["mini", "standard", "large"],
        ),
        Role(
            "reviewer",
            "Check the resolution against the facts and write the final reply to the customer.",
            models=["mini", "standard"],
        ),
        Role(
            "handoff",
            "Write a short hand-off note for a human agent: what was asked, what failed.",
            models=["mini"],
        ),
    ],
    sample_query="refund order 123, it arrived broken",
)
