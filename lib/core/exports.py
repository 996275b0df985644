"""CSV files for spreadsheets, safe to open: the one way the app writes CSV.

A cell a spreadsheet would read as a formula is prefixed with a single quote, following
OWASP's advice on CSV injection: text starting with =, +, -, @, a tab or a carriage return,
also after leading whitespace (" =cmd()" is still a formula to some spreadsheets). Numbers
are left alone, so -3 stays a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

_FORMULA = ("=", "+", "-", "@")


def safe_cell(value: Any) -> Any:
    """The value, or text prefixed with ' if a spreadsheet would run it as a formula."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in "\t\r" or value.lstrip(" \t\r\n\f\v")[:1] in _FORMULA:
        return "'" + value
    return value


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
