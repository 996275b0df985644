"""Workflow files: each kind of bad file refused naming its line; the store versions and
labels them like prompts (a saved edit is a new version, nothing overwritten); the shipped
examples validate and are drawn in levels."""

from __future__ import annotations

import shutil

import pytest

from lib.core import ROOT, WorkflowError
from lib.workflows import WorkflowStore, forecast, parse, resolve

GOOD = """\
description = "two reviews, then a merge"

[inputs]
code = "str"
files = { type = "list", required = false, default = ["a.py"] }

[[steps]]
id = "security"
kind = "prompt"
prompt = "code-reviewer"
inputs = { code = "inputs.code", focus = ["security"] }

[[steps]]
id = "style"
kind = "prompt"
prompt = "code-reviewer"
inputs = { code = "inputs.code" }

[[steps]]
id = "merge"
kind = "prompt"
prompt = "review-merge"
inputs = { security = "security.output", performance = "style.output", style = "style.output" }
"""


def refused(settings, text: str, line: int, *words: str) -> WorkflowError:
    with pytest.raises(WorkflowError) as caught:
        resolve(settings, parse("t", text))
    assert caught.value.line == line, str(caught.value)
    assert f"line {line}" in str(caught.value)
    for word in words:
        assert word in str(caught.value)
    return caught.value


def test_a_good_file_resolves_and_is_drawn_in_levels(settings):
    r = resolve(settings, parse("t", GOOD))
    assert r.graph.levels == [["security", "style"], ["merge"]]
    assert r.graph.outputs == ("merge",) and r.graph.deps["merge"] == {"security", "style"}


@pytest.mark.parametrize("old, new, line, words", [
    ('"security.output", performance', '"securty.output", performance', 23,
     ("unknown step 'securty'",)),
    ('inputs = { code = "inputs.code" }', 'inputs = { code = "inputs.source" }', 17,
     ("missing input", "inputs.source")),
    ('inputs = { code = "inputs.code" }', 'inputs = { language = "inputs.code" }', 17,
     ("missing input", "needs 'code'")),
    ('focus = ["security"]', 'focus = "inputs.code"', 11, ("type mismatch", "focus is list")),
    ('focus = ["security"]', 'focus = 3', 11, ("type mismatch",)),
    ('kind = "prompt"\nprompt = "review-merge"', 'kind = "prompts"\nprompt = "review-merge"', 21,
     ("unknown kind 'prompts'",)),
    ('prompt = "review-merge"', 'prompt = "review-merge"\ntemprature = 0.1', 23,
     ("unknown field",)),
    ('id = "style"', 'id = "security"', 14, ("used twice",)),
    ('prompt = "review-merge"', 'prompt = "no-such-prompt"', 22, ("no prompt named",)),
    ('id = "style"\nkind = "prompt"\nprompt = "code-reviewer"',
     'id = "style"\nkind = "prompt"\nprompt = "code-reviewer"\nmodel = "nope/none"', 17,
     ("nope/none",)),
    ('code = "str"', 'code = "string"', 4, ("inputs.code",)),
])
def test_each_kind_of_bad_file_is_refused_naming_its_line(settings, old, new, line, words):
    assert old in GOOD
    refused(settings, GOOD.replace(old, new, 1), line, *words)


def test_a_cycle_is_refused_naming_its_steps_and_line(settings):
    text = GOOD.replace('inputs = { code = "inputs.code" }\n',
                        'inputs = { code = "merge.output" }\n')
    refused(settings, text, 17, "a cycle", "style → merge → style")


def test_the_rules_of_maps_conditions_and_orchestrators(settings):
    base = '[inputs]\nn = "int"\nwords = "list"\n\n'
    over_int = base + ('[[steps]]\nid = "each"\nkind = "map"\nover = "inputs.n"\n'
                       '[steps.do]\nkind = "template"\ntemplate = "{{ x }}"\n'
                       'inputs = { x = "item" }\n')
    refused(settings, over_int, 8, "type mismatch", "runs over a list")
    bad_do = over_int.replace('"inputs.n"', '"inputs.words"').replace("{{ x }}", "{{ y }}")
    refused(settings, bad_do, 11, "missing input", "'y'")
    when_text = base + ('[[steps]]\nid = "t"\nkind = "template"\ntemplate = "hi"\n'
                        'when = "inputs.words"\n')
    refused(settings, when_text, 9, "type mismatch", "needs a bool")
    item_outside = base + '[[steps]]\nid = "t"\nkind = "template"\ntemplate = "{{ x }}"\n' \
                          'inputs = { x = "item" }\n'
    refused(settings, item_outside, 9, "only a map's `do` or a worker")
    unknown_worker = base + ('[[steps]]\nid = "plan"\nkind = "orchestrator"\n'
                             'prompt = "summarizer"\nworkers = ["ghost"]\n'
                             'inputs = { text = "go" }\n')
    refused(settings, unknown_worker, 9, "unknown worker step 'ghost'")
    bad_tool = base + '[[steps]]\nid = "t"\nkind = "tool"\ntool = "calculator"\n' \
                      'inputs = { expr = "1 + 1" }\n'
    refused(settings, bad_tool, 9, "takes no argument 'expr'")


def test_a_broken_toml_file_names_its_line():
    with pytest.raises(WorkflowError) as caught:
        parse("t", GOOD.replace('id = "merge"', 'id = "merge'))
    assert caught.value.line == 20


def test_the_store_versions_and_labels_like_prompts(settings):
    store = WorkflowStore(settings)
    store.create("review", GOOD, description="reviews", author="ana")
    assert store.names() == ["review"] and store.get("review").latest == 1
    with pytest.raises(WorkflowError, match="line 23"):
        store.save_version("review", GOOD.replace("security.output", "nope.output"))
    assert sorted(p.name for p in (settings.workflows_dir / "review").glob("v*")) == ["v1.toml"]
    edited = GOOD.replace('focus = ["security"]', 'focus = ["security", "bugs"]')
    assert store.save_version("review", edited, note="bugs too", author="bo") == 2
    assert store.source("review", 1) == GOOD and store.source("review", 2) == edited
    store.set_label("review", "production", 1)
    assert store.load("review", "production").version == 1
    assert store.load("review").version == 2 and store.get("review").labels_of(1) == [
        "production"]
    assert [r for r in store.diff("review", 1, 2) if r[0] != "="] == [
        ("~", 'inputs = { code = "inputs.code", focus = ["security"] }',
         'inputs = { code = "inputs.code", focus = ["security", "bugs"] }')]
    with pytest.raises(WorkflowError, match="already exists"):
        store.create("review", GOOD)
    with pytest.raises(WorkflowError, match="no label or version"):
        store.load("review", "staging")
    with pytest.raises(WorkflowError, match="reserved"):
        store.set_label("review", "latest", 1)


def test_the_shipped_examples_validate_and_forecast(settings):
    shutil.copytree(ROOT / "workflows", settings.workflows_dir)
    store = WorkflowStore(settings)
    assert store.names() == ["code-review", "extract-validate-format", "orchestrated-qa"]
    review = store.resolved("code-review", "production")
    assert review.graph.levels == [["security", "performance", "style"], ["merge"]]
    plan = forecast(settings, review, {"code": "x = 1", "language": "Python"})
    assert plan.calls == 4 and plan.max_cost_micro == 0   # the bundled model is free
    pipeline = store.resolved("extract-validate-format", "production")
    assert pipeline.graph.levels == [["extract"], ["valid"], ["card", "rejected"]]
    qa = store.resolved("orchestrated-qa", "production")
    assert qa.graph.scheduled == ["plan", "answer"] and qa.graph.workers == {"search": "plan"}
    assert forecast(settings, qa, {"question": "q", "knowledge_base": "kb"}).calls == 2
