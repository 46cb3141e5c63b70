"""Skills that ship with the runtime; pure, offline and deterministic."""

from __future__ import annotations

import ast
import datetime as _dt
import math
import operator
import re
from collections.abc import Callable
from typing import Any

from orchestrator.errors import SkillFailed
from skills.skill import Skill, skill

__all__ = ["BUILTIN_SKILLS", "calculate", "extract_number", "today", "word_count"]

_OPS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
MAX_EXPRESSION_CHARS = 500
"""``calculate`` refuses longer expressions (its precondition)."""
MAX_NODES = 200
"""... and expressions of more numbers and operators than this."""
MAX_RESULT_BITS = 4096
"""An integer step whose result would need more bits (about 1,233 digits) fails."""


def _parse(expression: str) -> ast.Expression:
    """The expression's syntax tree; ValueError saying why it is not one ``calculate``
    evaluates (too long, too many parts, not arithmetic)."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ValueError("not an arithmetic expression") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ValueError(f"more than {MAX_NODES} numbers and operators")
    for node in nodes:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise ValueError(f"{node.value!r} is not a number")
        elif not isinstance(node, ast.Expression | ast.BinOp | ast.UnaryOp) and (
            type(node) not in _OPS
        ):
            raise ValueError(f"unsupported expression element {type(node).__name__}")
    return tree


def _bounded(op: ast.AST, left: float, right: float) -> float:
    """``left op right``, refusing integer results too large to compute quickly and float
    results out of range."""
    if isinstance(left, int) and isinstance(right, int):
        if isinstance(op, ast.Pow) and right > 0 and abs(left) > 1:
            if right * abs(left).bit_length() > MAX_RESULT_BITS:
                digits = right * math.log10(abs(left))
                raise ValueError(f"a power would have about {digits:,.0f} digits")
        elif isinstance(op, ast.Mult) and left.bit_length() + right.bit_length() > MAX_RESULT_BITS:
            raise ValueError("the product is too large")
    try:
        result = _OPS[type(op)](left, right)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:
        raise ValueError("the result is out of range") from None
    if isinstance(result, complex):
        raise ValueError("the result is not a real number")
    if isinstance(result, float) and not math.isfinite(result):
        raise ValueError("the result is out of range")
    return result


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value  # a number (``_parse`` refused the rest)
    if isinstance(node, ast.BinOp):
        return _bounded(node.op, _eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp):
        return _OPS[type(node.op)](_eval(node.operand))
    raise ValueError(f"unsupported expression element {type(node).__name__}")


def _is_arithmetic(expression: str) -> bool:
    try:
        _parse(expression)
    except ValueError:
        return False
    return True


@skill(requires=_is_arithmetic, produces="calculation")
def calculate(expression: str) -> float:
    """Evaluate an arithmetic expression (+ - * / // % ** and parentheses).

    Args:
        expression: the arithmetic to evaluate, e.g. "(3 + 4) * 2".
    """
    try:
        return float(_eval(_parse(expression)))
    except (ValueError, OverflowError) as exc:
        raise SkillFailed("calculate", f"cannot evaluate {expression[:80]!r}: {exc}") from None


@skill(ensures=lambda result: result >= 0)
def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: the text to count.
    """
    return len(text.split())


@skill(requires=lambda query: re.search(r"\d", query) is not None, produces="number")
def extract_number(query: str) -> str:
    """Return the first number (digits) mentioned in the query.

    Args:
        query: the user's request.
    """
    match = re.search(r"\d+(?:\.\d+)?", query)
    return match.group(0) if match else ""


@skill
def today() -> str:
    """Today's date (UTC) in ISO format."""
    return _dt.datetime.now(_dt.UTC).date().isoformat()


BUILTIN_SKILLS: tuple[Skill, ...] = (calculate, word_count, extract_number, today)
