"""A Bradley–Terry ranking of items from pairwise outcomes, with intervals on the strengths."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lib.compare.stats import Z95
from lib.core import CompareError

OUTCOMES = ("left", "right", "tie", "both_bad")  # a vote's outcomes, as in lib.compare.runs


@dataclass(frozen=True)
class Strength:
    item: int
    score: float  # log-strength; the scores of the items with games sum to 0
    low: float  # 95% interval of the log-strength; -inf..inf for an item with no games
    high: float
    wins: float  # a tie counts half a win
    games: float  # decisive games and ties; both-bad verdicts are not games
    rank: int  # 1 = best; equal scores share a rank (an item with no games sits at 0 too)


def bradley_terry(outcomes: Sequence[tuple[int, int, str]], n_items: int, *,
                  prior: float = 0.5) -> list[Strength]:
    """Bradley–Terry log-strengths (MM steps, then Newton's), best first, with 95% intervals."""
    if prior <= 0:
        raise CompareError("The Bradley–Terry prior must be positive.")
    wins = np.zeros((n_items, n_items))  # wins[i, j]: wins of i over j, ties counting half
    for left, right, outcome in outcomes:
        if outcome not in OUTCOMES:
            raise CompareError(f"Unknown outcome {outcome!r}.")
        if not (0 <= left < n_items and 0 <= right < n_items) or left == right:
            raise CompareError(f"Items {left} and {right} are not two of {n_items} items.")
        share = {"left": 1.0, "right": 0.0, "tie": 0.5}.get(outcome)
        if share is not None:  # "both bad" says nothing about which is better
            wins[left, right] += share
            wins[right, left] += 1.0 - share
    games = wins + wins.T  # games[i, j]: games between i and j
    played = np.flatnonzero(games.sum(axis=1) > 0)
    theta = _fit(wins[np.ix_(played, played)], prior)
    se = _standard_errors(theta, games[np.ix_(played, played)], prior)
    theta -= theta.mean() if len(theta) else 0.0

    score = np.zeros(n_items)
    low, high = np.full(n_items, -math.inf), np.full(n_items, math.inf)
    score[played] = theta
    low[played], high[played] = theta - Z95 * se, theta + Z95 * se
    # Rounded so that strengths equal but for floating-point noise share a rank.
    key = np.round(score, 9)
    order = sorted(range(n_items), key=lambda i: (-key[i], i))
    return [Strength(i, float(score[i]), float(low[i]), float(high[i]),
                     float(wins[i].sum()), float(games[i].sum()), 1 + int((key > key[i]).sum()))
            for i in order]


def _fit(wins: np.ndarray, prior: float, mm_steps: int = 200) -> np.ndarray:
    """The log-strengths maximising the regularised likelihood: MM steps, then Newton's."""
    # An item that never lost has no finite maximum-likelihood strength (the likelihood keeps
    # rising as it grows), and items in separate parts of the comparison graph have no common
    # scale. So each item also plays `prior` virtual games, all tied, against a fixed
    # pseudo-opponent of strength 1 (log-strength 0): log-likelihood gains
    # Σ_i [prior/2 · θ_i - prior · log(1 + e^θ_i)], which is strictly concave, peaks at θ_i = 0
    # and makes the maximum unique and finite; its pull fades as real games accumulate.
    games = wins + wins.T
    w = wins.sum(axis=1) + prior / 2
    pi = np.ones(len(w))
    for _ in range(mm_steps):
        # Hunter's (2004) MM update, the pseudo-opponent as one more j:
        # π_i ← W_i / Σ_j n_ij / (π_i + π_j). It climbs from any start, but only linearly, and
        # along the overall shift (which only the weak prior pins) very slowly.
        pi = w / ((games / (pi[:, None] + pi[None, :])).sum(axis=1) + prior / (pi + 1))
    theta = np.log(pi)
    for _ in range(50):  # so Newton's method, quadratic this close to the maximum, finishes
        p = _win_chances(theta)
        gradient = w - (games * p).sum(axis=1) - prior / (1 + np.exp(-theta))
        step = np.linalg.solve(_information(theta, games, prior), gradient)
        theta = theta + step
        if np.max(np.abs(step), initial=0.0) < 1e-12:
            break
    return theta


def _win_chances(theta: np.ndarray) -> np.ndarray:
    """p[i, j]: the chance that i beats j."""
    return 1 / (1 + np.exp(theta[None, :] - theta[:, None]))


def _information(theta: np.ndarray, games: np.ndarray, prior: float) -> np.ndarray:
    """Observed information: minus the Hessian of the regularised log-likelihood in θ."""
    # Each pair adds n_ij p_ij (1 - p_ij) to both diagonals and subtracts it off the diagonal;
    # the pseudo-opponent adds prior q_i (1 - q_i) to the diagonal.
    p = _win_chances(theta)
    pair = games * p * p.T
    q = 1 / (1 + np.exp(-theta))
    return np.diag(pair.sum(axis=1) + prior * q * (1 - q)) - pair


def _standard_errors(theta: np.ndarray, games: np.ndarray, prior: float) -> np.ndarray:
    """Standard errors of the log-strengths under the sum-to-zero constraint."""
    # The data part of the information is singular along (1..1): adding a constant to every θ
    # changes no win chance. Restricted to the sum-to-zero subspace (P I P) and inverted there
    # with the pseudo-inverse, it gives the covariance of the estimate under that constraint.
    m = len(theta)
    if m == 0:
        return theta
    centre = np.eye(m) - np.ones((m, m)) / m
    cov = np.linalg.pinv(centre @ _information(theta, games, prior) @ centre, hermitian=True)
    return np.sqrt(np.clip(np.diag(cov), 0.0, None))
