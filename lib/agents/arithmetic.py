"""The calculator's arithmetic: parsed (no eval) and bounded before it is done.

Python's integers grow without limit and their arithmetic holds the GIL, so `9**9**9`,
`((9**999)**999)**99` or `round(1, -10**8)` would freeze every thread of the app for minutes,
and a thread's timeout cannot stop them. So every step is sized first — the bits of each
integer an operation would make, the digits `round` may ask for, the size and depth of the
expression — and refused past a limit with a plain error. The calculator tool also runs this
in a worker process with a time limit (lib.agents.builtins), which bounds whatever slips by.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from lib.core import ToolError

MAX_EXPRESSION = 500      # characters
MAX_NODES = 200           # numbers, operators and calls in one expression
MAX_DEPTH = 40            # of the expression's tree
MAX_BITS = 10_000         # any integer along the way: about 3,000 digits
MAX_NDIGITS = 100         # round(x, n): |n| at most this
# What the model may write; the grammar of the bundled model keeps to it. Not starting with
# a dot or a space: given that, SmolLM2 writes ".1234.5678" for "what is 1234*5678?".
EXPRESSION_PATTERN = r"^[-+(0-9a-z][-+*/%^()., 0-9a-z×÷]{0,199}$"

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "log": math.log, "exp": math.exp,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "min": min, "max": max}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def evaluate(expression: str) -> float | int:
    """Arithmetic only: numbers, + - * / // % **, parentheses, a few math functions.

    Raises ToolError, quickly, for anything else and for work past the limits."""
    if not isinstance(expression, str) or not expression.strip():
        raise ToolError("The expression is empty: write the arithmetic, such as 1234 * 5678.")
    if len(expression) > MAX_EXPRESSION:
        raise ToolError(f"The expression is longer than {MAX_EXPRESSION} characters.")
    # A trailing comma ("1234*5678,") is a small model's slip, not a tuple to refuse.
    text = expression.strip().rstrip(",").replace("^", "**").replace("×", "*").replace("÷", "/")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ToolError(f"{expression!r} is not an arithmetic expression.") from None
    _check_shape(tree)
    try:
        value = _walk(tree.body)
    except ZeroDivisionError:
        raise ToolError("Division by zero.") from None
    except (OverflowError, ValueError, TypeError) as exc:
        raise ToolError(f"The expression cannot be computed ({exc}).") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("The result is not a finite number.")
    return value


def calculate(expression: str) -> str:
    """The result as the calculator shows it: whole floats as integers."""
    value = evaluate(expression)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return str(value)


def calculate_job(expression: str) -> list[Any]:  # pragma: no cover - runs in the worker
    """The worker's job: [True, result] or [False, what is wrong]."""
    try:
        return [True, calculate(expression)]
    except ToolError as exc:
        return [False, exc.message]


def _check_shape(tree: ast.AST) -> None:
    """Count the nodes and measure the depth without recursion, before walking it."""
    count, stack = 0, [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ToolError(f"The expression has more than {MAX_NODES} parts.")
        if depth > MAX_DEPTH:
            raise ToolError(f"The expression nests deeper than {MAX_DEPTH} levels.")
        stack += [(child, depth + 1) for child in ast.iter_child_nodes(node)]


def _bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _allow(bits: float) -> None:
    if bits > MAX_BITS:
        raise ToolError(f"The result would have about {bits * 0.30103:,.0f} digits; the "
                        f"calculator stops at {MAX_BITS * 0.30103:,.0f}.")


def _power(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        _allow(right * math.log2(abs(left)))  # the size of left ** right, before making it
    return left ** right


def _walk(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        _allow(_bits(node.value))
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _walk(node.left), _walk(node.right)
        op = type(node.op)
        if op is ast.Pow:
            value = _power(left, right)
        else:
            if op is ast.Mult:
                _allow(_bits(left) + _bits(right))
            elif op in (ast.Add, ast.Sub):
                _allow(max(_bits(left), _bits(right)) + 1)
            value = _BINARY[op](left, right)
        return _real(value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_walk(node.operand))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS and not node.keywords):
        args = [_walk(a) for a in node.args]
        if node.func.id == "round" and len(args) == 2 and (
                not isinstance(args[1], int) or abs(args[1]) > MAX_NDIGITS):
            raise ToolError(f"round(x, n) takes a whole n between -{MAX_NDIGITS} and "
                            f"{MAX_NDIGITS}.")
        return _real(_FUNCTIONS[node.func.id](*args))
    raise ToolError(f"{ast.unparse(node)[:80]!r} is not allowed: only numbers, arithmetic "
                    "and " + ", ".join(sorted(_FUNCTIONS)) + ".")


def _real(value: Any) -> Any:
    if isinstance(value, complex):
        raise ToolError("The result is not a real number.")
    _allow(_bits(value))
    return value
