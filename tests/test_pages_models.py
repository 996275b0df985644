"""Discovered models in the app (AppTest): OpenAI's models endpoint, faked on loopback, adds a
model; Home says where each model came from and Refresh models asks again; the picker marks
it "price unknown"; a reply's cost reads "unknown"; a budget refuses it until a price is set
in the data folder's models.toml; an endpoint that cannot be reached changes nothing."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from fake_openai import FakeOpenAI, reply, serving
from support import free_port, serving_asgi, shown

from lib import chat, spend
from lib.core import get_settings
from lib.llm import forget_listings, user_catalog_path

NEW = "openai/gpt-9"
OPTION = "OpenAI · gpt-9 · discovered from OpenAI · price unknown"


def page_text(at) -> str:
    return " ".join(shown(e.value) for kind in ("warning", "error", "markdown", "caption")
                    for e in at.get(kind))


@pytest.fixture
def listed(monkeypatch, data_dir):
    """OpenAI (a fake on loopback, by the SDK's own OPENAI_BASE_URL) lists gpt-9 beside
    gpt-5 (in the catalog) and a speech model; the app has a key and listing on."""
    fake = FakeOpenAI(reply("Hello from gpt-9."))
    fake.script[0].usage = lambda body: (1000, 200)
    fake.models = [{"id": i, "object": "model", "owned_by": "openai"}
                   for i in ("gpt-9", "gpt-5", "whisper-1")]
    forget_listings()
    with serving(fake) as url:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        monkeypatch.setenv("PROMPTLAB_DISCOVER_MODELS", "1")
        get_settings.cache_clear()
        yield fake
    forget_listings()


def refreshed(app):
    at = app()
    at.button(key="models_refresh").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chat_with(at, model: str, text: str):
    at.switch_page("app_pages/chat.py")
    at.run()
    at.selectbox(key="chat_model").set_value(model).run()
    at.chat_input[0].set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_home_says_where_models_came_from_and_the_picker_marks_price_unknown(app, listed):
    at = refreshed(app)
    text = page_text(at)
    assert "**1** discovered from OpenAI" in text and "**1** with no price yet" in text
    assert "Could not list" not in text
    table = next(shown(m.value) for m in at.markdown if "| Model | Provider | From" in m.value)
    assert "| gpt-9 | openai | discovered from OpenAI | 128,000 | 16,384 | price unknown |" \
        in table
    assert "| GPT-5 | openai | catalog |" in table and "whisper" not in table
    at.switch_page("app_pages/chat.py")
    at.run()
    box = at.selectbox(key="chat_model")
    assert OPTION in box.options
    assert "OpenAI · GPT-6.2 Sol" in box.options  # a current catalog model: no mark
    # A model the vendor lists as legacy says so, after the provider's current ones.
    options = list(box.options)
    assert options.index("OpenAI · GPT-5 · legacy") > options.index("OpenAI · GPT-6 Luna")
    box.set_value(NEW).run()
    assert any("gpt-9's price is unknown" in shown(c.value) for c in at.caption)


def test_a_reply_on_an_unpriced_model_costs_unknown_and_a_budget_refuses_it(app, listed):
    at = chat_with(refreshed(app), NEW, "Hi")
    assert listed.requests and listed.requests[-1]["model"] == "gpt-9"
    line = next(shown(c.value) for c in at.caption if "1,000 in / 200 out" in shown(c.value))
    assert " · unknown · " in line and "$" not in line  # never $0

    db = get_settings().db
    spend.set_budget(db, "openai", "day", 5.0)
    sent = len(listed.requests)
    at.chat_input[0].set_value("Again?").run()
    refusal = " ".join(shown(e.value) for e in at.error)
    assert "gpt-9's price is unknown" in refusal and "was not sent" in refusal
    assert str(user_catalog_path(get_settings())) in refusal
    assert len(listed.requests) == sent and spend.count_calls(db) == 1

    user_catalog_path(get_settings()).write_text(
        '[[model]]\nid = "gpt-9"\nprovider = "openai"\ninput = 2.0\noutput = 8.0\n',
        encoding="utf-8")
    at.run()
    assert OPTION not in at.selectbox(key="chat_model").options  # priced now
    at.chat_input[0].set_value("And now?").run()
    assert not at.error and len(listed.requests) == sent + 1
    line = [shown(c.value) for c in at.caption if "1,000 in / 200 out" in shown(c.value)][-1]
    assert "$0.0036" in line  # 1,000 x $2 + 200 x $8 per million
    row = spend.get_call(db, spend.latest_call_id(db))
    assert (row.priced, row.cost_micro) == (True, 3600)


def test_an_endpoint_that_cannot_be_reached_changes_nothing_and_says_so(app, monkeypatch,
                                                                        listed):
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nobody there
    get_settings.cache_clear()
    at = refreshed(app)
    warnings = [shown(w.value) for w in at.warning]
    assert ("Could not list models from OpenAI: The connection to OpenAI failed "
            "(ConnectError).") in warnings
    assert "discovered" not in page_text(at) and "with no price yet" not in page_text(at)
    at.switch_page("app_pages/chat.py")
    at.run()
    assert "OpenAI · GPT-6.2 Sol" in at.selectbox(key="chat_model").options
    assert not any("discovered" in o for o in at.selectbox(key="chat_model").options)


@pytest.mark.usefixtures("backend")  # on SQLite, then on PostgreSQL
def test_costs_and_the_call_page_say_unknown_for_an_unpriced_call(app):
    db = get_settings().db
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    for model, cost, priced in (("gpt-4.1", 5000, True), ("gpt-9", 0, False)):
        spend.record(db, spend.CallRecord(
            ts=now, page="chat", provider="openai", model=model, attempts=1, status="ok",
            total_ms=500.0, input_tokens=100, output_tokens=20, cost_micro=cost,
            priced=priced))
    at = app("app_pages/costs.py")
    spent = next(m for m in at.metric if m.label == "Spend")
    assert shown(spent.value) == "$0.0050 + unknown"
    assert "1 call ran on a model whose price is unknown" in shown(spent.help)
    at.query_params["section"] = "Calls"
    at.run()
    latest = next(df.value for df in at.dataframe if "details" in df.value.columns
                  and "API key" in df.value.columns)
    costs = dict(zip(latest["Model"], latest["Cost (USD)"], strict=True))
    assert costs == {"gpt-9": "unknown", "gpt-4.1": "0.005000"}
    home = app()
    assert shown(next(m.value for m in home.metric if m.label == "Spend today (UTC)")) == \
        "$0.0050 + unknown"

    at = app("app_pages/call.py")
    at.query_params["id"] = str(spend.latest_call_id(db))
    at.run()
    assert shown(next(m.value for m in at.metric if m.label == "Cost")) == "unknown"


def test_a_conversation_kept_on_a_discovered_model_keeps_it_when_opened_first(app, listed):
    """Just after the app starts the listing is still under way: opening a conversation kept
    on a model only it brings waits for it, rather than putting the default model in its
    place (and keeping that)."""
    db = get_settings().db
    conv = chat.create_conversation(db, title="On gpt-9", model=NEW)
    chat.save_settings(db, conv, {"model": NEW, "max_tokens": 64})
    listed.models_hold = threading.Event()
    # The listing answers only once it has been asked: the page cannot have found gpt-9 by
    # then, so a page that did not wait would draw the default model.
    release = threading.Thread(target=lambda: (listed.wait_for_gets(1),
                                               listed.models_hold.set()))
    release.start()
    at = app()
    at.switch_page("app_pages/chat.py")
    at.query_params["c"] = str(conv)
    at.run()
    release.join()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="chat_model").value == NEW
    assert chat.get_conversation(db, conv).settings["model"] == NEW


def test_the_api_answers_for_a_discovered_model_asked_for_before_the_listing_is_back(listed):
    import httpx

    from lib import api

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = api.create_key(settings.db, "test").secret
    listed.models_hold = threading.Event()
    release = threading.Thread(target=lambda: (listed.wait_for_gets(1),
                                               listed.models_hold.set()))
    release.start()
    try:
        with serving_asgi(api.create_app(settings)) as url:
            answer = httpx.get(f"{url}/v1/models/gpt-9", timeout=60,
                               headers={"authorization": f"Bearer {secret}"})
    finally:
        release.join()
    assert answer.status_code == 200, answer.text  # not a 404: the listing was waited for
    assert "gpt-9" in answer.json()["id"]
