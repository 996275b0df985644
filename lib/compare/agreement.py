"""How far a model judge agrees with people on the same items: Cohen's kappa and its interval."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lib.compare.stats import Z95
from lib.core import CompareError

# Landis & Koch (1977): the upper end of each band; below 0 is "poor".
BANDS = ((0.2, "slight"), (0.4, "fair"), (0.6, "moderate"),
         (0.8, "substantial"), (math.inf, "almost perfect"))


@dataclass(frozen=True)
class Agreement:
    n: int
    labels: tuple[str, ...]
    confusion: dict[tuple[str, str], int]  # (human label, judge label) -> count, zeros included
    observed: float  # p_o: the share of items on which judge and human agree
    expected: float  # p_e: the share two raters with these marginals would agree on by chance
    kappa: float | None  # None when undefined: no items, or chance alone explains everything
    low: float | None
    high: float | None


def cohen_kappa(pairs: Sequence[tuple[str, str]], labels: Sequence[str] | None = None,
                z: float = Z95) -> Agreement:
    """Unweighted Cohen's kappa of (human, judge) label pairs, with a large-sample interval."""
    seen = {label for pair in pairs for label in pair}
    labels = tuple(sorted(seen)) if labels is None else tuple(dict.fromkeys(labels))
    if unknown := seen - set(labels):
        raise CompareError(f"Labels {sorted(unknown)} are not among {list(labels)}.")
    confusion = {(h, j): 0 for h in labels for j in labels}
    for human, judge in pairs:
        confusion[human, judge] += 1
    n = len(pairs)
    if n == 0:
        return Agreement(0, labels, confusion, 0.0, 0.0, None, None, None)

    p = {key: count / n for key, count in confusion.items()}
    row = {a: sum(p[a, b] for b in labels) for a in labels}  # the human's marginals, p_i.
    col = {b: sum(p[a, b] for a in labels) for b in labels}  # the judge's marginals, p_.j
    p_o = sum(p[a, a] for a in labels)
    p_e = sum(row[a] * col[a] for a in labels)
    if p_e >= 1 - 1e-12:  # both always gave the same single label: kappa is 0/0
        return Agreement(n, labels, confusion, p_o, p_e, None, None, None)
    kappa = (p_o - p_e) / (1 - p_e)

    # Fleiss, Cohen & Everitt (1969), the non-null variance (statsmodels' std_kappa):
    #   A = Σ_i p_ii [1 - (p_i. + p_.i)(1 - κ)]²
    #   B = (1 - κ)² Σ_{i≠j} p_ij (p_.i + p_j.)²
    #   C = [κ - p_e (1 - κ)]²
    #   Var(κ) = (A + B - C) / (n (1 - p_e)²)
    # Not the simpler null variance, which only holds when the true kappa is 0.
    a = sum(p[i, i] * (1 - (row[i] + col[i]) * (1 - kappa)) ** 2 for i in labels)
    b = (1 - kappa) ** 2 * sum(p[i, j] * (col[i] + row[j]) ** 2
                               for i in labels for j in labels if i != j)
    c = (kappa - p_e * (1 - kappa)) ** 2
    se = math.sqrt(max(0.0, a + b - c) / (n * (1 - p_e) ** 2))  # rounding can dip below 0
    low, high = max(-1.0, kappa - z * se), min(1.0, kappa + z * se)
    return Agreement(n, labels, confusion, p_o, p_e, kappa, low, high)


def describe(kappa: float | None) -> str:
    """Landis & Koch's words for a kappa: poor, slight, fair, ... almost perfect."""
    return ("not enough data" if kappa is None else "poor" if kappa < 0
            else next(word for top, word in BANDS if kappa <= top))
