"""A workflow version as a Compare variant (each dataset row a run of it) beside a single
prompt, with the same checks; an eval file naming a workflow; the Compare form's choice."""

from __future__ import annotations

import json
import shutil

import pytest
from fakes import FakeProvider, ok, scripted

from lib import compare, evals
from lib.compare import Check, Variant
from lib.core import ROOT, BatchError, get_settings
from lib.llm import load_catalog
from lib.prompts import PromptStore
from lib.workflows import WorkflowStore, list_runs

LOCAL = "local/smollm2-135m-instruct"
CONTACT = '{"name": "Ada Lovelace", "email": "ada@engines.example", "company": "Engines"}'
ROWS = [{"text": "Ada Lovelace, ada@engines.example"}, {"text": "Grace, grace@navy.example"}]


@pytest.fixture
def workflows_dir(settings):
    shutil.copytree(ROOT / "workflows" / "extract-validate-format",
                    settings.workflows_dir / "extract-validate-format")
    return settings.workflows_dir


def resolved(settings):
    return compare.resolve(PromptStore(settings.prompts_dir), load_catalog(settings), [
        Variant("json-extractor", "production", LOCAL, 0.0, 60),
        Variant("extract-validate-format", "production", "workflow", kind="workflow")],
        workflows=WorkflowStore(settings))


def test_a_prompt_against_a_pipeline_with_the_same_checks(settings, workflows_dir):
    variants = resolved(settings)
    assert variants[1].label(1) == "B: workflow extract-validate-format v1"
    assert [v.name for v in compare.variables_of(variants)] == ["text", "schema"]
    checks = [Check("contains", "ada@engines.example")]
    plan = compare.forecast(settings, variants, ROWS)
    assert [c.error for c in plan.cells] == ["", "", "", ""]
    assert plan.cells[2].text == "text: Ada Lovelace, ada@engines.example"
    run_id = compare.create_run(settings.db, "prompt vs pipeline", variants, ROWS, checks)
    provider = FakeProvider([ok(CONTACT)])
    events = list(compare.execute(settings, run_id, variants, plan, checks, concurrency=2,
                                  calls=scripted(settings, provider)))
    cells = {(e.row, e.variant): e.result for e in events if e.result is not None}
    assert len(provider.requests) == 4        # two prompt cells, two workflow extract steps
    pipeline = cells[(0, 1)]
    assert pipeline.status == "ok" and "Ada Lovelace <ada@engines.example>" in pipeline.output
    assert pipeline.checks == {'contains "ada@engines.example"': True}
    assert pipeline.trace["workflow"] == "extract-validate-format"
    assert pipeline.call_id is not None
    # Each row is a stored workflow run, its calls in the ledger like any other.
    runs = list_runs(settings.db, workflow="extract-validate-format")
    assert {r.id for r in runs} == {cells[(0, 1)].trace["workflow_run"],
                                        cells[(1, 1)].trace["workflow_run"]}
    stored = compare.load_run(settings.db, run_id)
    assert stored.variant_label(1) == "B: workflow extract-validate-format v1"
    # The fake answers every row with Ada: both variants pass both rows, the same check.
    assert stored.pass_rates() == [{'contains "ada@engines.example"': 1.0}] * 2


def test_a_workflow_variant_cannot_run_as_a_batch(settings, workflows_dir):
    with pytest.raises(BatchError, match="Variant B is a workflow"):
        compare.batchable(resolved(settings))


def test_a_row_missing_a_workflow_input_is_a_skipped_cell(settings, workflows_dir):
    plan = compare.forecast(settings, resolved(settings), [{"schema": "{}"}])
    assert "text" in plan.cells[1].error


def test_an_eval_file_may_name_a_workflow(tmp_path, settings, workflows_dir):
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    path = tmp_path / "pipeline.toml"
    path.write_text('[dataset]\npath = "rows.jsonl"\n\n[[variants]]\n'
                    'workflow = "extract-validate-format"\nref = "production"\n\n'
                    '[[checks]]\nkind = "contains"\nvalue = "@"\n')
    ef = evals.load(path)
    outcome = evals.run_eval(settings, ef, calls=scripted(settings,
                                                          FakeProvider([ok(CONTACT)])))
    result = evals.judge(settings, outcome)
    assert result["variants"][0]["label"] == "A: workflow extract-validate-format v1"
    assert result["variants"][0]["pass_rates"]["all checks"]["rate"] == 1.0
    with get_settings().db.connect() as conn:
        pages = {r[0] for r in conn.execute("SELECT DISTINCT page FROM calls")}
    assert pages == {"workflow"}


def test_an_eval_variant_names_a_prompt_or_a_workflow(tmp_path):
    path = tmp_path / "both.toml"
    path.write_text('[dataset]\npath = "x.csv"\n\n[[variants]]\nprompt = "a"\n'
                    'workflow = "b"\n\n[[checks]]\nkind = "json"\n')
    with pytest.raises(Exception, match=r"line 4: variants\[0\]: .*a prompt or a workflow"):
        evals.load(path)


def test_the_compare_form_offers_workflows(app, settings, workflows_dir):
    at = app()
    at.switch_page("app_pages/compare.py")
    at.run()
    assert not at.exception
    at.segmented_control(key="cv1_kind").set_value("Workflow").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="cv1_wf").value == "extract-validate-format"
    assert at.selectbox(key="cv1_wfref_extract-validate-format").value == "production"
    at.radio(key="cmp_mode").set_value("One input").run()
    assert "text (str)" in [t.label for t in at.text_area] + [t.label for t in at.text_input]

