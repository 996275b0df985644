"""JSON from outside (a variable's value, a model's reply) with its nesting bounded.

json.loads recurses once per level: a value nested 100,000 deep raises RecursionError in the
app process. The depth is measured first, in one linear pass, and refused past the limit. (A
regex that skipped strings first backtracked: 40 KB of `\\"` took 10 s under the GIL.)
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
# Only these characters matter to nesting; C-speed search finds them, Python walks the few.
_SIGNIFICANT = re.compile(r'[\[\]{}"\\]')


class TooDeep(ValueError):
    """The JSON nests deeper than allowed (a ValueError, as json's own errors are)."""


def depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deep the brackets of a JSON text nest, counting at most limit + 1 levels.

    Linear in the text: brackets inside strings (escapes included) are not counted."""
    deepest = level = 0
    in_string = escaped = False
    for match in _SIGNIFICANT.finditer(text):
        c = match.group()
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = match.end() < len(text)
                if escaped and text[match.end()] not in '"\\':
                    escaped = False  # \n, \u...: the next significant character is its own
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            level += 1
            if level > deepest:
                deepest = level
                if deepest > limit:
                    break
        elif c in "]}":
            level = max(0, level - 1)
    return deepest


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads, refusing nesting deeper than max_depth (raises ValueError either way)."""
    if depth(text, max_depth) > max_depth:
        raise TooDeep(f"it nests deeper than {max_depth} levels")
    return json.loads(text)
