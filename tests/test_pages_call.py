"""AppTest for a call's detail page (/call?id=N): the exact request and raw reply, reached from a
chat reply, a Compare cell and the Costs page's tables; odd or someone else's ids read as not
found."""

from __future__ import annotations

import json

import pytest
from fakes import FakeProvider, scripted
from support import shown as reads

from lib import chat, spend
from lib.core import ROOT, get_settings, now_iso
from lib.llm import (
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    ModelInfo,
    Stop,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)

MODEL = ModelInfo("m1", "openai", "Model One", 1000, 100, input=2.0, output=8.0)
# As an OpenID Connect provider signs them in: a verified email is the id owning their rows.
ISSUER = "https://id.example.com"
ALICE = {"is_logged_in": True, "iss": ISSUER, "sub": "a1", "email": "alice@example.com",
         "email_verified": True, "name": "Alice"}
BOB = {"is_logged_in": True, "iss": ISSUER, "sub": "b2", "email": "bob@example.com",
       "email_verified": True}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}


def make_call(user: str | None = None, conversation: int | None = None, **context) -> int:
    settings = get_settings()
    request = ChatRequest(
        "m1", (Message("user", "What is **6*7**? ![x](http://127.0.0.1:9/leak)"),),
        system="You are terse.", temperature=0.3, max_tokens=99,
        tools=(ToolSpec("calculator", "Arithmetic.", {"type": "object", "properties": {
            "expression": {"type": "string"}}}),), tool_choice="auto", output_schema=SCHEMA)
    events = [TextDelta("Let me compute."),
              ToolCall("t1", "calculator", {"expression": "6*7"}, '{"expression":"6*7"}'),
              Usage(120, 30), Stop("tool_use")]
    call = scripted(settings, FakeProvider([(events, None)])).invoke(CallSpec(
        MODEL, request, CallContext("chat", "assistant", 2, conversation, user=user, **context)))
    list(call)
    return call.record.id


@pytest.fixture
def open_as(app):
    """The app run as `user` (None: no sign-in), on `page` with URL parameters."""
    from streamlit.testing.v1 import AppTest

    def make(user: dict | None, page: str, **params: str):
        at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120)
        if user is not None:
            at.user = user
        at.run()
        at.switch_page(page)
        for k, v in params.items():
            at.query_params[k] = v
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return make


def codes(at) -> list[str]:
    return [c.value for c in at.code]


def test_a_call_opens_by_its_url_with_request_and_reply(open_as):
    call_id = make_call()
    at = open_as(None, "app_pages/call.py", id=str(call_id))
    assert [t.value for t in at.title] == [f"Call {call_id}"]
    shown = codes(at)
    # The request exactly as sent, drawn as code (an image in it is never fetched).
    assert "You are terse." in shown
    assert "What is **6*7**? ![x](http://127.0.0.1:9/leak)" in shown
    assert json.dumps(SCHEMA, indent=2) in shown
    assert any('"expression"' in c and '"type": "string"' in c for c in shown)  # tool params
    # The raw reply: its text, its tool call as the model wrote it, the stop reason.
    assert "Let me compute." in shown and '{"expression":"6*7"}' in shown
    captions = " ".join(reads(c.value) for c in at.caption)
    assert "Stop reason: tool_use" in captions and "calculator" in captions
    table = " ".join(reads(m.value) for m in at.markdown)
    for cell in ("| Temperature | 0.3 |", "| Max output tokens | 99 |", "| Tool choice | auto |"):
        assert cell in table
    metrics = {m.label: reads(m.value) for m in at.metric}
    assert metrics["Tokens in / out"] == "120 / 30" and metrics["Cost"] == "$0.0005"
    assert "Prompt **assistant** v2" in captions
    assert [b.label for b in at.get("download_button")] == ["Download as JSON"]


def test_a_failed_call_shows_its_error(open_as):
    db = get_settings().db
    call_id = spend.record(db, spend.CallRecord(
        ts=now_iso(), page="api", provider="openai", model="gpt-4.1", attempts=3,
        status="error", total_ms=12.0, error_kind="rate_limit",
        error_message="Too many requests"), payload={
        "request": {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]},
        "reply": {"text": "", "tool_calls": [], "stop_reason": None}})
    at = open_as(None, "app_pages/call.py", id=str(call_id))
    assert "The call failed (rate\\_limit): Too many requests" in at.error[0].value
    assert "Stop reason: none" in " ".join(reads(c.value) for c in at.caption)


def test_a_call_too_large_to_keep_whole_says_so(open_as):
    settings = get_settings()
    request = ChatRequest("m1", (Message("user", "x" * 500_000 + " the end"),))
    # Asked as built (not fitted to MODEL's window): the page must cope with what was sent.
    call = scripted(settings, FakeProvider([([TextDelta("ok"), Stop("end_turn")], None)])).invoke(
        CallSpec(MODEL, lambda model, counter: request, CallContext("chat")))
    list(call)
    at = open_as(None, "app_pages/call.py", id=str(call.record.id))
    assert "too large to keep whole" in at.warning[0].value
    [sent] = [c for c in codes(at) if c.startswith("xxx")]
    assert sent.endswith("more characters cut]") and "the end" not in sent
    assert "ok" in codes(at)


def test_a_batch_result_says_nothing_was_stored(open_as):
    db = get_settings().db
    call_id = spend.record(db, spend.CallRecord(
        ts=now_iso(), page="compare", provider="openai", model="gpt-4.1", attempts=1,
        status="ok", total_ms=5.0))
    at = open_as(None, "app_pages/call.py", id=str(call_id))
    assert "were not stored" in at.info[0].value and not at.code


# Odd values as a URL can carry them: none may crash the page; each reads as not found.
ODD = ["999999", "²", "١٢", "-1", "0", "1e3", " 7 ", "9" * 30, "1;DROP TABLE calls", "%00",
       "\x00", "0x1f"]


@pytest.mark.parametrize("raw", ODD)
def test_odd_ids_read_as_not_found(open_as, raw):
    make_call()
    at = open_as(None, "app_pages/call.py", id=raw)
    assert [reads(w.value) for w in at.warning] == [f"There is no call {raw} to show."] or (
        raw == " 7 ")  # a padded number is still the number
    assert not at.code


def test_repeated_ids_name_no_call(open_as):
    first = make_call()
    second = make_call()
    at = open_as(None, "app_pages/call.py")
    at.query_params["id"] = [str(first), str(second)]
    at.run()
    assert "There is no call" in reads(at.warning[0].value) and not at.code


def test_a_call_is_visible_only_to_its_owner(open_as):
    alices = make_call(user=ALICE["email"])
    at = open_as(ALICE, "app_pages/call.py", id=str(alices))
    assert "You are terse." in codes(at)
    at = open_as(BOB, "app_pages/call.py", id=str(alices))
    missing = open_as(BOB, "app_pages/call.py", id=str(alices + 50))
    # Bob's view of Alice's call is word for word a missing call's.
    assert [reads(w.value) for w in at.warning] == [f"There is no call {alices} to show."]
    assert [reads(w.value) for w in missing.warning] == [
        f"There is no call {alices + 50} to show."]
    assert not at.code and not at.metric


def test_no_id_offers_to_open_one_by_number(open_as):
    call_id = make_call()
    at = open_as(None, "app_pages/call.py")
    assert [t.value for t in at.title] == ["Call"]
    at.number_input(key="call_open_id").set_value(call_id)
    at.button[0].click().run()
    assert at.query_params["id"] == str(call_id)
    assert "You are terse." in codes(at)


def page_links(at) -> list[tuple[str, str]]:
    return [(p.proto.label, p.proto.query_string) for p in at.get("page_link")]


def test_a_chat_reply_links_to_its_call(open_as):
    db = get_settings().db
    conv = chat.create_conversation(db, title="Sums")
    call_id = make_call(conversation=conv)
    chat.add_message(db, conv, "user", "What is 6*7?")
    chat.add_message(db, conv, "assistant", "Let me compute.", call_id=call_id,
                     meta={"model": "openai/m1", "input_tokens": 120, "output_tokens": 30})
    at = open_as(None, "app_pages/chat.py", c=str(conv))
    # In the reply's caption (a link opening a new tab, as the Costs page's call links do).
    assert any(f"[Call details](/call?id={call_id})" in c.value for c in at.caption)
    # The detail page links back to the conversation.
    at = open_as(None, "app_pages/call.py", id=str(call_id))
    assert ("Conversation", f"c={conv}") in page_links(at)


def test_the_costs_tables_link_every_call(open_as):
    ids = [make_call(), make_call()]
    db = get_settings().db
    api = spend.record(db, spend.CallRecord(
        ts=now_iso(), page="api", provider="local", model="smollm2-135m-instruct",
        attempts=1, status="ok", total_ms=3.0))
    at = open_as(None, "app_pages/costs.py", section="Calls")
    latest = next(df.value for df in at.dataframe if "details" in df.value.columns
                  and "API key" in df.value.columns)
    assert list(latest["details"]) == [f"/call?id={i}" for i in (api, *reversed(ids))]
    top = next(df.value for df in at.dataframe if "details" in df.value.columns
               and "API key" not in df.value.columns)
    assert set(top["details"]) == {f"/call?id={i}" for i in (*ids, api)}
