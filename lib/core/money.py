"""Money is kept in integer micro-dollars (µ$); tokens x ($ per million) is exactly µ$."""

from __future__ import annotations

MICRO = 1_000_000


def format_usd(micro: int, *, like: int | None = None) -> str:
    """A price for people: four decimals under a dollar, so a tiny budget never reads "$0".

    `like`: format with the precision another amount needs, so "0 of 0.01" reads
    "$0.0000 of $0.0100" rather than "$0 of $0.0100".
    """
    scale = abs(micro if like is None else max(abs(micro), abs(like)))
    if scale == 0:
        return "$0"
    dollars = micro / MICRO
    return f"${dollars:,.4f}" if scale < MICRO else f"${dollars:,.2f}"


UNKNOWN_COST = "unknown"  # what a cost at a price nobody set reads (a discovered model): never "$0"


def format_cost(micro: int, unpriced: int | bool = 0) -> str:
    """What calls cost, for people: `unpriced` counts the calls among them that ran on a model
    whose price is unknown, so the sum reads "unknown" or "$0.0120 + unknown", never a
    figure that leaves them out without saying so."""
    if not unpriced:
        return format_usd(micro)
    return UNKNOWN_COST if micro == 0 else f"{format_usd(micro)} + {UNKNOWN_COST}"


def format_usd_pair(used: int, limit: int) -> tuple[str, str]:
    """Two amounts read together ("$0.0000 of $0.0100"), at one precision."""
    like = max(abs(used), abs(limit))
    return format_usd(used, like=like), format_usd(limit, like=like)


def to_micro(dollars: float) -> int:
    return round(dollars * MICRO)
