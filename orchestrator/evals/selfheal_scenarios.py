"""The world of the self-healing suite (``orch eval selfheal``): three tool topologies and
the scenarios that break them.

A linear pipeline, a dependency DAG and a parallel fan-out, each with interchangeable
alternatives for some steps and none for others. A scenario takes tools down, slows one
past its timeout, rate-limits one, takes the model endpoint down, or removes the only
path (with and without a lesser goal to fall back to), and says which outcome a correct
controller reaches. ``selfheal_eval.py`` runs the controllers on them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import ToolRateLimited
from skills import Skill

__all__ = ["SCENARIOS", "TOPOLOGIES", "Scenario", "Topology", "broken_skills", "expected_facts"]

TOOL_TIMEOUT_S = 0.05
"""Every scenario tool has this timeout; a "slow" tool sleeps past it."""
SLOW_S = 0.2

# ----------------------------------------------------------------- the tools


def parse(query: str) -> str:
    """Extract the account id from the request."""
    return "acct-" + "".join(c for c in query if c.isdigit())


def lookup(account: str) -> str:
    """Look the account up in the primary database."""
    return f"rec({account})"


def lookup_mirror(account: str) -> str:
    """Look the account up in the read mirror (slower)."""
    return f"rec({account})"


def enrich(record: str) -> str:
    """Add usage data to the record."""
    return f"enr({record})"


def enrich_backup(record: str) -> str:
    """Add usage data from the backup service."""
    return f"enr({record})"


def render(enriched: str) -> str:
    """Render the full account report."""
    return f"report[{enriched}]"


def summarize(record: str) -> str:
    """A short summary from the bare record (a lesser answer)."""
    return f"summary[{record}]"


def fetch_user(query: str) -> str:
    """Fetch the user from the user service."""
    return f"user({len(query)})"


def user_cache(query: str) -> str:
    """Fetch the user from the cache."""
    return f"user({len(query)})"


def fetch_orders(query: str) -> str:
    """Fetch the user's orders."""
    return f"orders({query.split()[-1]})"


def orders_replica(query: str) -> str:
    """Fetch the orders from a replica."""
    return f"orders({query.split()[-1]})"


def join(user: str, orders: str) -> str:
    """Join user and orders into a profile."""
    return f"profile({user},{orders})"


def score(profile: str) -> str:
    """Score the profile's risk with the model service."""
    return f"risk({profile})"


def score_rules(profile: str) -> str:
    """Score the profile's risk with the rule engine."""
    return f"risk({profile})"


def split(query: str) -> str:
    """Split the request into line items."""
    return f"items({len(query.split())})"


def price(items: str) -> str:
    """Price the items."""
    return f"p({items})"


def price_backup(items: str) -> str:
    """Price the items from the cached price list."""
    return f"p({items})"


def stock(items: str) -> str:
    """Check stock for the items."""
    return f"s({items})"


def stock_backup(items: str) -> str:
    """Check stock at the second warehouse."""
    return f"s({items})"


def ship(items: str) -> str:
    """Estimate delivery for the items."""
    return f"e({items})"


def merge(prices: str, stock: str, eta: str) -> str:
    """Merge prices, stock and delivery into a quote."""
    return f"quote({prices},{stock},{eta})"


@dataclass(frozen=True, kw_only=True, slots=True)
class _Tool:
    fn: Callable[..., str]
    produces: str
    cost: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Topology:
    """A tool graph to break."""

    name: str
    tools: tuple[_Tool, ...]
    goal: str
    demote_to: tuple[str, ...] = ()
    edges: tuple[tuple[str, str], ...] = ()
    query: str = "status of account 4711"


def _pairs(left: Sequence[str], right: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple((a, b) for a in left for b in right)


TOPOLOGIES = {
    t.name: t
    for t in (
        Topology(
            name="linear",
            tools=(
                _Tool(fn=parse, produces="account", cost=0.01),
                _Tool(fn=lookup, produces="record", cost=0.02),
                _Tool(fn=lookup_mirror, produces="record", cost=0.08),
                _Tool(fn=enrich, produces="enriched", cost=0.02),
                _Tool(fn=enrich_backup, produces="enriched", cost=0.06),
                _Tool(fn=render, produces="report", cost=0.01),
                _Tool(fn=summarize, produces="summary", cost=0.01),
            ),
            goal="report",
            demote_to=("summary",),
        ),
        Topology(
            name="dag",
            tools=(
                _Tool(fn=fetch_user, produces="user", cost=0.02),
                _Tool(fn=user_cache, produces="user", cost=0.05),
                _Tool(fn=fetch_orders, produces="orders", cost=0.02),
                _Tool(fn=orders_replica, produces="orders", cost=0.05),
                _Tool(fn=join, produces="profile", cost=0.01),
                _Tool(fn=score, produces="risk", cost=0.03),
                _Tool(fn=score_rules, produces="risk", cost=0.06),
            ),
            goal="risk",
            # join needs both branches: run the orders branch after the user branch
            edges=_pairs(("fetch_user", "user_cache"), ("fetch_orders", "orders_replica")),
            query="risk of customer 991",
        ),
        Topology(
            name="fanout",
            tools=(
                _Tool(fn=split, produces="items", cost=0.01),
                _Tool(fn=price, produces="prices", cost=0.02),
                _Tool(fn=price_backup, produces="prices", cost=0.05),
                _Tool(fn=stock, produces="stock", cost=0.02),
                _Tool(fn=stock_backup, produces="stock", cost=0.05),
                _Tool(fn=ship, produces="eta", cost=0.02),
                _Tool(fn=merge, produces="quote", cost=0.01),
            ),
            goal="quote",
            # the three branches all fan out of "items"; the chain visits them in turn
            edges=_pairs(("price", "price_backup"), ("stock", "stock_backup"))
            + _pairs(("stock", "stock_backup"), ("ship",)),
            query="quote 3 chairs and 1 table",
        ),
    )
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Scenario:
    """One way to break a topology, and the outcome a correct controller reaches."""

    name: str
    topology: str
    down: tuple[str, ...] = ()
    """Tools that raise (service unreachable)."""
    slow: tuple[str, ...] = ()
    """Tools that run past their timeout."""
    limited: tuple[str, ...] = ()
    """Tools that answer HTTP 429."""
    model_down: bool = False
    """The primary model endpoint answers HTTP 5xx."""
    expect: str = "answer"
    """``answer`` (the goal), ``demote`` (the fallback goal) or ``escalate``."""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(name="linear/healthy", topology="linear"),
    Scenario(name="linear/lookup-down", topology="linear", down=("lookup",)),
    Scenario(name="linear/enrich-timeout", topology="linear", slow=("enrich",)),
    Scenario(name="linear/lookup-rate-limited", topology="linear", limited=("lookup",)),
    Scenario(name="linear/two-down", topology="linear", down=("lookup", "enrich")),
    Scenario(
        name="linear/lookup-down+model-down", topology="linear", down=("lookup",), model_down=True
    ),
    Scenario(name="linear/only-render-down", topology="linear", down=("render",), expect="demote"),
    Scenario(name="linear/only-parse-down", topology="linear", down=("parse",), expect="escalate"),
    Scenario(
        name="linear/both-lookups-down",
        topology="linear",
        down=("lookup", "lookup_mirror"),
        expect="escalate",
    ),
    Scenario(name="dag/healthy", topology="dag"),
    Scenario(name="dag/user-down", topology="dag", down=("fetch_user",)),
    Scenario(name="dag/orders-and-score-down", topology="dag", down=("fetch_orders", "score")),
    Scenario(
        name="dag/orders-timeout+model-down",
        topology="dag",
        slow=("fetch_orders",),
        model_down=True,
    ),
    Scenario(
        name="dag/both-user-sources-down",
        topology="dag",
        down=("fetch_user", "user_cache"),
        expect="escalate",
    ),
    Scenario(name="dag/only-join-down", topology="dag", down=("join",), expect="escalate"),
    Scenario(name="fanout/healthy", topology="fanout"),
    Scenario(name="fanout/price-down", topology="fanout", down=("price",)),
    Scenario(name="fanout/price-and-stock-down", topology="fanout", down=("price", "stock")),
    Scenario(
        name="fanout/stock-rate-limited+model-down",
        topology="fanout",
        limited=("stock",),
        model_down=True,
    ),
    Scenario(name="fanout/only-ship-down", topology="fanout", down=("ship",), expect="escalate"),
    Scenario(
        name="fanout/both-pricers-down",
        topology="fanout",
        down=("price", "price_backup"),
        expect="escalate",
    ),
)


def broken_skills(topo: Topology, scn: Scenario) -> list[Skill]:
    """The topology's tools as skills, broken as the scenario says."""
    out = []
    for t in topo.tools:
        name = t.fn.__name__

        @functools.wraps(t.fn)
        def broken(*args: Any, _fn: Callable[..., str] = t.fn, _name: str = name, **kw: Any) -> str:
            if _name in scn.down:
                raise ConnectionError(f"{_name} unreachable")
            if _name in scn.limited:
                raise ToolRateLimited("HTTP 429 too many requests", retry_after_s=30)
            if _name in scn.slow:
                time.sleep(SLOW_S)
            return _fn(*args, **kw)

        out.append(
            Skill(broken, produces=t.produces, cost=t.cost, latency_ms=0, timeout_s=TOOL_TIMEOUT_S)
        )
    return out


def expected_facts(topo: Topology) -> dict[str, str]:
    """Every fact's value when nothing fails."""
    facts: dict[str, str] = {"query": topo.query}
    pending = list(topo.tools)
    while pending:
        for t in pending:
            params = list(t.fn.__code__.co_varnames[: t.fn.__code__.co_argcount])
            if all(p in facts for p in params):
                facts.setdefault(t.produces, t.fn(**{p: facts[p] for p in params}))
                pending.remove(t)
                break
        else:
            break
    return facts
