"""The prompt store: versions are never overwritten, labels move and roll back, diffs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lib.core import PromptStoreError, RenderError, VariableError
from lib.prompts import PromptStore, Variable


@pytest.fixture
def store(prompts_dir) -> PromptStore:
    return PromptStore(prompts_dir)


def test_shipped_prompts_are_useful_and_render(store):
    names = store.names()
    assert len(names) >= 5
    assert {"code-reviewer", "grounded-answer", "summarizer", "json-extractor",
            "classifier"} <= set(names)
    for name in names:
        prompt = store.get(name)
        assert prompt.description and prompt.resolve("production") == 1
        store.check(store.source(name, 1), prompt.variables)


def test_render_by_label_validates_values(store):
    version, text = store.render("summarizer", "production", {"text": "Cats sleep a lot.",
                                                               "max_words": "20"})
    assert version == 1 and "at most 20 words" in text and "Cats sleep a lot." in text
    with pytest.raises(VariableError, match="Variable 'max_words'"):
        store.render("summarizer", "production", {"text": "x", "max_words": "many"})


def test_saving_makes_a_new_version_and_overwrites_nothing(store):
    before = store.source("classifier", 1)
    v2 = store.save_version("classifier", before + "\nBe decisive.", note="more decisive",
                            author="ana")
    assert v2 == 2 and store.source("classifier", 1) == before
    prompt = store.get("classifier")
    assert [v.version for v in prompt.versions] == [1, 2]
    assert prompt.versions[1].note == "more decisive" and prompt.versions[1].author == "ana"
    assert prompt.labels["production"] == 1  # labels do not move by themselves
    assert prompt.resolve("latest") == 2


def test_a_broken_edit_is_refused_with_its_line(store):
    with pytest.raises(RenderError, match="Line 2"):
        store.save_version("classifier", "fine\n{% if %}\n")
    with pytest.raises(VariableError, match="undeclared variables: colour"):
        store.save_version("classifier", "Pick {{ colour }}")
    assert store.get("classifier").latest == 1
    assert sorted(p.name for p in (store.root / "classifier").glob("v*.j2")) == ["v1.j2"]


def test_labels_move_and_roll_back(store):
    store.save_version("summarizer", store.source("summarizer", 1) + "\nBe brief.")
    store.set_label("summarizer", "production", 2)
    store.set_label("summarizer", "staging", 2)
    assert store.get("summarizer").resolve("production") == 2
    store.set_label("summarizer", "production", 1)  # roll back
    prompt = store.get("summarizer")
    assert prompt.resolve("production") == 1 and prompt.resolve("staging") == 2
    assert prompt.labels_of(2) == ["staging"]
    with pytest.raises(PromptStoreError, match="no version 9"):
        store.set_label("summarizer", "production", 9)
    with pytest.raises(PromptStoreError, match="reserved"):
        store.set_label("summarizer", "latest", 1)


def test_diff_of_two_versions(store):
    store.save_version("classifier", store.source("classifier", 1).replace(
        "Answer with the label only.", "Answer with the label only, lowercase."))
    rows = store.diff("classifier", 1, 2)
    changed = [r for r in rows if r[0] != "="]
    assert changed == [("~", "Answer with the label only.",
                        "Answer with the label only, lowercase.")]


def test_create_a_prompt(store):
    store.create("greeter", "Hello {{ who }}!", description="Greets",
                 variables=(Variable("who", "str", default="world"),), author="ana")
    assert store.render("greeter", "v1", {})[1] == "Hello world!"
    with pytest.raises(PromptStoreError, match="already exists"):
        store.create("greeter", "Hi")


@pytest.mark.parametrize("name", ["../etc", "a", "Upper", "has space", "x/y", ""])
def test_names_come_from_the_store_only(store, name):
    with pytest.raises(PromptStoreError, match="not a valid prompt name"):
        store.get(name)


def test_concurrent_saves_lose_no_version(store):
    base = store.source("classifier", 1)
    errors = []

    def save(i: int) -> None:
        try:
            store.save_version("classifier", base + f"\n{{# edit {i} #}}", note=str(i))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    prompt = store.get("classifier")
    assert [v.version for v in prompt.versions] == list(range(1, 8))
    assert sorted(v.note for v in prompt.versions[1:]) == [str(i) for i in range(6)]


def test_a_file_left_by_a_crashed_save_is_never_overwritten(store):
    orphan = store.root / "classifier" / "v2.j2"
    orphan.write_text("left behind")
    version = store.save_version("classifier", store.source("classifier", 1) + "\nAgain.")
    assert version == 3 and orphan.read_text() == "left behind"


# -- running a stored prompt on a model ----------------------------------------------------

LOCAL = "local/smollm2-135m-instruct"


def local_model(settings):
    from lib.llm import load_catalog

    return load_catalog(settings).get(LOCAL)


def test_a_prompt_runs_on_the_bundled_model_with_its_ledger_row(settings):
    from lib import prompts, spend
    from lib.llm import TextDelta

    call = prompts.run(settings, "classifier", "production",
                       {"text": "The export button does nothing."}, local_model(settings),
                       max_tokens=4, user="ana")
    events = list(call)
    assert any(isinstance(e, TextDelta) for e in events) and call.text
    sent = spend.call_detail(settings.db, call.record.id).request  # as it was sent
    assert sent["max_tokens"] == 4
    assert sent["temperature"] == 0.0  # the prompt's own default
    assert "The export button does nothing." in sent["messages"][0]["content"]
    row = spend.get_call(settings.db, call.record.id)
    assert (row.page, row.prompt_name, row.prompt_version, row.status, row.user_id) == (
        "prompts", "classifier", 1, "ok", "ana")
    assert row.output_tokens > 0 and row.total_ms > 0


def test_a_version_with_an_output_schema_runs_with_repairs(settings, prompts_dir):
    from fakes import FakeProvider, ok, scripted

    from lib import prompts, spend

    store = PromptStore(prompts_dir)
    schema = '{"type": "object", "properties": {"label": {"type": "string"}}}'
    store.save_version("classifier", store.source("classifier", 1), output_schema=schema)
    provider = FakeProvider([ok('{"label": 3}'), ok('{"label": "bug"}')])  # invalid, then not
    call = prompts.run(settings, "classifier", "latest", {"text": "hi"},
                       local_model(settings), max_tokens=16, calls=scripted(settings, provider))
    list(call)
    assert provider.requests[0].output_schema["properties"] == {"label": {"type": "string"}}
    assert call.validation.status == "repaired" and call.text == '{"label": "bug"}'
    rows = [spend.get_call(settings.db, r.id) for r in call.records]
    assert [(r.prompt_name, r.prompt_version) for r in rows] == [("classifier", 2)] * 2
    assert rows[1].repair_of == rows[0].id


def test_a_run_refuses_bad_values_parameters_and_overflow_before_sending(settings):
    from lib import prompts, spend
    from lib.core import ContextOverflowError

    model = local_model(settings)
    with pytest.raises(VariableError, match="Variable 'text' is required"):
        prompts.run(settings, "classifier", "production", {}, model)
    with pytest.raises(PromptStoreError, match="Temperature must be"):
        prompts.run(settings, "classifier", "production", {"text": "x"}, model,
                    temperature=float("inf"))
    with pytest.raises(PromptStoreError, match="Max tokens must be"):
        prompts.run(settings, "classifier", "production", {"text": "x"}, model, max_tokens=0)
    with pytest.raises(ContextOverflowError, match="window"):
        prompts.run(settings, "classifier", "production", {"text": "word " * 5000}, model)
    assert not Path(settings.db.location).exists() or spend.count_calls(settings.db) == 0
