"""JSON from outside (a variable's value, a model's reply, an API request) with its nesting
and its size bounded.

json.loads recurses once per level: a value nested 100,000 deep raises RecursionError in the
app process. And it holds the GIL while it builds: 8 MiB of `[],` is 2.8 million lists and
2.7 s in which no other thread runs. So the depth, and where asked the number of values, are
measured first and refused past their limits. Both measures are linear: escaped backslashes
and quotes are dropped first at C speed, after which every quote opens or closes a string;
then only strings and brackets are walked. (A regex that skipped strings with their escapes
backtracked: 40 KB of `\\"` took 10 s under the GIL.)
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
_STRING = re.compile(r'"[^"]*"')
_TOKEN = re.compile(r'"[^"]*"|[\[\]{}]')


class TooDeep(ValueError):
    """The JSON nests deeper than allowed (a ValueError, as json's own errors are)."""


class TooBig(ValueError):
    """The JSON holds more values than allowed."""


def _unescaped(text: str) -> str:
    """The text without its escaped backslashes and quotes: in valid JSON every quote left
    opens or closes a string (left to right, a backslash pair is always one escape)."""
    return text.replace("\\\\", "").replace('\\"', "")


def _depth(bare: str, limit: int) -> int:
    deepest = level = 0
    for match in _TOKEN.finditer(bare):
        c = match.group()
        if c in "[{":
            level += 1
            if level > deepest:
                deepest = level
                if deepest > limit:
                    break
        elif c in "]}":
            level = max(0, level - 1)
        # else a whole string, brackets and all: skipped
    return deepest


def _outside(bare: str, limit: int) -> tuple[int, str] | None:
    """(values, the text between strings), or None past `limit` values; C speed."""
    strings = bare.count('"') // 2
    if strings > limit:
        return None
    outside = "".join(bare.split('"')[0::2])
    found = strings + outside.count("[") + outside.count("{") + outside.count(",") + 1
    return None if found > limit else (found, outside)


def depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deep the brackets of a JSON text nest, counting at most limit + 1 levels.

    Linear in the text: brackets inside strings (escapes included) are not counted."""
    return _depth(_unescaped(text), limit)


def values(text: str, limit: int) -> int:
    """About how many values json.loads would build from the text (strings, lists, objects,
    and one per comma for numbers and literals), counted at C speed; past `limit` the count
    stops and says limit + 1."""
    counted = _outside(_unescaped(text), limit)
    return limit + 1 if counted is None else counted[0]


def loads(text: str, *, max_depth: int = MAX_DEPTH, max_values: int | None = None) -> Any:
    """json.loads, refusing nesting deeper than max_depth and, given max_values, more values
    than that (raises ValueError either way)."""
    bare = _unescaped(text)
    if max_values is not None:
        counted = _outside(bare, max_values)
        if counted is None:
            raise TooBig(f"it holds more than {max_values:,} values")
        bare = counted[1]  # strings gone: only brackets are left to walk
    if _depth(bare, max_depth) > max_depth:
        raise TooDeep(f"it nests deeper than {max_depth} levels")
    return json.loads(text)
