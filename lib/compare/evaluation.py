"""What judges' verdicts say beside people's votes: each judge's outcomes per pair, its
position consistency, its agreement with people (kappa), and a ranking of the variants."""

from __future__ import annotations

from dataclasses import dataclass

from lib.compare.agreement import Agreement, cohen_kappa
from lib.compare.judges import Verdict
from lib.compare.ranking import Strength, bradley_terry
from lib.compare.runs import Run
from lib.compare.stats import VariantScore, scores

LABELS = ("left", "right", "tie")   # a pair's outcome; people's "both bad" counts as a tie
SOURCES = ("votes", "judge", "both")

Outcomes = dict[tuple[int, int, int], str]   # (row, left, right) -> left | right | tie


@dataclass(frozen=True)
class JudgeReport:
    judge: str
    kind: str
    verdicts: int
    failed: int                 # verdicts with no outcome (a reply that could not be read)
    consistency: float | None   # pairwise: share of pairs both orders agreed on
    outcomes: Outcomes
    agreement: Agreement        # with people, on the pairs both judged
    scores: list[VariantScore]  # the judge's win rates


def judge_outcomes(run: Run, verdicts: list[Verdict]) -> Outcomes:
    """Pair outcomes from one judge: pairwise verdicts as they are; rubric scores compared
    (the higher score wins, equal scores tie)."""
    out: Outcomes = {}
    scored = {(v.row, v.left): v.score for v in verdicts if v.kind == "rubric"
              and v.score is not None}
    for v in verdicts:
        if v.kind == "pairwise" and v.outcome is not None:
            out[(v.row, v.left, v.right)] = v.outcome
    if scored:
        for row in range(len(run.rows)):
            for a, b in run.pairs():
                if (row, a) in scored and (row, b) in scored:
                    sa, sb = scored[(row, a)], scored[(row, b)]
                    out[(row, a, b)] = "left" if sa > sb else "right" if sb > sa else "tie"
    return out


def human_outcomes(run: Run) -> Outcomes:
    return {k: "tie" if o == "both_bad" else o for k, o in run.votes.items()}


def report(run: Run, verdicts: list[Verdict]) -> list[JudgeReport]:
    """One report per judge that has judged this run."""
    people = human_outcomes(run)
    out = []
    for name in sorted({v.judge for v in verdicts}):
        mine = [v for v in verdicts if v.judge == name]
        outcomes = judge_outcomes(run, mine)
        both = [(people[k], outcomes[k]) for k in sorted(people) if k in outcomes]
        marks = [v.detail["consistent"] for v in mine
                 if v.kind == "pairwise" and v.detail.get("consistent") is not None]
        out.append(JudgeReport(
            name, mine[0].kind, len(mine),
            sum(v.outcome is None and v.score is None for v in mine),
            sum(marks) / len(marks) if marks else None, outcomes,
            cohen_kappa(both, LABELS),
            scores([(a, b, o) for (_, a, b), o in outcomes.items()], len(run.variants))))
    return out


def rank_variants(run: Run, verdicts: list[Verdict], source: str = "both") -> list[Strength]:
    """Bradley-Terry strengths of the variants from people's votes, a judge's verdicts, or
    both (every judge's outcomes counted as well as every vote)."""
    outcomes: list[tuple[int, int, str]] = []
    if source in ("votes", "both"):
        outcomes += [(a, b, o) for (_, a, b), o in human_outcomes(run).items()]
    if source in ("judge", "both"):
        for name in sorted({v.judge for v in verdicts}):
            mine = [v for v in verdicts if v.judge == name]
            outcomes += [(a, b, o) for (_, a, b), o in judge_outcomes(run, mine).items()]
    return bradley_terry(outcomes, len(run.variants))
