"""Skills that ship with the runtime; pure, offline and deterministic."""

from __future__ import annotations

import ast
import datetime as _dt
import operator
import re
from collections.abc import Callable
from typing import Any

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


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        if isinstance(node.op, ast.Pow) and abs(_eval(node.right)) > 100:
            raise ValueError("exponent too large")
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.operand))
    raise ValueError(f"unsupported expression element {type(node).__name__}")


def _is_arithmetic(expression: str) -> bool:
    try:
        _eval(ast.parse(expression, mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, TypeError):
        return False
    return True


@skill(requires=_is_arithmetic, produces="calculation")
def calculate(expression: str) -> float:
    """Evaluate an arithmetic expression (+ - * / // % ** and parentheses).

    Args:
        expression: the arithmetic to evaluate, e.g. "(3 + 4) * 2".
    """
    return float(_eval(ast.parse(expression, mode="eval")))


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
