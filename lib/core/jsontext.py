"""JSON from outside (a variable's value, a model's reply) with its nesting bounded.

json.loads recurses once per level: a value nested 100,000 deep raises RecursionError in the
app process. The depth is measured first, in a few C-speed regex passes, and refused past
the limit.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


class TooDeep(ValueError):
    """The JSON nests deeper than allowed (a ValueError, as json's own errors are)."""


def depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deep the brackets of a JSON text nest, counting at most limit + 1 levels."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    levels = 0
    while brackets and levels <= limit:
        brackets, n = _INNERMOST.subn("", brackets)
        if not n:
            break  # unbalanced: json.loads will say where
        levels += 1
    return levels


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads, refusing nesting deeper than max_depth (raises ValueError either way)."""
    if depth(text, max_depth) > max_depth:
        raise TooDeep(f"it nests deeper than {max_depth} levels")
    return json.loads(text)
