"""Judge-versus-human agreement (Cohen's kappa) and Bradley–Terry rankings, against hand
calculations and independent implementations."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.metrics import cohen_kappa_score

from lib.compare import bradley_terry, cohen_kappa, describe
from lib.core import CompareError

Z95 = 1.959963984540054


def table(counts: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    return [pair for pair, k in counts.items() for _ in range(k)]


# The classic 2x2 table, rows the human, columns the judge, n = 50:
#               judge yes  judge no
#   human yes      20          5      | 25  (p_yes. = .5)
#   human no       10         15      | 25  (p_no.  = .5)
#                  30         20        (p_.yes = .6, p_.no = .4)
CLASSIC = table({("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15})


def test_kappa_of_the_classic_table_by_hand():
    # p_o = (20 + 15) / 50 = .7
    # p_e = .5 x .6 + .5 x .4 = .3 + .2 = .5
    # kappa = (.7 - .5) / (1 - .5) = .4
    a = cohen_kappa(CLASSIC)
    assert a.n == 50 and a.labels == ("no", "yes")
    assert a.observed == pytest.approx(0.7) and a.expected == pytest.approx(0.5)
    assert a.kappa == pytest.approx(0.4)
    assert describe(a.kappa) == "fair"


def test_kappa_interval_of_the_classic_table_by_hand():
    # Fleiss, Cohen & Everitt (1969), with 1 - kappa = .6:
    # A = p_yy [1 - (p_y. + p_.y)(.6)]² + p_nn [1 - (p_n. + p_.n)(.6)]²
    #   = .4 (1 - 1.1 x .6)² + .3 (1 - .9 x .6)² = .4 x .34² + .3 x .46²
    #   = .4 x .1156 + .3 x .2116 = .04624 + .06348 = .10972
    # B = .6² [p_yn (p_.y + p_n.)² + p_ny (p_.n + p_y.)²]
    #   = .36 [.1 x (.6 + .5)² + .2 x (.4 + .5)²] = .36 (.121 + .162) = .36 x .283 = .10188
    # C = [kappa - p_e (1 - kappa)]² = (.4 - .5 x .6)² = .1² = .01
    # Var = (A + B - C) / (n (1 - p_e)²) = (.10972 + .10188 - .01) / (50 x .25)
    #     = .2016 / 12.5 = .016128;  SE = √.016128 = .1269961
    se = math.sqrt(0.016128)
    assert se == pytest.approx(0.1269961, abs=1e-7)
    a = cohen_kappa(CLASSIC)
    # .4 ± 1.959964 x .1269961 = .4 ± .2489078
    assert a.low == pytest.approx(0.4 - Z95 * se) == pytest.approx(0.1510922, abs=1e-6)
    assert a.high == pytest.approx(0.4 + Z95 * se) == pytest.approx(0.6489078, abs=1e-6)
    wider = cohen_kappa(CLASSIC, z=2.575829)  # 99%
    assert wider.low < a.low and wider.high > a.high


def test_the_confusion_table_holds_every_pair_with_zeros():
    a = cohen_kappa([("pass", "pass"), ("pass", "fail"), ("pass", "fail")],
                    labels=["pass", "fail", "unsure"])
    assert a.labels == ("pass", "fail", "unsure")
    assert len(a.confusion) == 9 and sum(a.confusion.values()) == 3
    assert a.confusion["pass", "pass"] == 1 and a.confusion["pass", "fail"] == 2
    assert a.confusion["fail", "pass"] == 0 and a.confusion["unsure", "unsure"] == 0
    assert cohen_kappa(CLASSIC).confusion == {
        ("no", "no"): 15, ("no", "yes"): 10, ("yes", "no"): 5, ("yes", "yes"): 20}


@pytest.mark.parametrize(("seed", "n", "agree"), [(1, 200, 0.6), (2, 37, 0.3), (3, 500, 0.9)])
def test_kappa_matches_sklearn_on_random_labels(seed, n, agree):
    rng = random.Random(seed)
    labels = ["good", "ok", "bad"]
    human = [rng.choice(labels) for _ in range(n)]
    judge = [h if rng.random() < agree else rng.choice(labels) for h in human]
    a = cohen_kappa(list(zip(human, judge, strict=True)))
    assert a.kappa == pytest.approx(cohen_kappa_score(human, judge), abs=1e-12)
    assert -1 <= a.low <= a.kappa <= a.high <= 1


def test_perfect_agreement_gives_kappa_one():
    a = cohen_kappa([("a", "a")] * 5 + [("b", "b")] * 3 + [("c", "c")])
    assert a.kappa == pytest.approx(1.0) and a.observed == 1.0
    assert a.low == pytest.approx(1.0) and a.high == 1.0  # no disagreement: zero variance
    assert describe(a.kappa) == "almost perfect"


def test_undefined_kappa_is_none():
    empty = cohen_kappa([])
    assert empty.n == 0 and empty.kappa is None and empty.low is None and empty.high is None
    one_label = cohen_kappa([("yes", "yes")] * 4)  # p_e = 1: kappa would be 0 / 0
    assert one_label.expected == 1.0 and one_label.kappa is None and one_label.low is None
    assert describe(None) == "not enough data"


def test_interval_is_clipped_to_minus_one_to_one():
    a = cohen_kappa([("a", "a"), ("a", "a"), ("b", "b"), ("a", "b")])
    assert a.kappa == pytest.approx(0.5) and a.high == 1.0 and -1 <= a.low < 0.5


def test_a_label_outside_the_given_labels_is_refused():
    with pytest.raises(CompareError):
        cohen_kappa([("yes", "maybe")], labels=["yes", "no"])


@pytest.mark.parametrize(("kappa", "words"), [
    (-0.1, "poor"), (0.0, "slight"), (0.2, "slight"), (0.3, "fair"), (0.5, "moderate"),
    (0.7, "substantial"), (0.81, "almost perfect"), (1.0, "almost perfect")])
def test_landis_and_koch_words(kappa, words):
    assert describe(kappa) == words


# Bradley–Terry -------------------------------------------------------------------------------

OUTCOMES = [  # 5 items; item 4 only ever gets "both bad", so it has no games
    (0, 1, "left"), (0, 1, "left"), (0, 1, "right"), (0, 2, "left"), (0, 2, "tie"),
    (1, 2, "left"), (1, 2, "right"), (1, 2, "left"), (2, 3, "left"), (2, 3, "left"),
    (3, 0, "right"), (3, 0, "left"), (3, 1, "tie"), (1, 3, "left"), (0, 1, "both_bad"),
    (4, 2, "both_bad"),
]


def reference_scores(outcomes, n_items: int, prior: float) -> np.ndarray:
    """Maximise the regularised log-likelihood directly, vote by vote, with scipy."""
    played = sorted({i for a, b, o in outcomes if o != "both_bad" for i in (a, b)})

    def log_sigmoid(x: float) -> float:
        return -np.logaddexp(0.0, -x)

    def minus_log_likelihood(theta: np.ndarray) -> float:
        t = dict(zip(played, theta, strict=True))
        total = 0.0
        for a, b, outcome in outcomes:
            if outcome == "left":
                total += log_sigmoid(t[a] - t[b])
            elif outcome == "right":
                total += log_sigmoid(t[b] - t[a])
            elif outcome == "tie":
                total += 0.5 * log_sigmoid(t[a] - t[b]) + 0.5 * log_sigmoid(t[b] - t[a])
        for i in played:  # `prior` tied games against an opponent of log-strength 0
            total += prior * (0.5 * log_sigmoid(t[i]) + 0.5 * log_sigmoid(-t[i]))
        return -total

    fit = minimize(minus_log_likelihood, np.zeros(len(played)), method="BFGS",
                   options={"gtol": 1e-10})
    scores = np.zeros(n_items)
    scores[played] = fit.x - fit.x.mean()
    return scores


@pytest.mark.parametrize("prior", [0.5, 2.0, 0.05])
def test_bradley_terry_matches_a_direct_maximisation(prior):
    got = {s.item: s.score for s in bradley_terry(OUTCOMES, 5, prior=prior)}
    expected = reference_scores(OUTCOMES, 5, prior)
    assert [got[i] for i in range(5)] == pytest.approx(list(expected), abs=1e-4)


def test_bradley_terry_tallies_and_normalisation():
    ranked = bradley_terry(OUTCOMES, 5)
    by_item = {s.item: s for s in ranked}
    assert sum(by_item[i].score for i in range(4)) == pytest.approx(0.0, abs=1e-12)
    # Item 0: 2 wins and a loss against 1, a win and a tie (.5) against 2, a win ((3, 0,
    # "right")) and a loss against 3; the both-bad vote is no game. 4.5 wins of 7 games.
    assert by_item[0].wins == 4.5 and by_item[0].games == 7
    assert by_item[4].games == 0 and by_item[4].score == 0.0
    assert by_item[4].low == -math.inf and by_item[4].high == math.inf
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)


def test_an_obvious_order_is_ranked_in_order():
    a, b, c = 0, 1, 2
    outcomes = [(a, b, "left"), (b, c, "left"), (c, a, "right")] * 3 + [(a, b, "right")]
    ranked = bradley_terry(outcomes, 3)
    assert [s.item for s in ranked] == [a, b, c]
    assert [s.rank for s in ranked] == [1, 2, 3]
    assert ranked[0].score > ranked[1].score > ranked[2].score


def test_an_undefeated_item_gets_a_finite_strength():
    ranked = bradley_terry([(0, 1, "left")] * 20, 2)
    assert ranked[0].item == 0 and math.isfinite(ranked[0].score) and ranked[0].score > 1
    assert math.isfinite(ranked[0].low) and math.isfinite(ranked[0].high)


def test_intervals_contain_the_estimate_and_shrink_with_more_data():
    once = {s.item: s for s in bradley_terry(OUTCOMES, 5)}
    four = {s.item: s for s in bradley_terry(OUTCOMES * 4, 5)}
    for i in range(4):
        assert once[i].low < once[i].score < once[i].high
        assert four[i].low < four[i].score < four[i].high
        # The information grows 4x, so the width roughly halves (the fixed prior blurs it).
        assert four[i].high - four[i].low < 0.6 * (once[i].high - once[i].low)


def test_a_tie_is_half_a_win_to_each_side():
    ranked = bradley_terry([(0, 1, "tie")], 2)
    assert [(s.wins, s.games) for s in ranked] == [(0.5, 1.0), (0.5, 1.0)]
    assert [s.score for s in ranked] == pytest.approx([0.0, 0.0])
    assert [s.rank for s in ranked] == [1, 1]
    # Two ties are the same evidence as one win each way.
    tied = bradley_terry([(0, 1, "tie"), (0, 1, "tie"), (1, 2, "left")], 3)
    split = bradley_terry([(0, 1, "left"), (0, 1, "right"), (1, 2, "left")], 3)
    assert tied == split


def test_both_bad_changes_nothing():
    base = [(0, 1, "left"), (1, 2, "tie"), (2, 0, "right")]
    assert bradley_terry(base + [(0, 2, "both_bad")] * 5, 3) == bradley_terry(base, 3)


def test_nothing_to_rank():
    ranked = bradley_terry([], 3)
    assert [(s.item, s.score, s.rank) for s in ranked] == [(0, 0.0, 1), (1, 0.0, 1), (2, 0.0, 1)]


@pytest.mark.parametrize(("outcomes", "prior"), [
    ([(0, 1, "maybe")], 0.5), ([(0, 3, "left")], 0.5), ([(1, 1, "left")], 0.5),
    ([(0, 1, "left")], 0.0)])
def test_bad_input_is_refused(outcomes, prior):
    with pytest.raises(CompareError):
        bradley_terry(outcomes, 2, prior=prior)
