"""Built-in tools. None touches the network or a file outside the data directory: the
knowledge-base tools read the registry and the index, the calculator parses arithmetic
(no eval), and the clock reads the clock."""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
from typing import Any

from lib.agents.tools import Cited, Tool, tool
from lib.core import ToolError

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {"sqrt": math.sqrt, "abs": abs, "round": round, "log": math.log, "exp": math.exp,
              "sin": math.sin, "cos": math.cos, "tan": math.tan, "min": min, "max": max}
_CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_EXPRESSION = 500
MAX_EXPONENT = 1000


def evaluate(expression: str) -> float | int:
    """Arithmetic only: numbers, + - * / // % **, parentheses, a few math functions."""
    if len(expression) > MAX_EXPRESSION:
        raise ToolError(f"The expression is longer than {MAX_EXPRESSION} characters.")
    try:
        tree = ast.parse(expression.replace("^", "**").replace("×", "*").replace("÷", "/"),
                         mode="eval")
    except SyntaxError:
        raise ToolError(f"{expression!r} is not an arithmetic expression.") from None

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.Name) and node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
                raise ToolError(f"Exponents above {MAX_EXPONENT} are refused.")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCTIONS and not node.keywords):
            return _FUNCTIONS[node.func.id](*[walk(a) for a in node.args])
        raise ToolError(f"{ast.unparse(node)!r} is not allowed: only numbers, arithmetic "
                        "and " + ", ".join(sorted(_FUNCTIONS)) + ".")

    try:
        return walk(tree)
    except ZeroDivisionError:
        raise ToolError("Division by zero.") from None
    except (OverflowError, ValueError, TypeError) as exc:
        raise ToolError(f"The expression cannot be computed ({exc}).") from None


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly, e.g. "17 * (3 + 4) / 2" or "sqrt(2) ** 3".

    Numbers, + - * / // % ** and parentheses, sqrt, abs, round, log, exp, sin, cos, tan, min,
    max, pi and e.
    """
    value = evaluate(expression)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return str(value)


@tool
def current_time() -> str:
    """The current date and time, in UTC and in the server's time zone (ISO 8601)."""
    now = dt.datetime.now(dt.UTC)
    return f"UTC: {now.isoformat(timespec='seconds')}; local: " \
           f"{now.astimezone().isoformat(timespec='seconds')}"


@tool(needs=("settings", "kb"))
def search_knowledge_base(settings: Any, kb: Any, query: str, k: int = 5) -> Cited:
    """Search the chosen knowledge base; returns numbered passages with their sources.

    Cite a passage by its number in square brackets, like [1].
    """
    from lib import knowledge

    if kb is None:
        raise ToolError("No knowledge base is chosen for this chat.")
    hits = knowledge.search(settings, kb, query, max(1, min(k, 10)))
    if not hits:
        return Cited("No passages matched.")
    lines, sources = [], []
    for n, h in enumerate(hits, 1):
        where = h.source + (f", page {h.page}" if h.page else "") + f", chunk {h.index + 1}"
        lines.append(f"[{n}] ({where}; id {h.chunk_id})\n{h.text}")
        sources.append({"chunk_id": h.chunk_id, "source": h.source, "page": h.page,
                        "heading": h.heading, "index": h.index, "text": h.text})
    return Cited("\n\n".join(lines), tuple(sources))


@tool(needs=("settings", "kb"))
def read_chunk(settings: Any, kb: Any, chunk_id: str) -> Cited:
    """Read one stored passage of the chosen knowledge base in full, by its id."""
    from lib import knowledge

    if kb is None:
        raise ToolError("No knowledge base is chosen for this chat.")
    rows = knowledge.chunk_texts(settings, kb, [chunk_id])
    if not rows:
        raise ToolError(f"There is no passage with id {chunk_id!r} in {kb.name}.")
    row = rows[0]
    return Cited(row["text"], ({"chunk_id": chunk_id, "source": row["name"],
                                "page": row["page"], "heading": row["heading"],
                                "index": row["idx"], "text": row["text"]},))


BUILTINS: dict[str, Tool] = {t.name: t for t in (search_knowledge_base, calculator,
                                                 current_time, read_chunk)}
