"""AppTest for the Workflows page: the list (and its empty state), the URL choosing a workflow
and version, the graph's DOT text, a run on the bundled model with each step's state and the
outputs, the run's trace, a bad edit named by its line, a save making v2, labels and a diff."""

from __future__ import annotations

import re
import shutil

import pytest
from support import shown

from lib.core import ROOT, get_settings
from lib.llm import bundled_model_path
from lib.workflows import WorkflowStore, list_runs, load_run

needs_model = pytest.mark.skipif(bundled_model_path() is None,
                                 reason="the bundled model is not installed")
PAGE = "app_pages/workflows.py"


@pytest.fixture
def examples(prompts_dir, tmp_path):
    """The shipped workflows, copied where the app reads them (tests/conftest.py points the
    workflows at tmp_path/workflows)."""
    shutil.copytree(ROOT / "workflows", tmp_path / "workflows")
    return tmp_path / "workflows"


def open_page(app, **params):
    at = app()
    at.switch_page(PAGE)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at) -> list[str]:
    return [shown(m.value) for m in at.main.markdown] + [shown(c.value) for c in at.main.caption]


def open_tab(at) -> int:
    """The tab the page opens on (the index of its tab container's default)."""
    def walk(node):
        proto = getattr(node, "proto", None)
        if (proto is not None and "tab_container" in type(proto).DESCRIPTOR.fields_by_name
                and proto.HasField("tab_container")):
            yield proto.tab_container.default_tab_index
        for child in getattr(node, "children", {}).values():
            yield from walk(child)
    [index] = walk(at.main)
    return index


def dot_of(at) -> str:
    [chart] = at.get("graphviz_chart")
    return chart.proto.spec


def test_no_workflows_reads_as_an_empty_state_with_a_first_one_to_write(app, tmp_path):
    at = open_page(app)
    assert any("No workflows yet" in shown(i.value) for i in at.info)
    at.text_input(key="wf_new_name").input("digest").run()
    at.button(key="wf_create").click().run()
    assert not at.exception and not at.error, [shown(e.value) for e in at.error]
    assert WorkflowStore(get_settings()).names() == ["digest"]
    assert at.sidebar.selectbox(key="wf_pick").value == "digest"
    assert at.query_params["name"] == "digest"
    assert '"summary" -> "title";' in dot_of(at)


def test_the_list_and_the_url_choose_the_workflow_and_version(app, examples):
    at = open_page(app)
    pick = at.sidebar.selectbox(key="wf_pick")
    assert pick.options == ["code-review", "extract-validate-format", "orchestrated-qa"]
    assert at.sidebar.selectbox(key="wf_version").options == ["v1 · production"]
    pick.set_value("orchestrated-qa").run()
    assert at.query_params["name"] == "orchestrated-qa" and at.query_params["v"] == "1"

    store = WorkflowStore(get_settings())
    store.save_version("code-review", store.source("code-review", 1), note="same again")
    at = open_page(app, name="code-review", v="2")      # a bookmark
    assert at.sidebar.selectbox(key="wf_pick").value == "code-review"
    assert at.sidebar.selectbox(key="wf_version").value == 2
    at = open_page(app, name="code-review")             # no version: production's
    assert at.sidebar.selectbox(key="wf_version").value == 1
    assert open_tab(at) == 0
    at = open_page(app, name="no-such-flow")
    assert any("There is no workflow “no-such-flow”" in shown(w.value) for w in at.warning)
    assert at.sidebar.selectbox(key="wf_pick").value == "code-review"


def test_the_graph_has_every_step_edge_level_and_worker(app, examples):
    at = open_page(app, name="code-review")
    dot = dot_of(at)
    for step in ("security", "performance", "style", "merge"):
        assert re.search(rf'^\s*"{step}" \[label="{step}\\nprompt: ', dot, re.M), step
        if step != "merge":
            assert f'"{step}" -> "merge";' in dot
    # the three reviewers run at once: one box around them, and only them
    cluster = re.search(r"subgraph cluster_level0 \{(.*?)\n  \}", dot, re.S).group(1)
    assert re.findall(r'"(\w+)" \[', cluster) == ["security", "performance", "style"]
    assert re.search(r'"merge" \[[^\]]*peripheries=2', dot)  # the run's output

    at = open_page(app, name="orchestrated-qa")
    dot = dot_of(at)
    assert '"plan" -> "answer";' in dot
    assert re.search(r'"plan" -> "search" \[style=dashed, label="sub-tasks"', dot)
    assert re.search(r'"search" \[[^\]]*shape=cds[^\]]*style="filled,dashed"', dot)
    assert re.search(r'"plan" \[[^\]]*shape=folder', dot)

    at = open_page(app, name="extract-validate-format")
    dot = dot_of(at)
    assert '"valid" -> "card" [label="if"' in dot and '"valid" -> "rejected" [label="if not"' in dot
    assert re.search(r'"valid" \[[^\]]*shape=diamond', dot)


@needs_model
def test_a_run_on_the_bundled_model_shows_each_step_its_outputs_and_its_trace(app, examples):
    at = open_page(app, name="extract-validate-format")
    assert any(t.startswith("**Forecast:** at most 1 model call;") for t in texts(at))
    at.text_area(key="wf_in_extract-validate-format_1_text").input(
        "Thanks! -- Maria Lopez, Acme Corp, maria.lopez@acme.example").run()
    at.button(key="wf_run").click().run()
    assert not at.exception and not at.error, [shown(e.value) for e in at.error]
    db = get_settings().db
    [run] = list_runs(db, "extract-validate-format")
    assert run.status == "done"
    assert at.query_params["run"] == run.id
    tree = load_run(db, run.id)
    lines = texts(at)
    branch = next(n.step for n in tree.steps if n.step in ("card", "rejected")
                  and n.status == "done")
    other = "rejected" if branch == "card" else "card"
    assert any(re.match(rf"^:green\[:material/check_circle:\] \*\*Run {run.id[:8]}\*\* · done",
                        t) for t in lines)
    assert any(re.fullmatch(r":green\[:material/check_circle:\] \*\*extract\*\* · done · "
                            r"[1-9][\d,]* in / [1-9][\d,]* out tokens · \$0 · [\d.]+ s", t)
               for t in lines)
    for step in ("valid", branch):  # no call: no tokens
        assert any(re.fullmatch(rf":green\[:material/check_circle:\] \*\*{step}\*\* · done · "
                                r"[\d.]+ s", t) for t in lines), step
    assert any(t.startswith(f":gray[:material/skip_next:] **{other}** · skipped: ")
               for t in lines)
    output = next(n.output for n in tree.steps if n.step == branch)
    assert output and any(c.value == output for c in at.main.code)   # the run's output
    assert f'"{branch}" [label="{branch}\\ntemplate\\n(done)"' in dot_of(at)  # coloured by state

    # the trace: every step, and the one model call's ledger row with its link
    [extract_call] = tree.steps[0].calls
    assert any(t.startswith(f"└ call #{extract_call.id} · ") for t in texts(at))
    assert [(p.proto.label, p.proto.query_string) for p in at.get("page_link")] == [
        ("Call details", f"id={extract_call.id}")]
    assert at.selectbox(key=f"wf_trace_pick_extract-validate-format_{run.id}").value == run.id
    assert open_tab(at) == 0     # who ran it stays in the Run tab


@needs_model
def test_a_run_link_opens_its_trace(app, examples):
    test_a_run_on_the_bundled_model_shows_each_step_its_outputs_and_its_trace(app, examples)
    [run] = list_runs(get_settings().db, "extract-validate-format")
    at = open_page(app, run=run.id)     # no name: the run's own workflow
    assert at.query_params["name"] == "extract-validate-format"
    assert at.tabs[open_tab(at)].label == "Trace"
    assert any(t.startswith(f":green[:material/check_circle:] **Run {run.id[:8]}** · done")
               for t in texts(at))


def test_a_bad_edit_is_named_by_its_line_and_nothing_is_saved(app, examples):
    at = open_page(app, name="code-review")
    source = at.text_area(key="wf_edit_code-review_1")
    broken = source.value.replace('"security.output"', '"secrity.output"')
    line = next(i for i, t in enumerate(broken.splitlines(), 1) if "secrity" in t)
    source.input(broken).run()
    at.button(key="wf_check").click().run()
    assert [shown(e.value) for e in at.error] == [
        f"code-review, line {line}: unknown step 'secrity' in secrity.output"]
    assert any(c.value.startswith(f"{line:>4} | inputs = {{ security = \"secrity.output\"")
               for c in at.main.code)
    at.button(key="wf_save").click().run()
    assert any(f"line {line}: unknown step" in shown(e.value) for e in at.error)
    assert WorkflowStore(get_settings()).get("code-review").latest == 1


def test_check_then_save_makes_v2_and_the_diff_shows_it(app, examples):
    at = open_page(app, name="code-review")
    source = at.text_area(key="wf_edit_code-review_1")
    source.input(source.value.replace("max_tokens = 80", "max_tokens = 120")).run()
    at.button(key="wf_check").click().run()
    assert [shown(s.value) for s in at.success] == [
        "Valid: 4 steps in 2 levels; outputs merge."]
    at.text_input(key="wf_note_code-review").input("a longer merge").run()
    at.button(key="wf_save").click().run()
    assert not at.exception and not at.error, [shown(e.value) for e in at.error]
    info = WorkflowStore(get_settings()).get("code-review")
    assert info.latest == 2 and info.versions[-1].note == "a longer merge"
    assert info.labels == {"production": 1}      # a save moves no label
    assert any("Saved code-review v2." in shown(s.value) for s in at.success)
    assert at.query_params["v"] == "2" and at.sidebar.selectbox(key="wf_version").value == 2
    [diff] = at.get("html")
    assert "max_tokens = 80" in diff.proto.body and "max_tokens = 120" in diff.proto.body
    assert "#fef3c7" in diff.proto.body   # the changed line marked

    at.text_input(key="wf_label_name").input("production").run()
    at.selectbox(key="wf_label_version").set_value(2).run()
    at.button(key="wf_set_label").click().run()
    assert WorkflowStore(get_settings()).get("code-review").labels == {"production": 2}


@pytest.mark.parametrize("raw", ["²", "9" * 400, "a b", "no-such-run"])
def test_an_odd_or_unknown_run_link_reads_as_not_found(app, examples, raw):
    at = open_page(app, name="code-review", run=raw)
    said = [shown(w.value) for w in at.warning]
    assert any(s.startswith("There is no ") and "“" in s for s in said), said
    assert not at.error


def test_a_run_a_budget_would_refuse_is_refused_before_anything_is_sent(app, openai_key,
                                                                         tmp_path):
    from lib import spend

    settings = get_settings()
    WorkflowStore(settings).create("paid", '''
[inputs]
text = "str"

[[steps]]
id = "summary"
kind = "prompt"
prompt = "summarizer"
model = "openai/gpt-6.1-terra"
inputs = { text = "inputs.text" }
''')
    spend.set_budget(settings.db, "all", "day", 0.0001)
    at = open_page(app, name="paid")
    said = [shown(e.value) for e in at.error]
    assert len(said) == 1 and said[0].startswith("This run could cost up to "), said
    assert at.button(key="wf_run").disabled
    assert list_runs(settings.db) == []
    with settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 0
