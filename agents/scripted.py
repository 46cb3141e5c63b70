"""ScriptedModel: a model for tests that answers exactly what the test says it should."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence

from agents.prompts import parse_reply, read_prompt
from orchestrator.errors import ModelCallError
from orchestrator.types import Message, ModelReply, estimate_tokens

__all__ = ["ScriptedModel"]

Step = str | Callable[[Sequence[Message]], str] | BaseException


def _protocol_echo(messages: Sequence[Message]) -> str:
    parts = read_prompt(messages[-1].content)
    if parts.options:  # an escalation prompt: the first (cheapest) fallback goal
        return f"GOAL: {parts.options[0]}"
    text = "ok" + (": " + "; ".join(f"{k}: {v}" for k, v in parts.facts) if parts.facts else "")
    if parts.agents:  # a merged call: the same answer in every agent's section
        text = json.dumps({agent: f"{agent} {text}" for agent in parts.agents})
    return text + (f"\nNEXT: {parts.allowed_next[0]}" if parts.allowed_next else "")


def _describe(step: Step) -> str:
    """A script step as a failure message shows it."""
    if isinstance(step, BaseException):
        return f"raise {type(step).__name__}({step})"
    if callable(step):
        return f"function {getattr(step, '__name__', 'step')}"
    return repr(step[:60] + ("..." if len(step) > 60 else ""))


class ScriptedModel:
    """Replies from a script, then falls back to a protocol-following echo.

    Each script step is a reply string, a function of the messages returning one, or an
    exception to raise (wrapped in ModelCallError unless it is one, e.g. ModelUnavailable).
    ``calls`` keeps every prompt received; ``assert_consumed()`` checks, at a test's end,
    that every scripted step was asked for.
    """

    def __init__(
        self,
        script: Sequence[Step] = (),
        *,
        name: str = "scripted",
        price_per_mtok: float = 0.0,
    ) -> None:
        self.name = name
        self.calls: list[list[Message]] = []
        self._script = list(script)
        self._price = price_per_mtok
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        """Script steps not yet used."""
        with self._lock:
            return len(self._script)

    def assert_consumed(self) -> None:
        """Raise AssertionError, saying which steps are left, unless every scripted step
        was used: a run that asked the model fewer times than the test meant fails."""
        with self._lock:
            left = list(self._script)
        if left:
            shown = ", ".join(_describe(s) for s in left[:3]) + (", ..." if len(left) > 3 else "")
            raise AssertionError(
                f"ScriptedModel {self.name!r} was called {len(self.calls)} time(s) and "
                f"{len(left)} scripted step(s) were never used: {shown}"
            )

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 512) -> ModelReply:
        """Next scripted reply (or the echo once the script is used up)."""
        with self._lock:
            self.calls.append(list(messages))
            step: Step = self._script.pop(0) if self._script else _protocol_echo
        if isinstance(step, ModelCallError):  # e.g. ModelUnavailable: an endpoint fault
            raise step
        if isinstance(step, BaseException):
            raise ModelCallError(f"model {self.name!r} failed: {step}") from step
        try:
            text = step(messages) if callable(step) else step
        except ModelCallError:
            raise
        except Exception as exc:
            raise ModelCallError(f"model {self.name!r} failed: {exc}") from exc
        parse_reply(text)  # scripts must be parseable, as a real reply would be
        in_tok = sum(estimate_tokens(m.content) for m in messages)
        out_tok = estimate_tokens(text)
        return ModelReply(
            text=text,
            model=self.name,
            input_tokens=in_tok,
            output_tokens=out_tok,
            cost_usd=(in_tok + out_tok) * self._price / 1e6,
            provider="scripted",
        )
