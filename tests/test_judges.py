"""Model judges on a compare run: both orders, position consistency, repairs, agreement with
people, rankings — with a scripted judge whose biases are known."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

import pytest
from fakes import FakeProvider, ok, scripted

from lib import compare, spend
from lib.compare import Judge, Variant
from lib.core import BudgetExceededError, JudgeError
from lib.llm import ChatRequest, Stop, TextDelta, Usage, load_catalog
from lib.prompts import PromptStore

LOCAL = "local/smollm2-135m-instruct"
ROWS = [{"text": "The app crashes when I click save.", "expected": "bug report"},
        {"text": "Please add a dark mode.", "expected": "feature request"},
        {"text": "How do I export my data?", "expected": "question"},
        {"text": "Love the new editor!", "expected": "praise"}]
# Variant A answers well ("good ..."), variant B badly.
ANSWERS = {0: ["good bug report", "good feature request", "good question", "good praise"],
           1: ["meh", "meh", "meh", "meh"]}


@dataclass
class ScriptedJudge:
    """Answers a judge prompt by a rule over the replies it is shown."""

    rule: str                      # first | content | invalid_once | rubric
    name: str = "fake"
    requests: list[ChatRequest] = field(default_factory=list)

    def stream(self, request: ChatRequest):
        self.requests.append(request)
        text = request.messages[0].content
        if self.rule == "rubric":
            reply = re.search(r'source="reply">\n(.*?)\n</untrusted>', text, re.S).group(1)
            body = {"reason": "graded", "score": 5 if reply.startswith("good") else 2}
        elif self.rule == "first":
            body = {"reason": "the first one", "winner": "first"}
        else:
            first = re.search(r'source="first">\n(.*?)\n</untrusted>', text, re.S).group(1)
            if self.rule == "invalid_once" and len(request.messages) == 1:
                body = {"reason": "?", "winner": "best"}  # not in the enum: a repair follows
            else:
                body = {"reason": "one is good", "winner": "first" if first.startswith("good")
                        else "second"}
        yield TextDelta(json.dumps(body))
        yield Usage(40, 12)
        yield Stop("end_turn")


@pytest.fixture
def run_id(settings, prompts_dir) -> int:
    store = PromptStore(prompts_dir)
    resolved = compare.resolve(store, load_catalog(settings),
                               [Variant("classifier", "production", LOCAL, 0.0, 8),
                                Variant("classifier", "production", LOCAL, 0.0, 8)])
    plan = compare.forecast(settings, resolved, ROWS)
    rid = compare.create_run(settings.db, "judged", resolved, ROWS, [])
    for v in (0, 1):  # each variant's cells answered from its own script, row by row
        one = compare.Forecast([c for c in plan.cells if c.variant == v], len(ROWS), 2)
        fake = FakeProvider([ok(a) for a in ANSWERS[v]])
        list(compare.execute(settings, rid, resolved, one, [], concurrency=1,
                             calls=scripted(settings, fake)))
    return rid


def judge(settings, prompts_dir, kind: str, model: str = LOCAL) -> compare.ResolvedJudge:
    return compare.resolve_judge(PromptStore(prompts_dir), load_catalog(settings),
                                 Judge(kind, f"judge-{kind}", "production", model))


def run_judge(settings, run_id, rj, fake):
    return list(compare.judge_run(settings, run_id, rj, concurrency=1,
                                  calls=scripted(settings, fake)))


def test_a_judge_that_always_prefers_the_first_position_is_never_consistent(
        settings, run_id, prompts_dir):
    fake = ScriptedJudge("first")
    verdicts = run_judge(settings, run_id, judge(settings, prompts_dir, "pairwise"), fake)
    assert len(verdicts) == 4 and len(fake.requests) == 8      # every pair, in both orders
    assert {v.outcome for v in verdicts} == {"tie"}
    [report] = compare.report(compare.load_run(settings.db, run_id),
                              compare.load_verdicts(settings.db, run_id))
    assert report.consistency == 0.0
    # The orders really were swapped: the second request shows B's reply first.
    second = fake.requests[1].messages[0].content
    assert second.index("meh") < second.index("good")


def test_a_consistent_judge_gives_the_better_variant_every_pair(settings, run_id, prompts_dir):
    rj = judge(settings, prompts_dir, "pairwise")
    verdicts = run_judge(settings, run_id, rj, ScriptedJudge("content"))
    assert {v.outcome for v in verdicts} == {"left"}
    assert all(v.detail["consistent"] for v in verdicts)
    with settings.db.connect() as conn:
        pages = conn.execute("SELECT page, prompt_name, prompt_version, structured, COUNT(*) "
                             "FROM calls WHERE page = 'judge' GROUP BY 1, 2, 3, 4").fetchall()
    assert [tuple(p) for p in pages] == [("judge", "judge-pairwise", 1, "valid", 8)]
    run = compare.load_run(settings.db, run_id)
    [report] = compare.report(run, compare.load_verdicts(settings.db, run_id))
    assert report.consistency == 1.0
    assert report.scores[0].wins == 4 and report.scores[1].losses == 4


def test_an_invalid_verdict_is_repaired_and_both_attempts_are_in_the_ledger(
        settings, run_id, prompts_dir):
    fake = ScriptedJudge("invalid_once")
    verdicts = run_judge(settings, run_id, judge(settings, prompts_dir, "pairwise"), fake)
    assert {v.outcome for v in verdicts} == {"left"}
    assert len(fake.requests) == 16                  # each order: the call and its repair
    assert "did not match the required JSON Schema" in fake.requests[1].messages[-1].content
    with settings.db.connect() as conn:
        rows = conn.execute("SELECT id, structured, repair_of FROM calls WHERE page = 'judge' "
                            "ORDER BY id").fetchall()
    assert [r[1] for r in rows[:2]] == ["invalid", "repaired"]
    assert rows[1][2] == rows[0][0]
    assert sum(r[1] == "invalid" for r in rows) == 8


def test_rubric_scores_become_pair_outcomes_and_agreement_with_people(
        settings, run_id, prompts_dir):
    verdicts = run_judge(settings, run_id, judge(settings, prompts_dir, "rubric"),
                         ScriptedJudge("rubric"))
    assert sorted((v.row, v.left, v.score) for v in verdicts)[:2] == [(0, 0, 5.0), (0, 1, 2.0)]
    # People agree on rows 0-2 and disagree on row 3.
    for row, outcome in [(0, "left"), (1, "left"), (2, "right"), (3, "tie")]:
        compare.vote(settings.db, run_id, row, 0, 1, outcome)
    run = compare.load_run(settings.db, run_id)
    [report] = compare.report(run, compare.load_verdicts(settings.db, run_id))
    agreement = report.agreement
    assert agreement.n == 4 and agreement.observed == 0.5
    assert agreement.confusion[("left", "left")] == 2
    assert agreement.confusion[("right", "left")] == 1
    assert agreement.confusion[("tie", "left")] == 1
    # The judge always said "left", so chance agreement is the people's share of "left".
    assert agreement.expected == 0.5 and agreement.kappa == 0.0


def test_the_ranking_uses_votes_judges_or_both(settings, run_id, prompts_dir):
    run_judge(settings, run_id, judge(settings, prompts_dir, "pairwise"), ScriptedJudge(
        "content"))
    compare.vote(settings.db, run_id, 0, 0, 1, "right")
    run = compare.load_run(settings.db, run_id)
    verdicts = compare.load_verdicts(settings.db, run_id)
    by_votes = compare.rank_variants(run, verdicts, "votes")
    by_judge = compare.rank_variants(run, verdicts, "judge")
    both = compare.rank_variants(run, verdicts, "both")
    assert by_votes[0].item == 1 and by_judge[0].item == 0 and both[0].item == 0
    assert both[0].games == 5


def test_a_prompt_without_a_verdict_schema_cannot_judge(settings, prompts_dir):
    with pytest.raises(JudgeError, match="must require a 'winner' field"):
        compare.resolve_judge(PromptStore(prompts_dir), load_catalog(settings),
                              Judge("pairwise", "classifier", "production", LOCAL))
    with pytest.raises(JudgeError, match="must require a 'winner' field"):
        compare.resolve_judge(PromptStore(prompts_dir), load_catalog(settings),
                              Judge("pairwise", "judge-rubric", "production", LOCAL))


def test_judging_stops_when_the_budget_refuses(settings, run_id, prompts_dir):
    spend.set_budget(settings.db, "all", "day", 0)
    rj = judge(settings, prompts_dir, "pairwise", "openai/gpt-4o-mini")
    with pytest.raises(BudgetExceededError):
        run_judge(settings, run_id, rj, ScriptedJudge("content"))
    assert compare.load_verdicts(settings.db, run_id) == []


def test_each_rows_verdicts_and_reasons_read_plainly(settings, run_id, prompts_dir):
    run_judge(settings, run_id, judge(settings, prompts_dir, "pairwise"),
              ScriptedJudge("content"))
    run_judge(settings, run_id, judge(settings, prompts_dir, "rubric"), ScriptedJudge("rubric"))
    by_row = compare.verdicts_by_row(compare.load_verdicts(settings.db, run_id))
    assert sorted(by_row) == [0, 1, 2, 3]
    pairwise, rubric_a, rubric_b = by_row[0]
    assert pairwise.judge == "judge-pairwise v1 · local/smollm2-135m-instruct"
    assert pairwise.outcome == "A vs B: A better"
    assert pairwise.reasons == ("A shown first, said A better: one is good",
                                "B shown first, said A better: one is good")
    assert (rubric_a.outcome, rubric_a.reasons) == ("A: score 5", ("graded",))
    assert (rubric_b.outcome, rubric_b.reasons) == ("B: score 2", ("graded",))


def test_a_position_biased_verdict_says_its_orders_disagree(settings, run_id, prompts_dir):
    run_judge(settings, run_id, judge(settings, prompts_dir, "pairwise"), ScriptedJudge("first"))
    [said] = compare.verdicts_by_row(compare.load_verdicts(settings.db, run_id))[2]
    assert said.outcome == "A vs B: tie (the two orders disagree)"
    assert said.reasons == ("A shown first, said A better: the first one",
                            "B shown first, said B better: the first one")


def test_a_verdict_that_could_not_be_read_says_why(settings, run_id):
    v = compare.Verdict("j", "pairwise", 0, 0, 1, None, None, {
        "orders": [{"error": "no JSON object", "call_ids": [1]}, {"winner": "tie",
                                                                 "reason": "same"}],
        "consistent": None})
    said = compare.verdict_text(v)
    assert said.outcome == "A vs B: no verdict"
    assert said.reasons == ("A shown first, said no answer: unreadable: no JSON object",
                            "B shown first, said tie: same")
    custom = compare.verdict_text(compare.Verdict("j", "rubric", 1, 2, 2, None, 4.0, {
        "score": 4, "clarity": "good", "call_ids": [3], "cost_micro": 9}))
    assert (custom.outcome, custom.reasons) == ("C: score 4", ("clarity: good",))


def test_the_csv_has_each_judges_verdict_and_reasons_per_line(settings, run_id, prompts_dir):
    run_judge(settings, run_id, judge(settings, prompts_dir, "pairwise"),
              ScriptedJudge("content"))
    run_judge(settings, run_id, judge(settings, prompts_dir, "rubric"), ScriptedJudge("rubric"))
    run = compare.load_run(settings.db, run_id)
    lines = list(csv.DictReader(io.StringIO(compare.export_csv(
        run, compare.load_verdicts(settings.db, run_id)))))
    pairwise = "judge: judge-pairwise v1 · local/smollm2-135m-instruct"
    rubric = "judge: judge-rubric v1 · local/smollm2-135m-instruct"
    assert len(lines) == 8
    first, second = lines[0], lines[1]            # row 1, variants A and B
    assert first[pairwise] == second[pairwise] == "A vs B: A better"
    assert first[f"{pairwise}: reasons"] == ("A shown first, said A better: one is good | "
                                             "B shown first, said A better: one is good")
    assert (first[rubric], first[f"{rubric}: reasons"]) == ("A: score 5", "graded")
    assert (second[rubric], second[f"{rubric}: reasons"]) == ("B: score 2", "graded")
    # Without verdicts the file has no judge columns (as before judging).
    assert not any(k.startswith("judge:") for k in next(csv.DictReader(io.StringIO(
        compare.export_csv(run)))))
