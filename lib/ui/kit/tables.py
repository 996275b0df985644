"""Small tables as Markdown: drawn at once, and readable by screen readers. (st.table would
import pandas, which alone takes longer than a page the first time a process draws one.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lib.ui.kit.text import Markdown, join, md, plain


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> Markdown:
    """Rows as a Markdown table (a key a row lacks: an empty cell); every key and cell
    escaped, so a `|` in a cell cannot open a column."""
    if not rows:
        return Markdown()
    keys = list(dict.fromkeys(k for row in rows for k in row))  # every key, first seen first
    lines = [md("| {} |", join(" | ", (plain(k) for k in keys))),
             Markdown("|" + "---|" * len(keys))]
    lines += [md("| {} |", join(" | ", (_one_line(row.get(k, "")) for k in keys))) for row in rows]
    return join("\n", lines)


def _one_line(value: Any) -> Markdown:
    """A cell on one line: each of its lines escaped, joined by spaces."""
    return join(" ", str(value).splitlines() or [""])
