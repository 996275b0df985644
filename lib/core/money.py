"""Money is kept in integer micro-dollars (µ$); tokens x ($ per million) is exactly µ$."""

from __future__ import annotations

MICRO = 1_000_000


def format_usd(micro: int) -> str:
    """A price for people: four decimals under a dollar, so a tiny budget never reads "$0"."""
    if micro == 0:
        return "$0"
    dollars = micro / MICRO
    return f"${dollars:,.4f}" if abs(dollars) < 1 else f"${dollars:,.2f}"


def to_micro(dollars: float) -> int:
    return round(dollars * MICRO)
