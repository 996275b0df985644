"""The shipped example workflows end to end on the bundled model (offline, no key): the code
review fan-out, the extract → validate → format pipeline, the orchestrator whose worker
searches a knowledge base."""

from __future__ import annotations

import shutil
import time

import pytest

from lib import knowledge, spend
from lib.core import ROOT
from lib.llm import bundled_model_path
from lib.workflows import RunDone, StepDone, StepSkipped, load_run, start

pytestmark = pytest.mark.skipif(bundled_model_path() is None,
                                reason="the bundled model is not installed")


@pytest.fixture
def examples(settings):
    shutil.copytree(ROOT / "workflows", settings.workflows_dir)
    return settings


def run(settings, name: str, inputs: dict) -> tuple[list, str, float]:
    started = time.perf_counter()
    r = start(settings, name, "production", inputs)
    events = list(r)
    return events, r.run_id, time.perf_counter() - started


def done(events) -> dict:
    return {e.step: e for e in events if isinstance(e, StepDone)}


def test_code_review_fans_out_to_three_reviewers_then_merges(examples):
    events, run_id, took = run(examples, "code-review",
                               {"code": "def load(path):\n    return eval(open(path).read())\n"})
    assert isinstance(events[-1], RunDone) and events[-1].status == "done", events[-1]
    steps = done(events)
    assert set(steps) == {"security", "performance", "style", "merge"}
    assert events[-1].outputs["merge"].strip() == steps["merge"].output.strip() != ""
    rows = spend.run_calls(examples.db, run_id)
    assert sorted(r.step for r in rows) == [1, 2, 3, 4]
    assert {(r.page, r.status) for r in rows} == {("workflow", "ok")}
    assert took < 60, took


def test_extract_validate_format_takes_one_branch(examples):
    events, run_id, took = run(examples, "extract-validate-format", {
        "text": "Thanks! -- Maria Lopez, Head of Data at Acme Corp, maria.lopez@acme.example"})
    assert events[-1].status == "done", events[-1]
    steps = done(events)
    assert set(steps["extract"].output) == {"name", "email", "company"}   # held to its schema
    assert isinstance(steps["valid"].output, bool)
    branch = "card" if steps["valid"].output else "rejected"
    other = "rejected" if branch == "card" else "card"
    assert branch in steps and [e.step for e in events if isinstance(e, StepSkipped)] == [other]
    assert events[-1].outputs == {branch: steps[branch].output}
    assert [n.status for n in load_run(examples.db, run_id).steps] == [
        "done", "done", *(["done", "skipped"] if branch == "card" else ["skipped", "done"])]
    assert took < 60, took


def test_orchestrated_qa_dispatches_searches_of_a_knowledge_base(examples):
    kb = knowledge.create_kb(examples, "handbook")
    knowledge.ingest(examples, kb, [("handbook.txt", b"Leave\n\nEvery employee gets "
                                                     b"twenty-eight days of paid leave a year.\n")])
    events, run_id, took = run(examples, "orchestrated-qa", {
        "question": "How many days of leave do employees get?", "knowledge_base": "handbook"})
    assert events[-1].status == "done", events[-1]
    plan = done(events)["plan"].output
    assert 1 <= len(plan) <= 3 and {p["worker"] for p in plan} == {"search"}
    assert all("twenty-eight days" in p["output"] for p in plan)
    assert isinstance(events[-1].outputs["answer"], str)
    tree = load_run(examples.db, run_id)
    assert [n.step for n in tree.steps] == ["plan", "answer"]
    assert len(tree.steps[0].calls) == 1 and len(tree.steps[0].items) == len(plan)
    assert took < 60, took
