"""Page tests with Streamlit's AppTest: Home and Chat, on the bundled local model."""

from __future__ import annotations

from support import picker, shown

from lib import chat, llm, spend
from lib.core import get_settings
from lib.ui.chat.sidebar import MENU
from lib.ui.kit.app import PROVIDERS


def test_home_shows_providers_and_counts(app):
    at = app()
    assert at.title[0].value == "Prompt Lab"
    labels = {m.label: shown(m.value) for m in at.metric}
    assert labels == {"Conversations": "0", "Model calls recorded": "0",
                      "Spend today (UTC)": "$0"}

    def rows(at) -> dict[str, str]:
        table = next(m.value for m in at.markdown if shown(m.value).startswith("| Provider |"))
        return {r.split("|")[1].strip(): r for r in shown(table).splitlines()[2:]}

    def sidebar_says(at) -> str:
        return " ".join(shown(c.value) for c in at.sidebar.caption)

    at.session_state[PROVIDERS] = True  # the sidebar's panel is open: it is drawn
    at.run()
    # A fresh data folder: the page shows at once, and the local model is being checked in
    # the background: the table and the sidebar say the same thing.
    first = rows(at)["Local (bundled)"]
    assert "| checking… |" in first
    assert "Checking that the local model runs" in sidebar_says(at)
    settings = get_settings()
    # Asked to wait, the check waits for the one running in the background (or runs it).
    assert llm.check_runtime(llm.local_model_path(settings), settings.data_dir).ok
    at.run()
    found = rows(at)
    assert set(found) >= {"Local (bundled)", "Anthropic", "OpenAI"}
    assert "| ready |" in found["Local (bundled)"]
    assert "Checking" not in sidebar_says(at)  # and the sidebar agrees
    assert "| unavailable |" in found["Anthropic"] and "ANTHROPIC_API_KEY" in found["Anthropic"]


def test_chat_streams_a_local_reply_and_saves_it(app, data_dir):
    at = app("app_pages/chat.py")
    assert at.selectbox(key="chat_model").value == "local/smollm2-135m-instruct"
    at.chat_input[0].set_value("Hello! What is your name?").run()
    assert not at.exception and not at.error
    db = get_settings().db
    [conv] = chat.list_conversations(db)
    msgs = chat.list_messages(db, conv.id)
    assert [m.role for m in msgs] == ["user", "assistant"] and msgs[1].content.strip()
    assert at.query_params["c"] == str(conv.id)
    assert any("in /" in shown(c.value) and "first token" in shown(c.value) for c in at.caption)
    assert next(m.value for m in at.chat_message[1].markdown) == msgs[1].content
    row = spend.get_call(db, msgs[1].call_id)
    assert row.status == "ok" and row.provider == "local" and row.cost_micro == 0
    assert conv.title == "Hello! What is your name?"
    assert "Context:" in at.get("progress")[0].proto.text


def test_unavailable_model_explains_how_to_enable_it(app):
    at = app("app_pages/chat.py")
    box = at.selectbox(key="chat_model")
    assert "Anthropic · Claude Haiku 4.5 · legacy  (unavailable)" in box.options
    box.set_value("anthropic/claude-haiku-4-5").run()
    assert any("ANTHROPIC_API_KEY" in shown(w.value) for w in at.warning)
    assert at.chat_input[0].disabled


def test_provider_outage_is_shown_in_plain_words(app, monkeypatch):
    from support import free_port

    monkeypatch.setenv("PROMPTLAB_OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("PROMPTLAB_OPENAI_MODELS", "nothing-here")
    monkeypatch.setenv("PROMPTLAB_DEADLINE", "5")
    at = app("app_pages/chat.py")
    at.selectbox(key="chat_model").set_value("compat/nothing-here").run()
    # A server's models fall back to the bundled one by default: take that away to see the
    # outage itself (tests/browser/test_fallback_browser.py covers the fallback).
    fallbacks = at.multiselect(key="chat_fallbacks_compat/nothing-here")
    assert fallbacks.value == ["local/smollm2-135m-instruct"]
    fallbacks.set_value([]).run()
    at.chat_input[0].set_value("Are you there?").run()
    assert not at.exception
    assert any("connection" in shown(e.value).lower() and "network" in shown(e.value)
               for e in at.error)
    db = get_settings().db
    [conv] = chat.list_conversations(db)
    assert [m.content for m in chat.list_messages(db, conv.id)] == ["Are you there?"]


def test_overlong_message_is_refused_and_given_back(app):
    at = app("app_pages/chat.py")
    text = "lorem ipsum " * 3000
    at.chat_input[0].set_value(text).run()
    assert not at.exception
    assert any("window" in shown(e.value) for e in at.error)
    assert at.code[0].value == text
    assert chat.list_conversations(get_settings().db) == []


def test_rename_resume_and_delete(app):
    db = get_settings().db
    conv = chat.create_conversation(db, title="Old name")
    chat.add_message(db, conv, "user", "remember me")
    at = app("app_pages/chat.py")
    picker(at).set_value(conv).run()
    assert at.query_params["c"] == str(conv)
    assert at.title[0].value == "Old name"
    assert "remember me" in [m.value for m in at.chat_message[0].markdown]
    at.session_state[MENU] = True  # the menu is open: its controls are drawn
    at.run()
    at.text_input(key=f"title_{conv}").set_value("New name").run()
    at.button(key="rename").click().run()
    assert chat.get_conversation(db, conv).title == "New name"
    shown_now = picker(at)
    assert shown_now.value == conv and shown_now.format_func(conv).startswith("New name")
    assert at.button(key="delete_conv").disabled  # not at one click
    at.checkbox(key=f"delete_sure_{conv}").check().run()
    at.button(key="delete_conv").click().run()
    assert chat.list_conversations(db) == []
    assert "c" not in at.query_params


def test_the_conversation_list_is_searched_by_what_was_said(app):
    db = get_settings().db
    lighthouse = chat.create_conversation(db, title="Coastal trip")
    chat.add_message(db, lighthouse, "user", "Who keeps the lighthouse?")
    chat.create_conversation(db, title="Taxes")
    at = app("app_pages/chat.py")
    assert len(picker(at).options) == 2
    at.text_input(key="conv_search").set_value("LIGHTHOUSE").run()
    assert [o for o in picker(at).options] == [
        picker(at).format_func(lighthouse)]
    assert any("1 of 2 conversations match" in c.value for c in at.sidebar.caption)


def test_new_chat_leaves_the_current_conversation(app):
    db = get_settings().db
    conv = chat.create_conversation(db, title="Kept")
    chat.add_message(db, conv, "user", "first question")
    chat.add_message(db, conv, "assistant", "first answer")
    at = app("app_pages/chat.py")
    picker(at).set_value(conv).run()
    assert at.query_params["c"] == str(conv) and len(at.chat_message) == 2
    at.button(key="new_chat").click().run()
    assert "c" not in at.query_params
    assert len(at.chat_message) == 0 and at.title[0].value == "Chat"
    at.run()  # and it stays new on the next run
    assert "c" not in at.query_params and len(at.chat_message) == 0
    assert picker(at).value is None


def test_claude_counts_are_estimates_with_an_exact_count_on_request(app, monkeypatch):
    """The estimate is labelled; Anthropic's count endpoint is called only on a click."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    hits = []

    class CountTokens(BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.path)
            self.rfile.read(int(self.headers["content-length"]))
            body = json.dumps({"input_tokens": 42}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), CountTokens)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{server.server_port}")
    db = get_settings().db
    conv = chat.create_conversation(db, model="anthropic/claude-haiku-4-5")
    chat.add_message(db, conv, "user", "How many tokens is this?")
    try:
        at = app("app_pages/chat.py")
        picker(at).set_value(conv).run()
        assert at.selectbox(key="chat_model").value == "anthropic/claude-haiku-4-5"
        assert "Context (estimated)" in at.get("progress")[0].proto.text
        assert hits == []  # nothing on the hot path
        at.button(key="exact_count").click().run()
        assert hits == ["/v1/messages/count_tokens"]
        assert any("Anthropic counts 42 input tokens" in shown(c.value) for c in at.caption)
    finally:
        server.shutdown()


def test_chat_with_an_output_schema_draws_a_json_tree_on_the_local_model(app):
    """A person types a schema in the sidebar and sends: the bundled model answers under its
    grammar, the reply is marked valid, drawn as a tree, and can be downloaded."""
    import json

    schema = {"type": "object", "properties": {"name": {"type": "string"},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    at = app("app_pages/chat.py")
    at.text_area(key="chat_schema").set_value(json.dumps(schema)).run()
    at.chat_input[0].set_value("Alice is 30.").run()
    assert not at.exception and not at.error
    db = get_settings().db
    [conv] = chat.list_conversations(db)
    reply = chat.list_messages(db, conv.id)[1]
    assert set(json.loads(reply.content)) == {"name", "age"}
    assert reply.meta["structured"]["status"] == "valid"
    assert spend.get_call(db, reply.call_id).structured == "valid"
    assert any("valid JSON" in shown(m.value) for m in at.markdown)
    assert at.get("json") and at.get("download_button")


def test_a_broken_schema_is_refused_in_plain_words_and_nothing_is_sent(app):
    at = app("app_pages/chat.py")
    at.text_area(key="chat_schema").set_value("{type: object").run()
    assert any("not valid JSON" in shown(e.value) for e in at.error)
    assert at.chat_input[0].disabled  # nothing goes out as free text by mistake
    at.text_area(key="chat_schema").set_value('{"type": "object"}').run()
    assert not at.chat_input[0].disabled and not at.error
