"""Win rates and Wilson intervals against hand-computed cases."""

from __future__ import annotations

import pytest

from lib.compare import more_votes_needed, scores, significant, wilson


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (8, 10, 0.4902, 0.9433),     # p = .8: centre .7167, half-width .2266
    (0, 5, 0.0, 0.4345),         # centre = half-width = .38416 / 1.76832
    (50, 100, 0.4038, 0.5962),
    (10, 10, 0.7225, 1.0),
    (1, 2, 0.0945, 0.9055),
])
def test_wilson_interval(k, n, low, high):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_no_votes_means_no_knowledge():
    assert wilson(0, 0) == (0.0, 1.0) and not significant(0, 0)
    assert more_votes_needed(0, 0) is None
    assert more_votes_needed(5, 10) is None  # a dead heat never becomes significant


def test_more_votes_needed():
    # 8 of 10: not yet significant (low .490); at 9 of 11 the low bound is .523.
    assert not significant(8, 10) and significant(9, 11)
    assert more_votes_needed(8, 10) == 1
    assert more_votes_needed(10, 10) == 0
    m = more_votes_needed(6, 10)
    assert significant(round(0.6 * (10 + m)), 10 + m)
    assert not significant(round(0.6 * (9 + m)), 9 + m)
    assert 70 <= m <= 100  # about 1.96² x .24 / .1² - 10 = 82


def test_scores_from_pairwise_votes():
    votes = [(0, 1, "left"), (0, 1, "left"), (0, 1, "right"), (0, 1, "tie"),
             (0, 2, "both_bad"), (1, 2, "right")]
    a, b, c = scores(votes, 3)
    assert (a.wins, a.losses, a.ties, a.both_bad) == (2, 1, 1, 1)
    assert (b.wins, b.losses, b.ties, b.both_bad) == (1, 3, 1, 0)
    assert (c.wins, c.losses, c.both_bad) == (1, 0, 1)
    assert a.win_rate == pytest.approx(2 / 3) and b.win_rate == 0.25
    assert a.interval == wilson(2, 3)
