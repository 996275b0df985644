"""The Chat page as a person uses it (AppTest, bundled model): deep links that name nothing,
settings kept with a conversation, branches from a regenerate, what the context marks say,
and switching conversations without Streamlit's session-state warning."""

from __future__ import annotations

import json
import logging

import pytest
from support import picker, shown

from lib import chat, spend
from lib.core import get_settings
from lib.llm import load_catalog

LOCAL = "local/smollm2-135m-instruct"
ODD = ["²", "١٢", "１２", "9" * 5000, str(2**63), "-1", "0", "+1", " 1", "1e3", "0x1f",
       "1\x00", "3.0", "abc", "![x](http://127.0.0.1:9/leak)", "1 OR 1=1"]


def page_text(at) -> str:
    return " ".join(shown(e.value) for kind in ("warning", "error", "markdown", "caption")
                    for e in at.get(kind))


def opened(app, page: str, **params):
    at = app()
    at.switch_page(page)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Something went wrong" not in page_text(at)  # never the last-resort handler
    return at


@pytest.mark.parametrize("value", ODD)
def test_an_odd_conversation_link_reads_as_not_found(app, value):
    at = opened(app, "app_pages/chat.py", c=value)
    assert [t.value for t in at.title] == ["Chat"] and "c" not in at.query_params
    assert any("There is no conversation" in shown(w.value) for w in at.warning)
    assert not at.chat_input[0].disabled  # a new chat can start at once


def test_repeated_missing_and_empty_conversation_links(app):
    db = get_settings().db
    conv = chat.create_conversation(db, title="Kept")
    at = opened(app, "app_pages/chat.py", c=[str(conv), str(conv + 1)])  # two chats named
    assert any("There is no conversation" in shown(w.value) for w in at.warning)
    at = opened(app, "app_pages/chat.py", c=str(conv + 100))  # deleted, or never was
    assert any(f"There is no conversation “{conv + 100}”" in shown(w.value) for w in at.warning)
    at = opened(app, "app_pages/chat.py", c="")
    assert not at.warning and [t.value for t in at.title] == ["Chat"]
    at = opened(app, "app_pages/chat.py", c=[str(conv), str(conv)])  # the same one twice
    assert [t.value for t in at.title] == ["Kept"] and not at.warning


@pytest.mark.parametrize("page,what", [("app_pages/traces.py", "agent run"),
                                       ("app_pages/compare.py", "comparison run")])
@pytest.mark.parametrize("value", ["²", "9" * 5000, "1\x00", "-1", "a" * 65, "run id"])
def test_odd_run_links_read_as_not_found(app, page, what, value):
    at = opened(app, page, run=value)
    if page.endswith("compare.py") or at.warning:  # traces with no runs says so instead
        assert any(f"There is no {what}" in shown(w.value) for w in at.warning)


def kept_settings(at) -> dict:
    return {"model": at.selectbox(key="chat_model").value,
            "max_tokens": at.number_input(key="chat_max_tokens").value,
            "tools": at.multiselect(key="chat_tools").value,
            "schema": at.text_area(key="chat_schema").value,
            "temperature": at.slider(key="chat_temperature").value}


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}},
          "required": ["name"], "additionalProperties": False}


def test_settings_are_kept_with_the_conversation_and_restored_when_it_is_reopened(app):
    """A structured chat with a tool, reopened by its URL in a new session, is the same
    chat: model, max tokens, tools and schema are back, shown beside the input, and the next
    reply is JSON again."""
    at = app("app_pages/chat.py")
    at.text_area(key="chat_schema").set_value(json.dumps(SCHEMA)).run()
    at.number_input(key="chat_max_tokens").set_value(96).run()
    at.slider(key="chat_temperature").set_value(0.0).run()
    at.chat_input[0].set_value("Alice is 30.").run()
    assert not at.exception, [e.value for e in at.exception]
    db = get_settings().db
    [conv] = chat.list_conversations(db)
    assert conv.settings["output_schema"] == json.dumps(SCHEMA)
    at.multiselect(key="chat_tools").set_value(["calculator"]).run()  # changed afterwards
    assert chat.get_conversation(db, conv.id).settings["tools"] == ["calculator"]
    before = kept_settings(at)

    fresh = opened(app, "app_pages/chat.py", c=str(conv.id))  # a reload, a bookmark
    assert kept_settings(fresh) == before
    beside = " ".join(shown(c.value) for c in fresh.caption)
    assert "Tools: `calculator`" in beside and "output schema" in beside
    fresh.multiselect(key="chat_tools").set_value([]).run()
    fresh.chat_input[0].set_value("Bob is 41.").run()
    assert not fresh.exception, [e.value for e in fresh.exception]
    reply = chat.list_messages(db, conv.id)[-1]
    assert reply.meta["structured"]["status"] == "valid" and "name" in json.loads(reply.content)

    # A new chat keeps the sidebar as it is; opening another conversation from the list
    # brings back that one's own settings.
    other = chat.create_conversation(db, title="Plain")
    chat.save_settings(db, other, {"model": LOCAL, "max_tokens": 64, "tools": [],
                                     "output_schema": "", "knowledge_base": None})
    fresh.run()
    picker(fresh).set_value(other).run()
    assert fresh.text_area(key="chat_schema").value == ""
    assert fresh.number_input(key="chat_max_tokens").value == 64
    picker(fresh).set_value(conv.id).run()
    assert fresh.text_area(key="chat_schema").value == json.dumps(SCHEMA)


def test_the_conversation_list_is_visible_with_the_open_one_marked(app):
    db = get_settings().db
    ids = [chat.create_conversation(db, title=f"Chat number {i}") for i in range(15)]
    at = app("app_pages/chat.py")
    listed = picker(at)
    assert listed.options[:2] == ["Chat number 14", "Chat number 13"]  # newest first
    assert len(listed.options) == 12 and listed.value is None
    at.button(key="conv_more").click().run()
    assert len(picker(at).options) == 15
    picker(at).set_value(ids[3]).run()
    assert at.query_params["c"] == str(ids[3]) and picker(at).value == ids[3]
    assert at.title[0].value == "Chat number 3"
    at.text_input(key="conv_search").set_value("number 1").run()
    assert set(picker(at).options) == {f"Chat number {i}" for i in (1, 10, 11, 12, 13, 14)}


@pytest.fixture
def warnings_of_streamlit(monkeypatch):
    """Streamlit's warning about a widget given both a default and a session-state value,
    logged with a stack trace. It is only checked with a runtime, which AppTest has not:
    pretend one, and catch what would be logged."""
    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies.runtime, "exists", lambda: True)
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    seen: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Catch(logging.WARNING)
    logger = logging.getLogger(policies.__name__)
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


def test_switching_conversations_logs_no_warning(app, warnings_of_streamlit):
    db = get_settings().db
    a = chat.create_conversation(db, title="First", model=LOCAL)
    chat.add_message(db, a, "user", "one")
    b = chat.create_conversation(db, title="Second", model=LOCAL)
    chat.save_settings(db, b, {"model": LOCAL, "max_tokens": 200, "temperature": 0.2,
                                 "tools": ["calculator"], "tool_choice": "auto",
                                 "output_schema": "", "knowledge_base": None, "top_k": 3})
    at = app("app_pages/chat.py")
    for conv in (a, b, a, b):
        picker(at).set_value(conv).run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.query_params["c"] == str(conv)
    assert at.number_input(key="chat_max_tokens").value == 200
    at.button(key="new_chat").click().run()
    assert [r.getMessage() for r in warnings_of_streamlit] == []


def test_regenerate_keeps_the_first_reply_as_a_branch_and_later_turns_follow_the_choice(app):
    at = app("app_pages/chat.py")
    at.slider(key="chat_temperature").set_value(1.2).run()
    at.number_input(key="chat_max_tokens").set_value(24).run()
    at.chat_input[0].set_value("Name a colour.").run()
    db = get_settings().db
    [conv] = chat.list_conversations(db)
    [asked, first] = chat.list_messages(db, conv.id)
    at.button(key=f"regen_{first.id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [same, second] = chat.list_messages(db, conv.id)
    assert same == asked and second.id != first.id and second.branches == (first.id,
                                                                            second.id)
    assert any(shown(c.value) == "2/2" for c in at.caption)
    at.button(key=f"branch_prev_{second.id}").click().run()  # ‹: back to the first reply
    assert [m.id for m in chat.list_messages(db, conv.id)] == [asked.id, first.id]
    assert any(shown(c.value) == "1/2" for c in at.caption)
    assert first.content in [m.value for m in at.chat_message[1].markdown]
    at.chat_input[0].set_value("And another?").run()
    branch = chat.list_messages(db, conv.id)
    assert [m.id for m in branch[:2]] == [asked.id, first.id] and len(branch) == 4
    at.button(key=f"branch_next_{first.id}").click().run()  # ›: the second reply's branch
    assert [m.id for m in chat.list_messages(db, conv.id)] == [asked.id, second.id]
    assert len(at.chat_message) == 2
    assert spend.count_calls(db) == 3  # every call stays in the ledger


def test_marks_say_what_the_history_as_it_is_leaves_out(app, monkeypatch):
    """A long last message does not make the marks claim the older ones will go: with the
    history as it is everything fits, and the page says how long the next message may be."""
    monkeypatch.setenv("PROMPTLAB_LOCAL_CONTEXT", "512")
    db = get_settings().db
    conv = chat.create_conversation(db, title="Long last", model=LOCAL)
    for i in range(3):
        chat.add_message(db, conv, "user", f"Question {i}")
        chat.add_message(db, conv, "assistant", f"Answer {i}")
    chat.add_message(db, conv, "user", "harbour " * 220)  # as long as half the window
    at = app("app_pages/chat.py")
    picker(at).set_value(conv).run()
    at.number_input(key="chat_max_tokens").set_value(64).run()
    settings = get_settings()
    local = load_catalog(settings).get(LOCAL)
    estimate = chat.ChatSession.open(settings, conv).draft(
        chat.TurnOptions(max_tokens=64), model=local).estimate
    assert estimate.left_out == frozenset() and 0 < estimate.room < 512
    text = page_text(at)
    assert "no longer fits" not in text and "left out" not in at.get("progress")[0].proto.text
    assert f"room for about {estimate.room:,} tokens" in text
    # One more long message: now the oldest ones do not fit, whatever is typed next.
    chat.add_message(db, conv, "assistant", "lantern " * 200)
    at.run()
    full = chat.ChatSession.open(settings, conv).draft(
        chat.TurnOptions(max_tokens=64), model=local).estimate
    assert full.left_out
    marks = [c for c in at.caption if "no longer fits" in shown(c.value)]
    assert len(marks) == len(full.left_out)
    assert f"{len(full.left_out)} oldest messages are left out" in shown(
        at.get("progress")[0].proto.text)
