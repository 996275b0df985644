"""Time as the ledger keeps it: UTC, ISO-8601 with milliseconds; days are UTC days."""

from __future__ import annotations

import datetime as dt


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def today() -> str:
    """Today's UTC date, YYYY-MM-DD."""
    return dt.datetime.now(dt.UTC).date().isoformat()


def ago_iso(seconds: float) -> str:
    """The UTC instant `seconds` ago, in the ledger's format (for cut-offs)."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat(
        timespec="milliseconds")
