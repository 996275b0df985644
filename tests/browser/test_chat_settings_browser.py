"""A conversation as a person comes back to it, against a scripted OpenAI-compatible server:
reopened by its URL it keeps its model, output schema and max tokens (the next reply is
asked for JSON again); a summarising turn shows the message at once, then its progress under
a Stop that sends the turn without the summary; odd links read as "not found"."""

from __future__ import annotations

import json
import re
import threading

import pytest
from fake_openai import COMPAT, MODEL, FakeOpenAI, Reply, app_env_for, reply, serving
from playwright.sync_api import Page, expect
from support import chat_box, pick_in_sidebar, send_chat, wait_idle

from lib import chat
from lib.storage import Database

SCHEMA = {"title": "Person", "type": "object", "properties": {"name": {"type": "string"}},
          "required": ["name"], "additionalProperties": False}


@pytest.fixture
def fake():
    server = FakeOpenAI(reply('{"name": "Alice"}'))
    with serving(server):
        yield server


@pytest.fixture
def app_env(fake) -> dict[str, str]:
    return {**app_env_for(fake), "PROMPTLAB_SUMMARY_MODEL": f"compat/{MODEL}",
            "PROMPTLAB_OPENAI_CONTEXT_WINDOW": "1024"}


def test_a_structured_chat_reopened_by_url_is_still_structured(page: Page, app_url: str, fake):
    page.goto(app_url + "/chat")
    pick_in_sidebar(page, "Model", COMPAT)
    sidebar = page.get_by_test_id("stSidebar")
    schema = sidebar.get_by_role("textbox", name="Output schema (JSON Schema)")
    schema.fill(json.dumps(SCHEMA))
    schema.press("Control+Enter")
    wait_idle(page)
    tokens = sidebar.get_by_role("spinbutton", name="Max output tokens")
    tokens.fill("200")
    tokens.press("Enter")
    wait_idle(page)
    send_chat(page, "Alice is 30.")
    expect(page.get_by_text("valid JSON")).to_be_visible(timeout=60_000)
    assert "response_format" in fake.requests[-1]
    url = page.url
    assert re.search(r"[?&]c=\d+", url)

    page.goto("about:blank")
    page.goto(url)  # a new session: only the conversation can remember
    expect(page.get_by_role("heading", level=1)).to_have_text("Alice is 30.")
    expect(sidebar.get_by_role("combobox", name="Model", exact=True)).to_have_value(
        re.compile(MODEL))
    expect(schema).to_have_value(json.dumps(SCHEMA))
    expect(tokens).to_have_value("200")
    expect(page.get_by_text(re.compile("Replies are JSON matching the output schema"))
           ).to_be_visible()
    send_chat(page, "Bob is 41.")
    expect(page.get_by_text("valid JSON").nth(1)).to_be_visible(timeout=60_000)
    sent = fake.requests[-1]
    assert "response_format" in sent and sent["max_tokens"] == 200


def test_summarising_shows_the_message_at_once_and_stop_sends_it_with_the_window(
        page: Page, app_url: str, app_data, fake):
    db = Database.sqlite(app_data / "promptlab.sqlite3")
    conv = chat.create_conversation(db, title="Long harbour talk", model=f"compat/{MODEL}",
                                    history=chat.SUMMARISE)
    chat.save_settings(db, conv, {"model": f"compat/{MODEL}", "max_tokens": 256})
    for i in range(8):
        chat.add_message(db, conv, "user" if i % 2 == 0 else "assistant",
                         f"OLD{i} " + "the harbour lights were bright that night " * 20)
    held = threading.Event()
    fake.script = [Reply(["Summary."], hold=held), reply("The answer.")]
    try:
        page.goto(f"{app_url}/chat?c={conv}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Long harbour talk")
        box = chat_box(page)
        box.fill("What now?")
        box.press("Enter")
        messages = page.get_by_test_id("stChatMessage")
        expect(messages.filter(has_text="What now?")).to_be_visible()  # at once
        expect(page.get_by_text(re.compile(
            rf"Summarising \d+ earlier messages with {MODEL} \(server\)…"))).to_be_visible()
        fake.wait_for_requests(1)  # the summary's call is out (a Stop before: none goes out)
        page.get_by_role("button", name="Stop").click()
        # While the page redraws, the streamed reply and the stored one may both be there.
        expect(messages.filter(has_text="The answer.").last).to_be_visible(timeout=60_000)
        wait_idle(page)
        expect(messages.filter(has_text="The answer.")).to_have_count(1)
        expect(page.get_by_text(re.compile(r"did not finish \(stopped by you\); this call "
                                           r"used the sliding window"))).to_be_visible()
    finally:
        held.set()
    assert chat.active_summary(db, conv) is None
    stored = chat.list_messages(db, conv)
    assert [m.content for m in stored[-2:]] == ["What now?", "The answer."]
    assert sum(m.content == "What now?" for m in stored) == 1  # sent once, not twice
    main = fake.requests[-1]
    assert "OLD0" not in json.dumps(main) and "Summary." not in json.dumps(main)


@pytest.mark.parametrize("value", ["²", "٣", "9" * 400, "-1", "", "1&c=2"])
def test_an_odd_chat_link_reads_as_not_found(page: Page, app_url: str, value: str):
    page.goto(f"{app_url}/chat?c={value}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Chat")
    if value:
        expect(page.get_by_text("There is no conversation")).to_be_visible()
    chat_box(page)  # a new chat can start: the page ran to its end
    wait_idle(page)
    expect(page.get_by_text("Something went wrong")).to_have_count(0)
