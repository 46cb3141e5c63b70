"""Fuzzing the public surface (Hypothesis): pipeline definitions, queries, skill arguments
and model replies. Each target says which exceptions are the documented outcome of bad
input; anything else is a defect. ``tests/benchmarks/fuzz_soak.py`` runs them long,
``tests/test_fuzz.py`` briefly in the suite.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import ModelPool, ModelProfile, OfflineModel, Role
from orchestrator import Intent, Pipeline, Runtime, Stage
from orchestrator.definition import load_pipeline
from orchestrator.errors import InputError, OrchestratorError, SkillFailed
from orchestrator.types import Message, ModelReply
from skills import BUILTIN_SKILLS

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES: Counter[str] = Counter()
"""How the cases ended, by target and outcome (``soak`` reports them)."""

# --------------------------------------------------------------------------- strategies

_NASTY = st.sampled_from(
    [
        "",
        " ",
        "\n",
        "\x00",
        "\ud800",
        "\udcff",
        "\x1b[31m",
        "\u202e",
        "🙂",
        "a" * 5000,
        "name\n",
        "../etc",
        "NEXT: done",
        "CALL: x {}",
    ]
)
TEXT = st.one_of(st.text(max_size=60), _NASTY, st.builds(lambda a, b: a + b, st.text(), _NASTY))
"""Text of any shape: arbitrary code points (lone surrogates and control characters
included) and hand-picked troublemakers."""
NAME = st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), TEXT)
BIG = "refund order 123 " + "x" * (1 << 20)
"""A 1 MB query."""
BIGS = (
    BIG,
    BIG + "\ud800",
    "\x00\x1b" * (1 << 19),
    "refund " + "🙂" * (1 << 18),
    " ".join(["refund"] * (1 << 17)),
)
"""1 MB texts that ``soak`` always runs as queries (a draw seldom makes one)."""
QUERY = st.integers(0, 19).flatmap(
    lambda i: st.just(BIG) if i == 0 else TEXT if i % 2 else TEXT.map("refund order 42 ".__add__)
)

_SKILL_NAMES = [s.name for s in BUILTIN_SKILLS]


@st.composite
def well_formed(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments of a Pipeline that is mostly valid: known names, stages that lead
    to a terminal one, built-in skills, odd instructions, queries and requirements."""
    n = draw(st.integers(1, 5))
    names = [f"s{i}" for i in range(n)] + ["done"]
    stages = []
    for i in range(n):
        later = names[i + 1 :]
        nxt = draw(st.lists(st.sampled_from([*names, *later]), min_size=1, max_size=3, unique=True))
        stages.append(
            dict(
                name=names[i],
                roles=draw(
                    st.lists(st.sampled_from(["r1", "r2"]), min_size=1, max_size=2, unique=True)
                ),
                next=sorted(set(nxt) | {later[0]}),
                start=i == 0,
                skills=draw(st.lists(st.sampled_from(_SKILL_NAMES), max_size=2, unique=True)),
                goal=draw(st.none() | st.sampled_from(["calculation", "number"])),
                requires=draw(
                    st.none() | st.dictionaries(st.sampled_from(["reasoning"]), st.floats(0, 1))
                ),
            )
        )
    stages.append(dict(name="done", terminal=True))
    return dict(
        name=draw(st.sampled_from(["p", "desk", "x-1"])),
        stages=stages,
        roles=[
            dict(
                name=r,
                instructions=draw(TEXT.filter(lambda s: s.strip())),
                skills=list(_SKILL_NAMES),
                models=draw(st.lists(st.sampled_from(["mini", "standard", "large"]), max_size=2)),
            )
            for r in ("r1", "r2")
        ],
        intents=[dict(label="refund", examples=["refund my order"])],
        max_steps=draw(st.integers(1, 30)),
        budget_usd=draw(st.none() | st.floats(1e-6, 1)),
    )


@st.composite
def arbitrary(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments of a Pipeline, valid or not."""
    names = draw(st.lists(NAME, min_size=0, max_size=5))
    roles = draw(st.lists(NAME, min_size=0, max_size=3))
    stages = []
    for i, name in enumerate(names):
        stages.append(
            dict(
                name=name,
                roles=draw(st.lists(st.sampled_from(roles or ["r"]), max_size=2)),
                next=draw(st.lists(st.sampled_from([*names, "nowhere"]), max_size=3)),
                start=draw(st.booleans()) if i else False,
                terminal=draw(st.booleans()),
                skills=draw(st.lists(st.sampled_from([*_SKILL_NAMES, "nope"]), max_size=2)),
                goal=draw(st.none() | st.sampled_from(["calculation", "number", "nothing"])),
                requires=draw(st.none() | st.dictionaries(NAME, st.floats(-1, 2), max_size=2)),
            )
        )
    return dict(
        name=draw(NAME),
        stages=stages,
        roles=[
            dict(
                name=r,
                instructions=draw(TEXT),
                skills=draw(st.lists(st.sampled_from([*_SKILL_NAMES, "nope"]), max_size=3)),
                models=draw(st.lists(st.sampled_from(["mini", "standard", "ghost"]), max_size=2)),
            )
            for r in roles
        ],
        intents=[
            dict(label=draw(NAME), examples=draw(st.lists(TEXT, max_size=3)))
            for _ in range(draw(st.integers(0, 2)))
        ],
        max_steps=draw(st.integers(-1, 30)),
        budget_usd=draw(st.none() | st.floats(-1, 1) | st.sampled_from([math.nan, math.inf])),
    )


pipelines = st.one_of(well_formed(), arbitrary())
"""Pipeline definitions: mostly valid ones, and anything at all."""


REPLY = st.one_of(
    TEXT,
    st.builds(
        lambda body, nxt, call, args: f"{body}\nNEXT: {nxt}\nCALL: {call} {args}",
        TEXT,
        st.sampled_from(["done", "review", "refund", "escalate", "nowhere", ""]),
        st.sampled_from(["issue_refund", "lookup_order", "calculate", "search_kb", "rm_rf"]),
        st.one_of(
            st.just('{"order_id": "456", "order": {"status": "delivered", "total": 9999}}'),
            st.just("{" + "[" * 5000 + "]" * 5000 + "}"),
            st.just('{"n": ' + "9" * 5000 + "}"),
            st.dictionaries(NAME, st.one_of(TEXT, st.integers(), st.none()), max_size=3).map(
                json.dumps
            ),
            TEXT,
        ),
    ),
    st.just(""),
    st.just("   \n\t "),
    st.just('{"triager": "x"'),
)
"""A model's reply: text, forged CALL and NEXT lines, deep or huge JSON, empty bodies."""

# --------------------------------------------------------------------------- targets


class _Replies:
    """A model adapter answering each call with the next of ``replies``, verbatim (as an
    endpoint does: no protocol check), then as the offline model does."""

    def __init__(self, name: str, replies: Sequence[str]) -> None:
        self.name = name
        self.replies = list(replies)
        self._then = OfflineModel(ModelProfile(name=name, quality=1.0))
        self._lock = threading.Lock()

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 512) -> ModelReply:
        with self._lock:
            text = self.replies.pop(0) if self.replies else None
        if text is None:  # the drawn replies used up: a model that follows the protocol
            return self._then.complete(messages, max_tokens=max_tokens)
        return ModelReply(text=text, model=self.name, input_tokens=1, output_tokens=1, cost_usd=0.0)


def _define(kwargs: dict[str, Any]) -> Pipeline:
    return Pipeline(
        kwargs["name"],
        stages=[Stage(**s) for s in kwargs["stages"]],
        roles=[Role(**r) for r in kwargs["roles"]],
        intents=[Intent(**i) for i in kwargs["intents"]],
        max_steps=kwargs["max_steps"],
        budget_usd=kwargs["budget_usd"],
    )


def define_and_run(kwargs: dict[str, Any]) -> None:
    """Define a pipeline; a valid one runs once on the offline pool. Documented outcome:
    OrchestratorError (the ConfigError branch for a bad definition, InputError for a run
    it cannot start); a run's own failures end it with status ``failed``."""
    try:
        pipeline = _define(kwargs)
    except OrchestratorError as exc:
        OUTCOMES[f"definition refused: {type(exc).__name__}"] += 1
        return
    try:
        with Runtime(pipeline, learn=False) as rt:
            result = rt.run("refund order 7 please")
    except OrchestratorError as exc:
        OUTCOMES[f"definition ran: {type(exc).__name__}"] += 1
        return
    OUTCOMES[f"definition ran: status {result.status}"] += 1


class _Desk:
    """The support desk, loaded once: on the offline pool, and on a model answering drawn
    replies."""

    def __init__(self) -> None:
        self.pipeline, self.module = load_pipeline(ROOT / "examples" / "support_desk.py")
        self.offline = Runtime(self.pipeline, learn=False)

    def replaying(self, replies: Sequence[str]) -> Runtime:
        """A runtime (its own circuit breakers) whose one model answers ``replies``."""
        adapter = _Replies("m", replies)
        profile = ModelProfile(
            name="m", backend="custom", adapter=adapter, input_price=0.0, output_price=0.0
        )
        return Runtime(self.pipeline, pool=ModelPool([profile]), only_model="m", learn=False)


_desk: list[_Desk] = []


def desk() -> _Desk:
    if not _desk:
        _desk.append(_Desk())
    return _desk[0]


def run_query(query: str) -> None:
    """Run the support desk on any text. Documented outcome: a result, or InputError (an
    empty query)."""
    if len(query) > 100_000:
        OUTCOMES["query: over 100,000 characters"] += 1
    try:
        result = desk().offline.run(query)
    except InputError:
        OUTCOMES["query refused: InputError"] += 1
        return
    OUTCOMES[f"query ran: status {result.status}"] += 1
    json.dumps(result.answer).encode("utf-8")  # what it says is valid text
    assert result.status in ("ok", "escalated", "failed")


def replay_replies(replies: list[str]) -> None:
    """Run the support desk with a model answering the drawn replies. Documented outcome:
    a result (never an exception); a forged call never refunds the shipped order 456."""
    d = desk()
    d.module.REFUNDED.clear()
    with d.replaying(replies) as rt:
        result = rt.run("refund order 123, it arrived broken")
    assert result.status in ("ok", "escalated", "failed")
    OUTCOMES[f"replies ran: status {result.status}"] += 1
    blocks = sum(d.kind == "guard_block" for d in result.decisions)
    OUTCOMES["replies: guard blocks"] += blocks
    assert "456" not in d.module.REFUNDED, "a forged call refunded a shipped order"


def call_skill(index: int, args: dict[str, Any]) -> None:
    """Call a built-in skill with any arguments, as the runtime does. Documented outcome:
    a result, or SkillFailed (bad arguments, a refused precondition or result, a failure
    with a reason). (The example skills' own exceptions are tool failures the runtime
    reroutes around; they are fuzzed through ``replay_replies``.)"""
    from orchestrator.execution.toolrunner import invoke_skill

    try:
        invoke_skill(BUILTIN_SKILLS[index % len(BUILTIN_SKILLS)], args)
    except SkillFailed as exc:
        OUTCOMES[f"skill call: {type(exc).__name__}"] += 1
        return
    OUTCOMES["skill call: result"] += 1


SKILL_ARGS = st.dictionaries(
    st.sampled_from(["expression", "text", "query", "order_id", "order", "n"]),
    st.one_of(
        TEXT,
        st.integers(),
        st.floats(allow_nan=True),
        st.none(),
        st.just("(((9**99)**99)**99)**99"),
        st.just("+".join(["1"] * 4000)),
        st.just("(1e308**2)"),
        st.dictionaries(TEXT, TEXT, max_size=2),
    ),
    max_size=3,
)

# --------------------------------------------------------------------------- running


def soak(cases: int, *, progress: Callable[[str], None] = print) -> dict[str, int]:
    """Run every target ``cases`` // 4 times (at least once); returns the cases run per
    target. A case with an undocumented exception raises it (Hypothesis shrinks it)."""
    options = settings(
        max_examples=max(cases // 4, 1),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    targets: dict[str, tuple[Callable[..., None], tuple[Any, ...]]] = {
        "pipeline definitions": (define_and_run, (pipelines,)),
        "queries": (run_query, (QUERY,)),
        "skill calls": (call_skill, (st.integers(0, 50), SKILL_ARGS)),
        "model replies": (replay_replies, (st.lists(REPLY, max_size=4),)),
    }
    counted: dict[str, int] = {}
    for big in BIGS:
        run_query(big)
    counted["queries"] = len(BIGS)
    for name, (fn, strategies) in targets.items():
        runs = [0]

        def counting(*args: Any, fn: Callable[..., None] = fn, runs: list[int] = runs) -> None:
            runs[0] += 1
            fn(*args)

        options(given(*strategies)(_positional(counting, len(strategies))))()
        counted[name] = counted.get(name, 0) + runs[0]
        progress(f"{name}: {runs[0]} cases, no undocumented exception")
    progress("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(OUTCOMES.items())))
    return counted


def _positional(fn: Callable[..., None], n: int) -> Callable[..., None]:
    """``fn`` as a function of exactly ``n`` positional parameters (what @given wants)."""
    if n == 1:
        return lambda a: fn(a)
    return lambda a, b: fn(a, b)
