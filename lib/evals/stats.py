"""The statistics behind eval gates: paired pass/fail comparisons (McNemar's exact test), a
paired bootstrap interval for scores, pass@k and pass^k over repeats, and flaky rows.

Pure Python on `math` and `random`: exact integer arithmetic where the answer is a ratio of
counts, so a gate's verdict never hangs on a float sum.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from lib.compare import wilson
from lib.core import EvalError


def _binomial_tail(at_least: int, n: int) -> float:
    """P(X >= at_least) for X ~ Binomial(n, 1/2), from exact integers."""
    hits = sum(math.comb(n, i) for i in range(max(at_least, 0), n + 1))
    return hits / 2**n  # int / int is correctly rounded, however large 2**n grows


def _counts(lost: int, gained: int) -> None:
    if lost < 0 or gained < 0:
        raise EvalError(f"Discordant counts cannot be negative (lost {lost}, gained {gained}).")


def regression_p(lost: int, gained: int) -> float:
    """McNemar's exact test, one-sided: the chance of at least `lost` losses among the
    lost + gained discordant rows if the change did nothing (each way equally likely).

    lost: rows the baseline passed and the candidate failed; gained: the reverse. Rows both
    passed or both failed say nothing about the change and are left out. 1.0 when no row
    changed.
    """
    _counts(lost, gained)
    return _binomial_tail(lost, lost + gained)


def mcnemar_exact(lost: int, gained: int) -> float:
    """McNemar's exact test, two-sided: min(1, twice the smaller tail), as statsmodels'
    `mcnemar(exact=True)` gives it."""
    _counts(lost, gained)
    n = lost + gained
    return min(1.0, 2 * _binomial_tail(max(lost, gained), n))


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, interpolated linearly (numpy's default, type 7)."""
    h = (len(ordered) - 1) * q
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def paired_bootstrap(diffs: Sequence[float], *, level: float = 0.95, resamples: int = 10_000,
                     seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean paired difference (candidate minus baseline,
    one difference per row), the same for the same seed."""
    if not diffs:
        raise EvalError("A bootstrap interval needs at least one paired difference.")
    if not 0 < level < 1:
        raise EvalError(f"The interval's level must be between 0 and 1, not {level}.")
    if resamples < 1:
        raise EvalError(f"The bootstrap needs at least one resample, not {resamples}.")
    values = [float(d) for d in diffs]
    if all(d == values[0] for d in values):  # every resample is the same: no float drift
        return values[0], values[0]
    rng, n = random.Random(seed), len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1 - level) / 2
    return _quantile(means, tail), _quantile(means, 1 - tail)


def _repeats(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n:
        raise EvalError(f"Successes must be between 0 and the {n} repeats, not {c}.")
    if not 1 <= k <= n:
        raise EvalError(f"k must be between 1 and the {n} repeats, not {k}.")


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of pass@k from c successes in n repeats: the chance that at least
    one of k repeats drawn without replacement passes, 1 - C(n-c, k) / C(n, k)."""
    _repeats(n, c, k)
    total = math.comb(n, k)
    return (total - math.comb(n - c, k)) / total


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k from c successes in n repeats: the chance that all k repeats drawn without
    replacement pass, C(c, k) / C(n, k)."""
    _repeats(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def flaky(outcomes: Sequence[bool]) -> bool:
    """Whether a row's repeats disagree (some passed, some failed)."""
    return len(set(outcomes)) > 1


def meets_min_pass_rate(passed: int, n: int, min_pass_rate: float) -> bool:
    """Whether the lower bound of the Wilson 95% interval of the pass rate reaches the
    threshold: a pass rate that is high by luck on few rows does not pass."""
    return wilson(passed, n)[0] >= min_pass_rate


@dataclass(frozen=True)
class Comparison:
    """One check's paired comparison of a candidate with its baseline over the same rows."""

    lost: int  # baseline passed, candidate failed
    gained: int  # baseline failed, candidate passed
    both_pass: int
    both_fail: int
    p: float  # regression_p(lost, gained)
    regressed: bool  # p < alpha and more rows lost than gained
    rows_lost: tuple[int, ...]  # indices of the lost rows

    @property
    def ties(self) -> int:
        return self.both_pass + self.both_fail

    @property
    def n(self) -> int:
        return self.lost + self.gained + self.ties


def compare_paired(baseline: Sequence[bool], candidate: Sequence[bool],
                   alpha: float) -> Comparison:
    """The gate's verdict on one check: did the candidate fail rows the baseline passed more
    often than chance allows at level alpha?"""
    if len(baseline) != len(candidate):
        raise EvalError(f"A paired comparison needs the same rows: the baseline has "
                           f"{len(baseline)}, the candidate {len(candidate)}.")
    if not 0 < alpha < 1:
        raise EvalError(f"The significance level must be between 0 and 1, not {alpha}.")
    pairs = list(zip(baseline, candidate, strict=True))
    rows_lost = tuple(i for i, (b, c) in enumerate(pairs) if b and not c)
    gained = sum(1 for b, c in pairs if c and not b)
    both_pass = sum(1 for b, c in pairs if b and c)
    lost = len(rows_lost)
    p = regression_p(lost, gained)
    return Comparison(lost=lost, gained=gained, both_pass=both_pass,
                      both_fail=len(pairs) - lost - gained - both_pass, p=p,
                      regressed=p < alpha and lost > gained, rows_lost=rows_lost)
