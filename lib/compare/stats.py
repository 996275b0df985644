"""Vote statistics: win rates with Wilson 95% intervals, and how many more votes would tell."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


def wilson(wins: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for wins out of n (0..1); (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = wins / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def significant(wins: int, n: int) -> bool:
    """Whether the interval excludes 0.5: better (or worse) than a coin flip."""
    low, high = wilson(wins, n)
    return n > 0 and (low > 0.5 or high < 0.5)


def more_votes_needed(wins: int, n: int, limit: int = 100_000) -> int | None:
    """Decisive votes still needed for significance if the observed rate holds; None: never."""
    if n == 0 or wins * 2 == n:
        return None
    if significant(wins, n):
        return 0
    rate = wins / n
    lo, hi = 1, 1
    while not significant(round(rate * (n + hi)), n + hi):
        hi *= 2
        if hi > limit:
            return None
    while lo < hi:  # the smallest m that is significant; significance grows with m
        mid = (lo + hi) // 2
        if significant(round(rate * (n + mid)), n + mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class VariantScore:
    variant: int
    wins: int
    losses: int
    ties: int
    both_bad: int

    @property
    def decisive(self) -> int:
        return self.wins + self.losses

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.decisive if self.decisive else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.wins, self.decisive)

    @property
    def more_needed(self) -> int | None:
        return more_votes_needed(self.wins, self.decisive)


def scores(votes: list[tuple[int, int, str]], n_variants: int) -> list[VariantScore]:
    """Per variant, from pairwise votes (left, right, outcome): wins and losses are decisive
    votes; ties and both-bad are counted but left out of the win rate."""
    tally = {v: [0, 0, 0, 0] for v in range(n_variants)}
    for left, right, outcome in votes:
        if outcome == "left":
            tally[left][0] += 1
            tally[right][1] += 1
        elif outcome == "right":
            tally[right][0] += 1
            tally[left][1] += 1
        elif outcome == "tie":
            tally[left][2] += 1
            tally[right][2] += 1
        else:
            tally[left][3] += 1
            tally[right][3] += 1
    return [VariantScore(v, *t) for v, t in tally.items()]
