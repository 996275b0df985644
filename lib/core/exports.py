"""CSV files for spreadsheets, safe to open: the one way the app writes CSV.

A spreadsheet runs a cell as a formula when it starts with =, +, -, @ (OWASP's advice on CSV
injection names a leading tab or carriage return too). What counts as "starts" is wide:
- invisible characters may come first: any space, format or control character (Unicode
  categories Zs, Cf, Cc: a no-break space, an ideographic space, a zero-width space, a
  byte-order mark, ...), which a spreadsheet may trim or not show;
- look-alikes count as the real thing once normalised (NFKC): a fullwidth ＝ ＋ － ＠, a small
  ﹦, a superscript ⁺ (and the minus sign −);
- a cell is not always the cell we wrote: opened with another delimiter (semicolon, tab, pipe)
  or by a reader that ignores quotes (line breaks end the row), the text after any of those
  characters starts a cell of its own.
So every start (the cell's own, and the one after each such separator) is checked, and a
single quote goes right before the character that would start a formula: under any split
the piece then starts with the quote (or with invisible characters and the quote), which is
text. Nothing is removed. Numbers are left alone, so -3 stays a number.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

_FORMULA = frozenset("=+-@\u2212")   # after NFKC; U+2212 MINUS SIGN reads as a minus too
_LEADING = frozenset("\t\r")         # OWASP: a cell starting with these is suspect as well
_INVISIBLE = frozenset(("Zs", "Cf", "Cc", "Zl", "Zp"))
# Where a cell may be cut when the file is read with another delimiter or without quotes:
# the delimiters spreadsheets offer (space aside: it is in every sentence) and line breaks.
_SEPARATOR = re.compile(r"[,;\t|\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@functools.lru_cache(maxsize=4096)
def _kind(ch: str) -> str:
    """'formula', 'leading' (tab, CR), 'invisible' or '' for one character."""
    if ch in _LEADING:
        return "leading"
    folded = unicodedata.normalize("NFKC", ch)
    if folded[:1] in _FORMULA:
        return "formula"
    if all(unicodedata.category(c) in _INVISIBLE for c in folded):
        return "invisible"
    return ""


def _guard_at(value: str, start: int) -> int | None:
    """Where a quote must go for the piece starting at `start`, if anywhere."""
    for i in range(start, len(value)):
        kind = _kind(value[i])
        if kind in ("formula", "leading"):
            return i
        if kind != "invisible" or _SEPARATOR.match(value, i):
            return None  # visible text, or a separator that starts a piece of its own
    return None


def safe_cell(value: Any) -> Any:
    """The value, with a ' before whatever would make a spreadsheet read it (or a piece of it,
    under another delimiter) as a formula; anything but text is returned as it is."""
    if not isinstance(value, str) or not value:
        return value
    starts = [0, *(m.end() for m in _SEPARATOR.finditer(value))]
    guards = sorted({g for s in starts if (g := _guard_at(value, s)) is not None})
    if not guards:
        return value
    parts, last = [], 0
    for g in guards:
        parts += [value[last:g], "'"]
        last = g
    parts.append(value[last:])
    return "".join(parts)


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document with every cell (and header) made safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue()


def frame_csv(frame: pd.DataFrame) -> str:
    """A DataFrame as safe CSV (what every table download on the Costs page uses)."""
    return csv_text([str(c) for c in frame.columns],
                    ([None if _missing(v) else v for v in row]
                     for row in frame.itertuples(index=False, name=None)))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # NaN
