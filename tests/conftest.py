"""Shared fixtures: an isolated data directory, no network beyond loopback, small pipelines."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import Intent, Pipeline, Role, Stage
from skills import skill
from tests.servers import redis_server

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else address
    if (
        isinstance(host, str)
        and host not in ("127.0.0.1", "localhost", "::1")
        and not (self.family == socket.AF_UNIX)
    ):
        raise ConnectionRefusedError(f"tests may not reach the network ({host!r})")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests reach loopback only; anything else fails loudly."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(autouse=True)
def orch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data directory."""
    home = tmp_path / "orch-home"
    monkeypatch.setenv("ORCH_HOME", str(home))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    yield home


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A real redis-server on a loopback port, for the tests of a module."""
    with redis_server() as url:
        yield url


@skill(produces="order_id", requires=lambda query: any(c.isdigit() for c in query))
def find_order_id(query: str) -> str:
    """Pull the order number out of the request."""
    return "".join(c for c in query if c.isdigit())


@skill(produces="order", cost=0.01)
def fetch_order(order_id: str) -> dict:
    """Fetch an order record."""
    return {"id": order_id, "status": "delivered"}


@skill(produces="refund_id", requires=lambda order: order["status"] == "delivered")
def refund(order_id: str, order: dict) -> str:
    """Refund an order."""
    return f"RF-{order_id}"


def make_desk(**overrides: object) -> Pipeline:
    """triage -> resolve -> review -> done, with a refund tool chain in resolve."""
    kwargs: dict[str, object] = dict(
        intents=[
            Intent("refund", ["refund my order", "I want my money back"]),
            Intent("tech", ["the app crashes", "cannot log in"]),
        ],
        stages=[
            Stage("triage", roles=["triager"], next=["resolve", "escalate"], start=True),
            Stage(
                "resolve",
                roles=["resolver"],
                skills=[find_order_id, fetch_order, refund],
                goal="refund_id",
                escalate_to="escalate",
                next=["review", "escalate"],
            ),
            Stage("review", roles=["reviewer"], next=["done", "resolve"]),
            Stage("escalate", terminal=True, failure=True),
            Stage("done", terminal=True),
        ],
        roles=[
            Role("triager", "Route the request."),
            Role("resolver", "Resolve it.", skills=[find_order_id, fetch_order, refund]),
            Role("reviewer", "Review it."),
        ],
        sample_query="refund order 42",
    )
    kwargs.update(overrides)
    return Pipeline("desk", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def desk() -> Pipeline:
    return make_desk()
