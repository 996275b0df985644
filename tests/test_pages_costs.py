"""AppTest for the Tokens and Costs pages, budgets in the app, and context anatomy in chat."""

from __future__ import annotations

import datetime as dt
import html
import logging
import re

import pytest
from support import picker
from support import shown as reads

from lib import chat, spend
from lib.core import get_settings
from lib.llm import encoding, load_catalog, user_catalog_path


def _calls(n: int = 6) -> None:
    db = get_settings().db
    now = dt.datetime.now(dt.UTC)
    for i in range(n):
        spend.record(db, spend.CallRecord(
            ts=(now - dt.timedelta(days=i % 3)).isoformat(timespec="milliseconds"),
            page="chat", provider="openai" if i % 2 else "local",
            model="gpt-4.1" if i % 2 else "smollm2-135m-instruct", attempts=1,
            status="ok" if i != 3 else "error", total_ms=800.0 + i, ttft_ms=120.0 + i,
            input_tokens=100 * (i + 1), output_tokens=20, cost_micro=1000 * i))


def test_tokens_for_pasted_text(app):
    text = "Hello world, tokens!\nSecond line."
    ids = encoding("o200k_base").encode(text)  # real tiktoken, seeded offline
    at = app("app_pages/tokens.py")
    at.text_area(key="tok_text").input(text).run()
    assert not at.exception
    summary = next(m.value for m in at.markdown if "tokens**" in reads(m.value))
    assert summary.startswith(f"**{len(ids)} tokens**")
    html = at.get("html")[0].proto.body
    assert html.count('class="tok"') == len(ids) and "·" in html and "↵" in html
    at.toggle(key="tok_ids").set_value(True).run()
    assert f"<sub>{ids[0]}</sub>" in at.get("html")[0].proto.body
    at.selectbox(key="tok_name").set_value("WordPiece (embedding model)").run()
    assert "tokens**" in next(m.value for m in at.markdown if "tokens**" in reads(m.value))
    side = at.dataframe[0].value
    assert list(side["tokenizer"]) == ["o200k_base", "cl100k_base", "SmolLM2 (local model)",
                                       "WordPiece (embedding model)"]
    models = at.dataframe[1].value
    assert len(models) == len(load_catalog(get_settings()).models)


def test_a_hundred_thousand_tokens_are_paged(app):
    at = app("app_pages/tokens.py")
    at.text_area(key="tok_text").input(("word " * 100_000).strip()).run()
    assert not at.exception
    assert next(m.value for m in at.markdown if "tokens**" in reads(m.value)).startswith(
        "**100,000 tokens**")
    assert at.get("html")[0].proto.body.count('class="tok"') == 2000
    at.number_input(key="tok_page").set_value(50).run()
    assert any("Showing pieces 98,001–100,000" in reads(c.value) for c in at.caption)


def test_tokens_of_a_prompt_version_and_a_conversation(app):
    db = get_settings().db
    conv = chat.create_conversation(db, title="Greeting")
    chat.add_message(db, conv, "user", "Hi there")
    at = app("app_pages/tokens.py")
    at.segmented_control(key="tok_source").set_value("A prompt version").run()
    at.selectbox(key="tok_prompt").set_value("classifier").run()
    assert "Classify the text" in shown(at)
    at.segmented_control(key="tok_source").set_value("A conversation").run()
    assert shown(at).startswith("user: Hi there")


def shown(at) -> str:
    """The text the token spans draw, with whitespace markers turned back."""
    body = at.get("html")[0].proto.body.split('<div class="pl-tokens">', 1)[1]
    text = html.unescape(re.sub(r"<[^>]+>", "", body))
    return text.replace("·", " ").replace("↵\n", "\n").replace("→\t", "\t")


@pytest.mark.usefixtures("backend")  # the page on SQLite, then on PostgreSQL
def test_costs_empty_then_with_calls(app):
    at = app("app_pages/costs.py")
    assert any("No model calls recorded yet" in reads(i.value) for i in at.info)
    _calls()
    at.run()
    assert not at.exception
    metrics = {m.label: reads(m.value) for m in at.metric}
    assert metrics["Calls"] == "6" and metrics["Spend"] == "$0.0150"
    # One section at a time: the open one is drawn, the others cost a rerun nothing.
    assert [t.label for t in at.tabs] == ["Spend", "Tokens", "Latency and errors",
                                          "Prompt caching", "Calls", "Prompts"]
    assert len(at.get("plotly_chart")) == 1 and len(at.get("download_button")) == 1
    charts, downloads, tables = 0, 0, []
    for section in [t.label for t in at.tabs]:
        at.query_params["section"] = section  # as a bookmark of /costs?section=Calls
        at.run()
        assert not at.exception
        charts += len(at.get("plotly_chart"))
        downloads += len(at.get("download_button"))
        tables += [df.value for df in at.dataframe]
    assert charts == 2 and downloads == 8  # the latest calls too
    errors = next(df for df in tables if "Error rate" in df.columns)
    assert errors.set_index("Provider").loc["openai", "Errors"] == 1  # readable headers
    top = next(df for df in tables if "Started (UTC)" in df.columns)
    assert "None" not in top.astype(str).to_numpy().ravel().tolist()  # "–" for missing
    at.multiselect(key="cost_provider").set_value(["local"]).run()
    assert {m.label: reads(m.value) for m in at.metric}["Spend"] == "$0.0060"


@pytest.mark.usefixtures("backend")  # the page on SQLite, then on PostgreSQL
def test_budgets_set_in_the_app_warn_and_refuse(app):
    _calls()
    at = app("app_pages/costs.py")
    at.query_params["view"] = "Budgets"  # as a bookmark of /costs?view=Budgets
    at.run()
    at.selectbox(key="budget_scope").set_value("openai").run()
    at.number_input(key="budget_limit").set_value(0.0035).run()
    at.button(key="budget_save").click().run()
    [status] = spend.statuses(get_settings().db)
    assert (status.scope, status.period, status.limit_micro) == ("openai", "day", 3500)
    assert at.query_params["view"] == "Budgets"  # saving stays on the budgets
    bars = [reads(p.proto.text) for p in at.get("progress")]
    assert any("$0.0030 of $0.0035" in t for t in bars), bars
    # The banner lives in the entrypoint, on every page (AppTest runs it on the first run).
    home = app()  # today's openai spend is $0.003 of $0.0035: 86%
    assert any("Today's openai budget is 86% used" in reads(w.value) for w in home.warning)
    spend.set_budget(get_settings().db, "openai", "day", 0.003)
    home = app()
    assert any("Today's openai budget is used up" in reads(e.value) for e in home.error)


def test_prices_are_edited_in_the_app(app):
    at = app("app_pages/costs.py")
    at.query_params["view"] = "Prices"
    at.run()
    assert any("Prices last checked" in reads(c.value) for c in at.caption)
    from lib.llm import save_user_catalog

    settings = get_settings()
    catalog = load_catalog(settings)
    models = [m if m.id != "gpt-4.1" else m.__class__(**{**m.__dict__, "input": 1.5})
              for m in catalog.models]
    save_user_catalog(settings, models, dt.date.today().isoformat())
    assert user_catalog_path(settings).is_file()
    at.run()
    assert any(dt.date.today().isoformat() in reads(c.value) for c in at.caption)
    assert load_catalog(settings).get("openai/gpt-4.1").input == 1.5


def test_chat_shows_context_anatomy_and_what_will_be_left_out(app, monkeypatch):
    monkeypatch.setenv("PROMPTLAB_LOCAL_CONTEXT", "600")
    get_settings.cache_clear()
    db = get_settings().db
    conv = chat.create_conversation(db, title="Long")
    for i in range(6):
        chat.add_message(db, conv, "user", f"question {i} " + "word " * 40)
        chat.add_message(db, conv, "assistant", f"answer {i} " + "word " * 40)
    at = app("app_pages/chat.py")
    picker(at).set_value(conv).run()
    next(n for n in at.number_input if n.label == "Max output tokens").set_value(64).run()
    assert any("will be left out of the next call" in reads(c.value) for c in at.caption)
    at.chat_input[0].set_value("A short one").run()
    assert not at.exception
    # Each reply's context anatomy opens under it.
    assert "html" not in {e.type for e in at.main}  # drawn only when asked
    last = at.button_group[-1]
    assert last.options == ["Copy", "Context anatomy"]
    last.set_value("context").run()
    anatomy = [h.proto.body for h in at.get("html") if "pl-bar" in h.proto.body]
    assert anatomy and "history" in anatomy[-1] and "reserved output" in anatomy[-1]


def test_a_refused_call_stores_nothing_and_gives_the_message_back(app, openai_key):
    db = openai_key
    spend.set_budget(db, "all", "day", 0.0)
    at = app("app_pages/chat.py")
    at.selectbox(key="chat_model").set_value("openai/gpt-4.1").run()
    at.chat_input[0].set_value("Will this be sent?").run()
    assert not at.exception
    assert any("budget" in reads(e.value) and "was not sent" in reads(e.value) for e in at.error)
    assert at.code[0].value == "Will this be sent?"
    assert chat.list_conversations(db) == []
    assert spend.count_calls(db) == 0


class Everything(logging.Handler):
    """Every log record of any logger while attached (Streamlit's own do not propagate)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(
            logging.root.manager.loggerDict) if n.startswith(("streamlit", "lib")))]

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> Everything:
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.addHandler(self)
            lg.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc) -> None:
        for lg, level in zip(self.loggers, self.levels, strict=True):
            lg.removeHandler(self)
            lg.setLevel(level)


def test_costs_page_logs_no_traceback_and_shows_whole_versions(app):
    """A table with missing values (no prompt, no first token, not a run step) beside
    whole numbers: no Arrow conversion traceback in the log, and version 3 reads "3"."""
    _calls()
    db = get_settings().db
    spend.record(db, spend.CallRecord(
        ts=dt.datetime.now(dt.UTC).isoformat(), page="compare", provider="local",
        model="smollm2-135m-instruct", attempts=1, status="ok", total_ms=5.5,
        prompt_name="classifier", prompt_version=3, cost_micro=90_000, run_id="r1", step=2))
    at = app("app_pages/costs.py")
    tables = []
    with Everything() as log:
        for section in ("Calls", "Prompts"):
            at.query_params["section"] = section
            at.run()
            assert not at.exception
            tables += [df.value for df in at.dataframe]
    tracebacks = [r.getMessage() for r in log.records if r.exc_info]
    assert tracebacks == []
    top = next(df for df in tables if "Started (UTC)" in df.columns)
    assert list(top["Version"]) == ["3", "–", "–", "–", "–", "–", "–"]
    assert list(top["Step"])[:2] == ["2", "–"]
    assert "1.0" not in top.astype(str).to_numpy().ravel().tolist()
    by_prompt = next(df for df in tables if "Version" in df.columns
                     and "Started (UTC)" not in df.columns and "Page" not in df.columns)
    assert list(by_prompt["Version"]) == [3]
