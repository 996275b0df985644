"""AppTest for the Prompts and Compare pages, and the chat page's prompt-as-system."""

from __future__ import annotations

from support import shown

from lib import chat, compare, spend
from lib.core import get_settings
from lib.prompts import PromptStore


def test_preview_renders_and_counts(app):
    at = app("app_pages/prompts.py")
    at.selectbox(key="prompt_pick").set_value("summarizer").run()
    at.text_area(key="pv_summarizer_text").input("Cats sleep sixteen hours a day.").run()
    at.number_input(key="pv_summarizer_max_words").set_value(12).run()
    assert not at.exception and not at.error
    preview = at.code[0].value
    assert "at most 12 words" in preview and "Cats sleep sixteen hours a day." in preview
    assert any("renders to" in shown(m.value) and "tokens" in shown(m.value) for m in at.markdown)


def test_a_bad_value_names_the_variable(app):
    at = app("app_pages/prompts.py")
    at.selectbox(key="prompt_pick").set_value("json-extractor").run()
    at.text_area(key="pv_json-extractor_text").input("Ada, ada@example.com").run()
    at.text_area(key="pv_json-extractor_schema").input("{not json").run()
    assert any("Variable 'schema' (json) is not valid JSON" in shown(e.value) for e in at.error)


def test_edit_saves_a_new_version_and_refuses_a_broken_one(app, prompts_dir):
    at = app("app_pages/prompts.py")
    at.selectbox(key="prompt_pick").set_value("classifier").run()
    source = at.text_area(key="edit_source_classifier_1")
    source.input(source.value + "\nThink step by step.").run()
    at.text_input(key="edit_note").input("think first").run()
    at.button(key="save_version").click().run()
    assert any("Saved classifier v2" in shown(s.value) for s in at.success)
    store = PromptStore(prompts_dir)
    assert store.get("classifier").latest == 2
    assert store.source("classifier", 2).endswith("Think step by step.")

    at.selectbox(key="edit_base").set_value(2).run()
    at.text_area(key="edit_source_classifier_2").input("{% for x in %}broken").run()
    at.button(key="save_version").click().run()
    assert any(shown(e.value).startswith("Line 1:") for e in at.error)
    assert store.get("classifier").latest == 2  # nothing saved


def test_a_version_declares_an_output_schema_and_a_broken_one_is_refused(app, prompts_dir):
    at = app("app_pages/prompts.py")
    at.selectbox(key="prompt_pick").set_value("classifier").run()
    at.text_area(key="edit_schema_classifier_1").input('{"type": "objekt"}').run()
    at.button(key="save_version").click().run()
    assert any("output schema is invalid" in shown(e.value) for e in at.error)
    store = PromptStore(prompts_dir)
    assert store.get("classifier").latest == 1  # nothing saved
    schema = '{"type": "object", "properties": {"label": {"type": "string"}}}'
    at.text_area(key="edit_schema_classifier_1").input(schema).run()
    at.button(key="save_version").click().run()
    prompt = store.get("classifier")
    assert prompt.latest == 2 and prompt.output_schema(2)["properties"] == {
        "label": {"type": "string"}}
    assert prompt.output_schema(1) is None  # the older version is untouched


def test_move_label_and_diff(app, prompts_dir):
    store = PromptStore(prompts_dir)
    store.save_version("classifier", store.source("classifier", 1).replace("exactly one",
                                                                           "one"))
    at = app("app_pages/prompts.py")
    at.selectbox(key="prompt_pick").set_value("classifier").run()
    at.text_input(key="label_name").input("staging").run()
    at.selectbox(key="label_version").set_value(2).run()
    at.button(key="set_label").click().run()
    assert store.get("classifier").labels == {"production": 1, "staging": 2}
    html = [e for e in at.get("html")]
    assert html and "exactly one" in html[0].proto.body and "#fef3c7" in html[0].proto.body


def test_compare_forecast_run_vote_and_reopen(app, prompts_dir):
    store = PromptStore(prompts_dir)
    store.save_version("classifier", store.source("classifier", 1) + "\nOne word.")
    at = app("app_pages/compare.py")
    at.selectbox(key="cv1_ref_classifier").set_value("v2").run()
    at.number_input(key="cv0_max_classifier").set_value(6).run()
    at.number_input(key="cv1_max_classifier").set_value(6).run()
    at.text_area(key="cmp_form_text").input("The export button does nothing.").run()
    assert not at.exception
    at.button(key="cmp_forecast_btn").click().run()
    assert any(shown(m.value).startswith("**Forecast:**") for m in at.markdown)
    at.button(key="cmp_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    db = get_settings().db
    [(run_id, *_)] = compare.list_runs(db)
    run = compare.load_run(db, run_id)
    assert run.status == "done" and len(run.cells) == 2
    assert all(c.status == "ok" for c in run.cells.values())
    assert at.query_params["run"] == str(run_id)
    vote = at.radio(key=f"vote_{run_id}_0_0_1")
    vote.set_value("right").run()
    assert compare.load_run(db, run_id).votes == {(0, 0, 1): "right"}
    summary = next(m.value for m in at.markdown if m.value.startswith("| variant |"))
    assert [line.split(" | ")[1] for line in summary.splitlines()[2:]] == ["0%", "100%"]
    rows = [spend.get_call(db, c.call_id) for c in run.cells.values()]
    assert {(r.page, r.prompt_name) for r in rows} == {("compare", "classifier")}
    assert sorted(r.prompt_version for r in rows) == [1, 2]


def test_compare_over_a_saved_dataset(app):
    db = get_settings().db
    ds = compare.parse_csv(b"text\nI love it\nIt broke\nHow do I log in?\n", "three.csv")
    ds_id = compare.save_dataset(db, ds)
    at = app("app_pages/compare.py")
    at.radio(key="cmp_mode").set_value("Dataset (CSV)").run()
    at.selectbox(key="cmp_saved_ds").set_value(ds_id).run()
    at.number_input(key="cv0_max_classifier").set_value(4).run()
    at.number_input(key="cv1_max_classifier").set_value(4).run()
    at.button(key="cmp_forecast_btn").click().run()
    at.button(key="cmp_run").click().run()
    assert not at.exception
    [(run_id, *_)] = compare.list_runs(db)
    run = compare.load_run(db, run_id)
    assert len(run.rows) == 3 and len(run.cells) == 6
    assert at.get("download_button")


def test_expensive_runs_need_confirmation(app, openai_key, monkeypatch):
    monkeypatch.setenv("PROMPTLAB_CONFIRM_ABOVE_USD", "0")
    get_settings.cache_clear()
    at = app("app_pages/compare.py")
    at.selectbox(key="cv0_model_classifier").set_value("openai/gpt-4.1").run()
    at.text_area(key="cmp_form_text").input("hello").run()
    at.button(key="cmp_forecast_btn").click().run()
    assert at.button(key="cmp_run").disabled
    at.checkbox(key="cmp_confirm").check().run()
    assert not at.button(key="cmp_run").disabled


def test_chat_system_prompt_from_a_stored_prompt(app):
    at = app("app_pages/chat.py")
    at.radio(key="system_new_source").set_value("From a prompt").run()
    at.text_area(key="system_new_assistant_team").input("the payments team").run()
    assert any("assistant v1" in shown(c.value) and "payments team" in shown(c.value)
               for c in at.caption)
    at.chat_input[0].set_value("Hi!").run()
    db = get_settings().db
    [conv] = chat.list_conversations(db)
    assert "payments team" in conv.system
    reply = chat.list_messages(db, conv.id)[-1]
    row = spend.get_call(db, reply.call_id)
    assert (row.prompt_name, row.prompt_version) == ("assistant", 1)


def test_a_run_over_budget_is_refused(app, openai_key):
    from lib import spend

    db = openai_key
    spend.set_budget(db, "openai", "day", 0.0001)
    at = app("app_pages/compare.py")
    at.selectbox(key="cv0_model_classifier").set_value("openai/gpt-4.1").run()
    at.text_area(key="cmp_form_text").input("hello").run()
    at.button(key="cmp_forecast_btn").click().run()
    assert any("today's openai budget" in shown(e.value) for e in at.error)
    assert at.button(key="cmp_run").disabled
    spend.set_budget(db, "openai", "day", None)
    at.run()
    assert not at.error and not at.button(key="cmp_run").disabled


def test_compare_a_variant_with_tools_and_a_tool_check(app, prompts_dir):
    """A person gives variant B the calculator, adds a 'called tool' check and runs it on the
    bundled model: B's cell is an agent run with its steps, A's a single call."""
    at = app("app_pages/compare.py")
    at.multiselect(key="cv1_tools").set_value(["calculator"]).run()
    at.number_input(key="cv0_max_classifier").set_value(24).run()
    at.number_input(key="cv1_max_classifier").set_value(48).run()
    at.selectbox(key="cmp_check_kind").set_value("called_tool").run()
    at.text_input(key="cmp_check_value").input("calculator").run()
    at.button(key="cmp_check_add").click().run()
    at.text_area(key="cmp_form_text").input("What is 12 * 12?").run()
    at.button(key="cmp_forecast_btn").click().run()
    at.button(key="cmp_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    db = get_settings().db
    [(run_id, *_)] = compare.list_runs(db)
    run = compare.load_run(db, run_id)
    assert run.variants[1]["tools"] == ["calculator"] and not run.variants[0]["tools"]
    a, b = run.cells[(0, 0)], run.cells[(0, 1)]
    assert not a.trace and b.trace["steps"] >= 1
    assert "called calculator" in a.checks and a.checks["called calculator"] is False
    assert any("step" in shown(m.value) and "called" in shown(m.value) for m in at.markdown)


# -- a newcomer's prompt: from an empty store to a run here and over the API ----------------

def empty_store(monkeypatch, tmp_path):
    """A fresh clone with no prompts at all: what a newcomer meets."""
    folder = tmp_path / "no-prompts"
    folder.mkdir()
    monkeypatch.setenv("PROMPTLAB_PROMPTS_DIR", str(folder))
    get_settings.cache_clear()
    return folder


def grid(at, prefix: str):
    """The variables grid whose key starts with `prefix` (its key changes as rows are added)."""
    [editor] = [e for e in at.data_editor if (e.key or "").startswith(prefix)]
    return editor


def edit_grid(at, prefix: str, edited: dict | None = None, added: list | None = None) -> None:
    """Cell edits as a person makes them in the grid (AppTest applies them as edit state)."""
    at.session_state[grid(at, prefix).key] = {
        "edited_rows": {str(k): v for k, v in (edited or {}).items()},
        "added_rows": added or [], "deleted_rows": []}
    at.run()


def test_a_newcomer_declares_the_templates_variables_and_creates_the_prompt(
        app, monkeypatch, tmp_path):
    folder = empty_store(monkeypatch, tmp_path)
    at = app("app_pages/prompts.py")
    assert not at.exception
    # The grid is usable from empty: its columns are there and rows can be added.
    empty = grid(at, "new_vars")
    assert empty.editing_mode == "dynamic" and empty.value.empty
    assert list(empty.value.columns) == ["name", "type", "required", "default", "description"]
    # The form's own template names a variable nobody declared yet: it is offered.
    assert any("uses changes, which is not declared yet" in shown(i.value) for i in at.info)

    at.text_input(key="new_name").input("release-notes").run()
    at.text_area(key="new_source").input(
        "Release notes for {{ product }} ({{ audience }}):\n{{ changes | untrusted }}").run()
    at.button(key="create_prompt").click().run()
    assert any("undeclared variables: audience, changes, product" in shown(e.value)
               for e in at.error)
    assert PromptStore(folder).names() == []  # nothing half-made

    assert any("uses audience, changes, product" in shown(i.value) for i in at.info)
    at.button(key="new_vars_declare").click().run()
    rows = grid(at, "new_vars").value
    assert rows["name"].tolist() == ["audience", "changes", "product"]
    assert rows["type"].tolist() == ["str"] * 3 and not any("uses" in shown(i.value)
                                                            for i in at.info)
    # A type and a default, set in the grid; and one more variable added as a new row.
    edit_grid(at, "new_vars", {0: {"required": False, "default": "engineers"}},
              [{"name": "max_items", "type": "int", "required": False, "default": "5"}])
    at.button(key="create_prompt").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    prompt = PromptStore(folder).get("release-notes")
    assert {v.name: (v.type, v.required, v.default) for v in prompt.variables} == {
        "audience": ("str", False, "engineers"), "changes": ("str", True, None),
        "product": ("str", True, None), "max_items": ("int", False, 5)}
    # It has the defaults a run needs: the bundled model is the first a newcomer can use.
    assert prompt.model == "local/smollm2-135m-instruct"
    assert (prompt.temperature, prompt.max_tokens) == (0.7, 512)
    assert at.sidebar.selectbox(key="prompt_pick").value == "release-notes"


def test_a_bad_default_in_the_grid_is_named_and_nothing_is_created(app, monkeypatch, tmp_path):
    folder = empty_store(monkeypatch, tmp_path)
    at = app("app_pages/prompts.py")
    at.text_input(key="new_name").input("deep").run()
    at.text_area(key="new_source").input("{{ cfg }}").run()
    at.button(key="new_vars_declare").click().run()
    for default, message in [("[" * 400 + "]" * 400, "nests deeper than"),
                             ("{not json", "is not valid JSON")]:
        edit_grid(at, "new_vars", {0: {"type": "json", "default": default}})
        assert not at.exception
        assert any("The default of 'cfg' (json)" in shown(e.value) and message in
                   shown(e.value) for e in at.error), [e.value for e in at.error]
        assert at.button(key="create_prompt").disabled
    assert PromptStore(folder).names() == []


def test_the_edit_tab_of_a_prompt_without_variables_declares_one(app, prompts_dir):
    store = PromptStore(prompts_dir)
    store.create("greeter", "Say hello.", model="local/smollm2-135m-instruct")
    at = app("app_pages/prompts.py")
    at.selectbox(key="prompt_pick").set_value("greeter").run()
    empty = grid(at, "edit_vars_greeter")
    assert empty.editing_mode == "dynamic"
    assert list(empty.value.columns) == ["name", "type", "required", "default", "description"]
    at.text_area(key="edit_source_greeter_1").input("Say hello in {{ language }}.").run()
    at.button(key="edit_vars_greeter_declare").click().run()
    edit_grid(at, "edit_vars_greeter", {0: {"default": "French"}})
    at.number_input(key="edit_greeter_temperature").set_value(0.2).run()
    at.number_input(key="edit_greeter_max_tokens").set_value(40).run()
    at.button(key="save_version").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    prompt = store.get("greeter")
    assert prompt.latest == 2 and [(v.name, v.default) for v in prompt.variables] == [
        ("language", "French")]
    assert (prompt.temperature, prompt.max_tokens) == (0.2, 40)


def test_preview_and_the_version_pickers_follow_a_save(app, prompts_dir):
    at = app("app_pages/prompts.py")
    at.selectbox(key="prompt_pick").set_value("classifier").run()
    assert at.selectbox(key="preview_ref").value == "production"  # v1
    source = at.text_area(key="edit_source_classifier_1")
    source.input(source.value + "\nAnswer in lowercase.").run()
    at.button(key="save_version").click().run()
    assert any("Saved classifier v2" in shown(s.value) for s in at.success)
    assert at.selectbox(key="preview_ref").value == "v2"
    assert at.selectbox(key="edit_base").value == 2
    at.text_area(key="pv_classifier_text").input("The app crashes.").run()
    assert at.code[0].value.rstrip().endswith("Answer in lowercase.")
    assert any(shown(m.value).startswith("**v2** renders") for m in at.markdown)


def test_a_prompt_made_in_the_page_runs_here_and_over_the_api(app, monkeypatch, tmp_path):
    from fastapi.testclient import TestClient

    from lib import api
    from lib.core import load_settings

    folder = empty_store(monkeypatch, tmp_path)
    at = app("app_pages/prompts.py")
    at.text_input(key="new_name").input("one-word").run()
    at.text_area(key="new_source").input("Name one {{ thing }}. One word.").run()
    at.button(key="new_vars_declare").click().run()
    at.number_input(key="new_max_tokens").set_value(8).run()
    at.number_input(key="new_temperature").set_value(0.0).run()
    at.button(key="create_prompt").click().run()
    assert not at.error, [e.value for e in at.error]

    # Run it on the page: streamed, then its tokens, cost, time and ledger row.
    at.text_area(key="pv_one-word_thing").input("colour").run()
    assert at.number_input(key="run_max_tokens_one-word").value == 8
    at.button(key="run_prompt").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    db = get_settings().db
    assert spend.count_calls(db) == 1
    row = spend.get_call(db, 1)
    assert (row.page, row.prompt_name, row.prompt_version, row.status) == (
        "prompts", "one-word", 1, "ok")
    assert row.output_tokens > 0
    caption = next(shown(c.value) for c in at.caption if "ledger row" in shown(c.value))
    assert f"ledger row #{row.id}" in caption and "v1 on " in caption
    assert f"{row.input_tokens:,} in + {row.output_tokens:,} out tokens" in caption

    # And over the HTTP API, with no model named: the prompt's own default is used.
    settings = load_settings()
    assert settings.prompts_dir == folder
    secret = api.create_key(settings.db, "newcomer").secret
    with TestClient(api.create_app(settings)) as client:
        r = client.post("/v1/prompts/one-word/run", json={"variables": {"thing": "fruit"}},
                        headers={"authorization": f"Bearer {secret}"})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"].strip()
    assert r.json()["promptlab"]["prompt"] == {"name": "one-word", "version": 1}


def test_a_hostile_json_value_in_preview_answers_quickly_and_plainly(app):
    """40 KB of escaped quotes in a json variable froze the preview 7.5 s (the depth check's
    regex backtracked); it must answer like any invalid JSON does."""
    import time

    at = app("app_pages/prompts.py")
    at.selectbox(key="prompt_pick").set_value("json-extractor").run()
    at.text_area(key="pv_json-extractor_text").input("Ada, ada@example.com").run()
    box = at.text_area(key="pv_json-extractor_schema")
    start = time.monotonic()
    box.input("{not json").run()
    baseline = time.monotonic() - start
    for hostile in ['"' + '\\"' * 20_000, '["' + '\\"' * 20_000, "[" * 20_000 + '"\\"' * 6_000]:
        start = time.monotonic()
        box.input(hostile).run()
        elapsed = time.monotonic() - start
        assert not at.exception
        assert any("Variable 'schema' (json)" in shown(e.value) for e in at.error)
        assert elapsed < baseline + 2.0, f"{elapsed:.1f} s against {baseline:.1f} s"
