"""The eval gates' statistics against hand calculations on fixed tables and against scipy
(binomtest for McNemar's exact tails, bootstrap for the paired interval)."""

from __future__ import annotations

import itertools
import random
import time

import numpy as np
import pytest
from scipy.stats import binomtest, bootstrap

from lib.compare import wilson
from lib.core import EvalError
from lib.evals import (
    Comparison,
    compare_paired,
    flaky,
    mcnemar_exact,
    meets_min_pass_rate,
    paired_bootstrap,
    pass_at_k,
    pass_hat_k,
    regression_p,
)

Z95 = 1.959963984540054


# --- McNemar's exact test -------------------------------------------------------------------

@pytest.mark.parametrize(("lost", "gained", "p"), [
    (5, 0, 1 / 32),            # every discordant row lost: 1/2^5
    (10, 0, 1 / 1024),
    (1, 0, 1 / 2),             # one row: a coin flip
    (2, 0, 1 / 4),
    (1, 1, 3 / 4),             # P(X >= 1 | n = 2) = (2 + 1) / 4
    (4, 2, 22 / 64),           # (C(6,4) + C(6,5) + C(6,6)) / 64 = (15 + 6 + 1) / 64
    (0, 5, 1.0),               # at least no losses: certain
    (0, 0, 1.0),               # no discordant rows: nothing to test
])
def test_regression_p_by_hand(lost, gained, p):
    assert regression_p(lost, gained) == pytest.approx(p, rel=1e-15)


@pytest.mark.parametrize(("lost", "gained", "p"), [
    (5, 0, 2 / 32),
    (0, 5, 2 / 32),
    (10, 0, 2 / 1024),
    (8, 2, 2 * 56 / 1024),     # 2 P(X <= 2 | n = 10) = 2 (1 + 10 + 45) / 1024
    (3, 3, 1.0),               # lost = gained: twice a tail over 1/2, capped
    (1, 0, 1.0),               # 2 x 1/2
    (1, 1, 1.0),
    (0, 0, 1.0),
])
def test_two_sided_mcnemar_by_hand(lost, gained, p):
    assert mcnemar_exact(lost, gained) == pytest.approx(p, rel=1e-15)


def test_mcnemar_tails_agree_with_scipy_binomtest():
    for lost, gained in itertools.product(range(25), repeat=2):
        n = lost + gained
        if n == 0:
            continue  # binomtest needs a row; the empty table is checked by hand above
        one = binomtest(lost, n, 0.5, alternative="greater").pvalue
        two = binomtest(lost, n, 0.5).pvalue
        assert regression_p(lost, gained) == pytest.approx(one, rel=1e-12), (lost, gained)
        assert mcnemar_exact(lost, gained) == pytest.approx(two, rel=1e-12), (lost, gained)


def test_mcnemar_stays_exact_on_large_tables():
    # 2^1000 overflows a float; the tail is a ratio of integers, so it must not
    for lost, gained in [(520, 480), (560, 440), (700, 300)]:
        n = lost + gained
        assert regression_p(lost, gained) == pytest.approx(
            binomtest(lost, n, 0.5, alternative="greater").pvalue, rel=1e-9)
        assert mcnemar_exact(lost, gained) == pytest.approx(
            binomtest(lost, n, 0.5).pvalue, rel=1e-9)
    assert 0 < regression_p(700, 300) < 1e-30


def test_negative_counts_are_refused():
    with pytest.raises(EvalError):
        regression_p(-1, 2)
    with pytest.raises(EvalError):
        mcnemar_exact(2, -1)


# --- the paired comparison: the gate's per-check verdict ------------------------------------

def rows(both_pass: int, lost: int, gained: int, both_fail: int) -> tuple[list[bool], list[bool]]:
    """A baseline and a candidate with these counts, in this order of rows."""
    base = [True] * both_pass + [True] * lost + [False] * gained + [False] * both_fail
    cand = [True] * both_pass + [False] * lost + [True] * gained + [False] * both_fail
    return base, cand


def test_082_to_078_on_50_rows_is_not_a_regression():
    # baseline 41/50 = 0.82, candidate 39/50 = 0.78: 4 rows lost, 2 gained
    base, cand = rows(37, 4, 2, 7)
    assert (sum(base), sum(cand), len(base)) == (41, 39, 50)
    c = compare_paired(base, cand, alpha=0.05)
    assert (c.lost, c.gained, c.both_pass, c.both_fail, c.ties, c.n) == (4, 2, 37, 7, 44, 50)
    assert c.p == pytest.approx(22 / 64)
    assert c.regressed is False
    assert c.rows_lost == (37, 38, 39, 40)
    # the same drop with no row gained is still within chance: 1/4
    worst = compare_paired(*rows(39, 2, 0, 9), alpha=0.05)
    assert (worst.p, worst.regressed) == (pytest.approx(0.25), False)


def test_ten_rows_lost_and_none_gained_is_a_regression():
    base, cand = rows(31, 10, 0, 9)
    assert (sum(base), sum(cand), len(base)) == (41, 31, 50)
    c = compare_paired(base, cand, alpha=0.05)
    assert c == Comparison(lost=10, gained=0, both_pass=31, both_fail=9, p=1 / 1024,
                           regressed=True, rows_lost=tuple(range(31, 41)))


def test_the_rows_lost_are_named_wherever_they_are():
    base = [True, False, True, True, False, True]
    cand = [False, True, True, False, False, True]
    c = compare_paired(base, cand, alpha=0.05)
    assert (c.lost, c.gained, c.both_pass, c.both_fail) == (2, 1, 2, 1)
    assert c.rows_lost == (0, 3)


def test_a_regression_needs_the_level():
    base, cand = rows(10, 5, 0, 0)  # p = 1/32 = 0.03125
    assert compare_paired(base, cand, alpha=0.05).regressed is True
    assert compare_paired(base, cand, alpha=0.01).regressed is False
    assert compare_paired(base, cand, alpha=0.03125).regressed is False  # p < alpha, strictly


def test_more_rows_gained_than_lost_never_regresses():
    c = compare_paired(*rows(0, 3, 9, 0), alpha=0.99)
    assert c.p == pytest.approx(regression_p(3, 9)) and c.p < 0.99
    assert c.regressed is False


def test_ties_only_say_nothing():
    c = compare_paired(*rows(30, 0, 0, 20), alpha=0.05)
    assert (c.lost, c.gained, c.both_pass, c.both_fail, c.p, c.regressed, c.rows_lost) == (
        0, 0, 30, 20, 1.0, False, ())


@pytest.mark.parametrize(("base", "cand", "lost", "p"), [
    ([], [], 0, 1.0),
    ([True], [False], 1, 0.5),
    ([True], [True], 0, 1.0),
    ([False], [True], 0, 1.0),
    ([True, True], [False, False], 2, 0.25),
    ([True, False], [False, True], 1, 0.75),
])
def test_tiny_samples(base, cand, lost, p):
    c = compare_paired(base, cand, alpha=0.05)
    assert (c.lost, c.p, c.regressed, c.n) == (lost, pytest.approx(p), False, len(base))


def test_a_comparison_needs_the_same_rows_and_a_level():
    with pytest.raises(EvalError, match="same rows"):
        compare_paired([True, False], [True], alpha=0.05)
    for alpha in (0.0, 1.0, -0.1):
        with pytest.raises(EvalError, match="significance level"):
            compare_paired([True], [True], alpha=alpha)


# --- the paired bootstrap -------------------------------------------------------------------

def scores(n: int, seed: int) -> tuple[list[float], list[float]]:
    """Judge-like scores in 0..1 for a baseline and a candidate a little worse on average."""
    r = random.Random(seed)
    base = [r.random() for _ in range(n)]
    cand = [min(1.0, max(0.0, b + r.gauss(-0.03, 0.15))) for b in base]
    return base, cand


def test_bootstrap_agrees_with_scipy_on_paired_scores():
    base, cand = scores(300, seed=5)
    diffs = [c - b for b, c in zip(base, cand, strict=True)]
    theirs = bootstrap((np.array(base), np.array(cand)),
                       lambda b, c, axis: np.mean(c - b, axis=axis), paired=True,
                       confidence_level=0.95, n_resamples=10_000, method="percentile",
                       rng=0).confidence_interval
    low, high = paired_bootstrap(diffs, seed=0)
    # both are Monte Carlo estimates (their spread over seeds is about 0.0002 here) of an
    # interval about 0.03 wide
    assert high - low == pytest.approx(0.0295, abs=0.002)
    assert low == pytest.approx(theirs.low, abs=0.0015)
    assert high == pytest.approx(theirs.high, abs=0.0015)
    assert low < sum(diffs) / len(diffs) < high < 0  # a real drop: the interval excludes 0


def test_bootstrap_agrees_with_scipy_on_paired_pass_fail():
    r = random.Random(3)
    base = [r.random() < 0.7 for _ in range(400)]
    cand = [b if r.random() < 0.8 else not b for b in base]
    diffs = [float(c) - float(b) for b, c in zip(base, cand, strict=True)]
    theirs = bootstrap((np.array(base, float), np.array(cand, float)),
                       lambda b, c, axis: np.mean(c - b, axis=axis), paired=True,
                       n_resamples=10_000, method="percentile", rng=1).confidence_interval
    low, high = paired_bootstrap(diffs, seed=1)
    # the means fall on a lattice of 1/400 = 0.0025: allow one step
    assert low == pytest.approx(theirs.low, abs=0.0026)
    assert high == pytest.approx(theirs.high, abs=0.0026)


def test_bootstrap_is_the_same_for_a_seed():
    base, cand = scores(60, seed=9)
    diffs = [c - b for b, c in zip(base, cand, strict=True)]
    assert paired_bootstrap(diffs, seed=4) == paired_bootstrap(diffs, seed=4)
    assert paired_bootstrap(diffs, seed=4) != paired_bootstrap(diffs, seed=5)


def test_a_narrower_level_gives_an_interval_inside():
    base, cand = scores(100, seed=2)
    diffs = [c - b for b, c in zip(base, cand, strict=True)]
    low95, high95 = paired_bootstrap(diffs)
    low90, high90 = paired_bootstrap(diffs, level=0.90)
    low99, high99 = paired_bootstrap(diffs, level=0.99)
    assert low99 < low95 < low90 < high90 < high95 < high99


@pytest.mark.parametrize("d", [0.1, 0.0, -1.0, 1 / 3])
def test_all_equal_differences_give_a_point(d):
    assert paired_bootstrap([d] * 100) == (d, d)
    assert paired_bootstrap([d]) == (d, d)  # one row


def test_two_rows_by_hand():
    # resampled means of [0, 1]: 0 (1/4), 1/2 (1/2), 1 (1/4); 2.5% and 97.5% fall in the ends
    assert paired_bootstrap([0.0, 1.0]) == (0.0, 1.0)
    # and a 40% interval sits on the middle value: the 30th and 70th percentiles are both 1/2
    assert paired_bootstrap([0.0, 1.0], level=0.4) == (0.5, 0.5)


def test_bootstrap_refuses_what_it_cannot_do():
    with pytest.raises(EvalError, match="at least one"):
        paired_bootstrap([])
    for level in (0.0, 1.0, 95):
        with pytest.raises(EvalError, match="level"):
            paired_bootstrap([0.0, 1.0], level=level)
    with pytest.raises(EvalError, match="resample"):
        paired_bootstrap([0.0, 1.0], resamples=0)


def test_ten_thousand_resamples_of_a_hundred_rows_are_quick():
    base, cand = scores(100, seed=1)
    diffs = [c - b for b, c in zip(base, cand, strict=True)]
    start = time.perf_counter()
    paired_bootstrap(diffs, resamples=10_000)
    assert time.perf_counter() - start < 1.0  # about 0.1 s on one core


# --- repeats: pass@k, pass^k, flaky rows ----------------------------------------------------

@pytest.mark.parametrize(("n", "c", "k", "at", "hat"), [
    (5, 2, 2, 1 - 3 / 10, 1 / 10),     # 1 - C(3,2)/C(5,2); C(2,2)/C(5,2)
    (5, 2, 1, 2 / 5, 2 / 5),           # k = 1: both are the pass rate
    (5, 3, 3, 1.0, 1 / 10),            # C(2,3) = 0: every draw of 3 holds a pass; C(3,3)/C(5,3)
    (5, 0, 2, 0.0, 0.0),
    (5, 5, 2, 1.0, 1.0),
    (10, 3, 5, 1 - 21 / 252, 0.0),     # C(7,5) = 21, C(10,5) = 252; k > c: pass^k is 0
    (1, 1, 1, 1.0, 1.0),
    (1, 0, 1, 0.0, 0.0),
    (2, 1, 2, 1.0, 0.0),
    (2, 1, 1, 0.5, 0.5),
])
def test_pass_at_k_and_pass_hat_k_by_hand(n, c, k, at, hat):
    assert pass_at_k(n, c, k) == pytest.approx(at, rel=1e-15)
    assert pass_hat_k(n, c, k) == pytest.approx(hat, rel=1e-15)


def test_pass_at_k_by_enumerating_every_draw():
    for n in range(1, 8):
        for c in range(n + 1):
            outcomes = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                draws = list(itertools.combinations(outcomes, k))
                assert pass_at_k(n, c, k) == pytest.approx(
                    sum(any(d) for d in draws) / len(draws), rel=1e-12)
                assert pass_hat_k(n, c, k) == pytest.approx(
                    sum(all(d) for d in draws) / len(draws), rel=1e-12)


@pytest.mark.parametrize(("n", "c", "k"), [(3, 1, 4), (0, 0, 1), (5, 2, 0), (5, 6, 2), (5, -1, 2)])
def test_impossible_repeats_are_refused(n, c, k):
    with pytest.raises(EvalError):
        pass_at_k(n, c, k)
    with pytest.raises(EvalError):
        pass_hat_k(n, c, k)


@pytest.mark.parametrize(("outcomes", "expected"), [
    ([True, True, True], False),
    ([False, False], False),
    ([True, False, True], True),
    ([False, True], True),
    ([True], False),
    ([], False),
])
def test_flaky_rows_are_those_whose_repeats_disagree(outcomes, expected):
    assert flaky(outcomes) is expected


# --- the pass-rate threshold: the lower Wilson bound ----------------------------------------

def test_threshold_uses_the_lower_wilson_bound():
    # all 100 passed: the lower bound is n / (n + z²) = 100 / 103.8415 = 0.96301
    assert wilson(100, 100)[0] == pytest.approx(100 / (100 + Z95**2))
    assert meets_min_pass_rate(100, 100, 0.96)
    assert not meets_min_pass_rate(100, 100, 0.964)
    # 9 of 10 is a 0.9 pass rate, but its lower bound (0.596) is under 0.8: too few rows
    assert wilson(9, 10)[0] == pytest.approx(0.5958, abs=1e-4)
    assert not meets_min_pass_rate(9, 10, 0.8)
    assert meets_min_pass_rate(9, 10, 0.59)
    assert not meets_min_pass_rate(0, 0, 0.1)  # no rows, no evidence
