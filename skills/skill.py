"""The ``@skill`` decorator: a typed, documented function becomes a validated, guarded tool.

The argument schema comes from the type hints, the description from the docstring; both
are required, and a function lacking either fails at decoration time. A skill may carry a
precondition (``requires``), checked before it runs, and a postcondition (``ensures``),
checked on its result; a broken contract raises, it is never passed on.
"""

from __future__ import annotations

import difflib
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, overload

import pydantic

from orchestrator.errors import PostconditionFailed, PreconditionFailed, SkillDefinitionError
from orchestrator.protocols import SKILL_CALL_KEY

__all__ = ["DEFAULT_TIMEOUT_S", "Skill", "idempotency_key", "skill"]

DEFAULT_TIMEOUT_S = 30.0
"""How long a skill that sets no ``timeout_s`` may run before its call counts as failed
(``ToolTimeout``): no skill can hang a run. ``timeout_s=math.inf`` runs a skill on the
calling thread without one (for a skill that must keep its thread, e.g. one holding a
sqlite connection)."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _call_with_matching(fn: Callable[..., Any], values: Mapping[str, Any]) -> Any:
    """Call ``fn`` with the entries of ``values`` that its parameters name."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return fn(**values)
    return fn(**{k: values[k] for k in params if k in values})


def idempotency_key() -> str | None:
    """The key of the skill call in progress, or None outside a run: the same on every retry
    of the call (a resumed run included), so a side-effecting skill can pass it to the
    service it changes (e.g. an ``Idempotency-Key`` header) and the service can refuse a
    second charge. A run records each call's result before it moves on and never repeats a
    recorded call; the key covers the one window a record cannot: a crash inside the call."""
    return SKILL_CALL_KEY.get()


def _shown(value: Any, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _param_docs(doc: str) -> dict[str, str]:
    """Parameter descriptions from a Google-style ``Args:`` section."""
    out: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if not in_args:
            continue
        if not stripped or (stripped.endswith(":") and " " not in stripped):
            in_args = False  # a blank line or the next section ("Returns:") ends it
            continue
        m = re.match(r"^(\w+)\s*(\([^)]*\))?\s*:\s*(.+)$", stripped)
        if m:
            out[m.group(1)] = m.group(3)
    return out


class Skill:
    """A tool an agent may call: a function plus its schema, contract and cost profile."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        produces: str | None = None,
        requires: Callable[..., bool] | None = None,
        ensures: Callable[..., bool] | None = None,
        cost: float = 0.0,
        latency_ms: float = 1.0,
        risk: float = 0.0,
        side_effects: bool = False,
        timeout_s: float | None = None,
        probe: Callable[[], bool] | None = None,
    ) -> None:
        label: str = name or str(getattr(fn, "__name__", repr(fn)))
        if not _NAME.fullmatch(label):
            raise SkillDefinitionError(
                f"skill name {label!r} is not an identifier; pass name='like_this' to @skill"
            )
        doc = inspect.getdoc(fn)
        if not doc:
            raise SkillDefinitionError(
                f"skill {label!r} has no docstring; add one line saying what it does, "
                "the model reads it to decide when to call the skill"
            )
        try:
            hints = typing.get_type_hints(fn)
        except Exception as exc:  # unresolvable forward references
            raise SkillDefinitionError(
                f"skill {label!r}: its type hints cannot be resolved ({exc}); "
                "import the types it names at module level"
            ) from exc
        sig = inspect.signature(fn)
        fields: dict[str, Any] = {}
        params: list[str] = []
        docs = _param_docs(doc)
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise SkillDefinitionError(
                    f"skill {label!r}: *args/**kwargs parameter {p.name!r} has no schema; "
                    "list the arguments explicitly"
                )
            if p.name not in hints:
                raise SkillDefinitionError(
                    f"skill {label!r}: parameter {p.name!r} has no type hint; "
                    f"annotate it, e.g. `{p.name}: str`"
                )
            default = ... if p.default is p.empty else p.default
            fields[p.name] = (
                hints[p.name],
                pydantic.Field(default, description=docs.get(p.name)),
            )
            params.append(p.name)
        if "return" not in hints:
            raise SkillDefinitionError(
                f"skill {label!r} has no return type hint; annotate it, e.g. `-> str`"
            )
        for value, what in ((cost, "cost"), (latency_ms, "latency_ms"), (risk, "risk")):
            if not value >= 0:
                raise SkillDefinitionError(f"skill {label!r}: {what} is {value}; it must be >= 0")
        if timeout_s is not None and not timeout_s > 0:
            raise SkillDefinitionError(
                f"skill {label!r}: timeout_s is {timeout_s}; give seconds > 0 or leave it None"
            )
        if probe is not None and not callable(probe):
            raise SkillDefinitionError(
                f"skill {label!r}: probe must be a function of no arguments returning bool"
            )
        self.fn = fn
        self.__wrapped__ = fn
        self.__name__ = label
        self.__doc__ = doc  # help() and IDEs show the function's own text
        self.name: str = label
        self.description: str = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
        self.params: tuple[str, ...] = tuple(params)
        self.return_type = hints["return"]
        self.produces: str = produces or label
        self.requires = requires
        self.ensures = ensures
        self.cost = float(cost)
        self.latency_ms = float(latency_ms)
        self.risk = float(risk)
        self.side_effects = side_effects
        self.timeout_s: float = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        """Seconds a call may take (``DEFAULT_TIMEOUT_S`` unless the skill sets it)."""
        self.probe = probe
        self._args_model = pydantic.create_model(f"{label}_arguments", **fields)

    def __repr__(self) -> str:
        return f"Skill({self.name!r}, params={list(self.params)}, produces={self.produces!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly, without validation or contract checks."""
        return self.fn(*args, **kwargs)

    @property
    def schema(self) -> dict[str, Any]:
        """JSON schema of the arguments, in the shape chat models expect for tools."""
        params = self._args_model.model_json_schema()
        params.pop("title", None)
        return {"name": self.name, "description": self.description, "parameters": params}

    def missing(self, available: Mapping[str, Any]) -> list[str]:
        """Required parameters that ``available`` does not provide."""
        fields = self._args_model.model_fields
        return [p for p in self.params if p not in available and fields[p].is_required()]

    def bind(self, available: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the parameters this skill takes from ``available`` (extra keys ignored).

        Raises PreconditionFailed when an argument is missing or has the wrong type.
        """
        try:
            model = self._args_model.model_validate(
                {k: available[k] for k in self.params if k in available}
            )
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise PreconditionFailed(self.name, f"invalid arguments ({problems})") from None
        return {k: getattr(model, k) for k in self.params}

    def invoke(self, available: Mapping[str, Any]) -> Any:
        """Validate, check the precondition, run, check the postcondition; return the result."""
        args = self.bind(available)
        if self.requires is not None and not _call_with_matching(self.requires, args):
            shown = ", ".join(f"{k}={_shown(v)}" for k, v in args.items())
            raise PreconditionFailed(self.name, f"precondition rejected ({shown})")
        result = self.fn(**args)
        if self.ensures is not None and not _call_with_matching(
            self.ensures, {"result": result, **args}
        ):
            raise PostconditionFailed(self.name, f"postcondition rejected result {_shown(result)}")
        return result


@overload
def skill(fn: Callable[..., Any], /) -> Skill: ...
@overload
def skill(
    *,
    name: str | None = None,
    produces: str | None = None,
    requires: Callable[..., bool] | None = None,
    ensures: Callable[..., bool] | None = None,
    cost: float = 0.0,
    latency_ms: float = 1.0,
    risk: float = 0.0,
    side_effects: bool = False,
    timeout_s: float | None = None,
    probe: Callable[[], bool] | None = None,
) -> Callable[[Callable[..., Any]], Skill]: ...
def skill(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Turn a typed, docstringed function into a Skill; usable bare or with options.

    Options: ``name``; ``produces`` (the fact name its result is stored under, default the
    skill name); ``requires`` (precondition over the arguments, by parameter name);
    ``ensures`` (postcondition over ``result`` and the arguments); ``cost``, ``latency_ms``
    and ``risk`` (weights of its edge in the tool graph); ``side_effects``; ``timeout_s``
    (a call running longer counts as failed: ToolTimeout; default ``DEFAULT_TIMEOUT_S``,
    ``math.inf`` for none); ``probe`` (a function of no
    arguments saying whether the service behind the skill is up, run by the health monitor).
    A skill whose service refuses for now raises ``ToolRateLimited``.
    """
    unknown = [k for k in options if k not in _OPTIONS]
    if unknown:  # a typo: refused naming the function, its place and the likely option
        return _refuse(fn, unknown[0]) if fn is not None else lambda f: _refuse(f, unknown[0])
    if fn is not None:
        return Skill(fn, **options)
    return lambda f: Skill(f, **options)


_OPTIONS = tuple(inspect.signature(Skill.__init__).parameters)[2:]
"""The options ``@skill`` takes (``Skill``'s keyword arguments)."""


def _refuse(fn: Callable[..., Any], option: str) -> Skill:
    code = getattr(fn, "__code__", None)
    where = f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else ""
    close = difflib.get_close_matches(option, _OPTIONS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise SkillDefinitionError(
        f"skill {getattr(fn, '__name__', fn)!r}{where}: @skill has no option {option!r}; "
        f"{hint}its options are {', '.join(_OPTIONS)}"
    )
