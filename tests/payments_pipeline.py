"""A pipeline whose skills charge a card and send an email, for the crash tests: every
execution of a side-effecting skill appends a line to a log in ``$ORCH_EFFECTS_DIR``
(``charges.log``, ``emails.log``): the run's idempotency key of the call, so a test can
count executions per call. Its one model answers like the offline model after 0.3 s, as
a real endpoint would ($ORCH_MODEL_LATENCY_S); $ORCH_SPEND_CAP_USD gives it a spend cap
shared by all its runs. Run:  orch run tests/payments_pipeline.py --query "charge 12 for order 7"
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from agents import ModelPool, ModelProfile, OfflineModel, Role
from orchestrator import Pipeline, SpendCap, Stage
from orchestrator.types import Message, ModelReply
from skills import idempotency_key, skill

LATENCY_S = float(os.environ.get("ORCH_MODEL_LATENCY_S", "0.3"))
CAP_USD = os.environ.get("ORCH_SPEND_CAP_USD")
"""A spend cap shared by all runs, per day (the shared-budget benchmark sets it)."""


def _effect(log: str, line: str) -> None:
    folder = Path(os.environ.get("ORCH_EFFECTS_DIR", "."))
    with open(folder / log, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


@skill(produces="amount")
def find_amount(query: str) -> str:
    """The amount to charge, from the request."""
    return next(w for w in query.split() if w.isdigit())


@skill(produces="receipt", side_effects=True)
def charge_card(amount: str) -> str:
    """Charge the card; returns the receipt."""
    key = idempotency_key() or "no-key"
    _effect("charges.log", key)
    return f"receipt for {amount} ({key})"


@skill(produces="sent", side_effects=True)
def send_email(receipt: str) -> str:
    """Email the receipt to the customer."""
    key = idempotency_key() or "no-key"
    _effect("emails.log", key)
    return f"sent {receipt}"


class Slow:
    """The offline model, answering after LATENCY_S seconds."""

    def __init__(self, profile: ModelProfile) -> None:
        self.name = profile.name
        self._inner = OfflineModel(profile)

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 512) -> ModelReply:
        time.sleep(LATENCY_S)
        return self._inner.complete(messages, max_tokens=max_tokens)


_PROFILE = ModelProfile(name="slow", quality=1.0, input_price=0.15, output_price=0.6)
POOL = ModelPool(
    [
        ModelProfile(
            name="slow",
            backend="custom",
            adapter=Slow(_PROFILE),
            input_price=0.15,
            output_price=0.6,
        )
    ]
)

pipeline = Pipeline(
    "payments",
    stages=[
        Stage(
            "charge",
            roles=["cashier"],
            skills=[find_amount, charge_card],
            goal="receipt",
            next=["notify"],
            start=True,
        ),
        Stage("notify", roles=["clerk"], skills=[send_email], goal="sent", next=["done"]),
        Stage("done", terminal=True),
    ],
    roles=[
        Role(
            "cashier",
            "Charge the customer and confirm the receipt.",
            skills=[find_amount, charge_card],
        ),
        Role("clerk", "Email the receipt and say it was sent.", skills=[send_email]),
    ],
    pool=POOL,
    sample_query="charge 12 for order 7",
    spend_cap=SpendCap(float(CAP_USD), per="day") if CAP_USD else None,
)
