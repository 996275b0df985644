"""Where a key stands in a TOML file: the line a validation error should name."""

from __future__ import annotations

import re
from typing import Any

_ARRAY = re.compile(r"\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]")
_TABLE = re.compile(r"\[\s*([A-Za-z0-9_.-]+)\s*\]")
_KEY = re.compile(r"([A-Za-z0-9_-]+)\s*=")


def key_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """The line of the key at `loc` (("steps", 2, "inputs", "code") for the third
    [[steps]]'s inputs.code), or of the deepest table or key holding it; None if not found.
    A sub-table of an array's entry ([steps.do] after [[steps]]) belongs to that entry."""
    table: tuple[Any, ...] = ()
    counts: dict[str, int] = {}
    arrays: dict[str, tuple[Any, ...]] = {}   # an array's dotted name: its current entry
    best = (0, 0)   # (how much of loc matched, line)
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if m := _ARRAY.match(line):
            counts[m[1]] = counts.get(m[1], -1) + 1
            table = arrays[m[1]] = (*m[1].split("."), counts[m[1]])
        elif m := _TABLE.match(line):
            parts = m[1].split(".")
            head = next((i for i in range(len(parts), 0, -1)
                         if ".".join(parts[:i]) in arrays), 0)
            table = (*arrays[".".join(parts[:head])], *parts[head:]) if head else tuple(parts)
        elif m := _KEY.match(line):
            here = (*table, m[1])
            if loc[:len(here)] == here and len(here) > best[0]:
                best = (len(here), n)
            continue
        else:
            continue
        if loc[:len(table)] == table and len(table) > best[0]:
            best = (len(table), n)
    return best[1] or None
