"""The intent router: the closest intent by idf-weighted words, unknown said explicitly."""

from __future__ import annotations

from orchestrator.routing.intent import UNKNOWN_INTENT, IntentRouter

ROUTER = IntentRouter(
    {
        "refund": ["I want my money back", "refund order 123", "the item arrived broken"],
        "tech": ["the app crashes", "I cannot log in", "login fails with an error"],
    }
)


def test_router_picks_the_closest_intent_with_numbers_normalised() -> None:
    got = ROUTER.classify("please refund order 98765")
    assert got.label == "refund" and got.confidence > 0.5
    assert got.decision.kind == "intent" and got.decision.chosen == "refund"
    assert [c.name for c in got.decision.candidates] == ["refund", "tech"]
    assert ROUTER.classify("my app keeps crashing").label == "tech"


def test_router_says_unknown_explicitly() -> None:
    got = ROUTER.classify("what is the capital of peru")
    assert got.label == UNKNOWN_INTENT
    assert "below the 0.20 confidence floor" in got.decision.reason
