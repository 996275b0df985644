"""A person's path through Chat: send, watch the reply stream in, reload, find it again."""

from __future__ import annotations

import contextlib
import re
import time

from playwright.sync_api import Page, expect
from support import chat_box, conversation_list, wait_idle


def reply_text(page: Page) -> str:
    """The assistant's words so far, without its avatar, Stop button or cursor."""
    text = page.get_by_test_id("stChatMessage").nth(1).inner_text()
    for noise in ("smart_toy", "stop_circle", "Stop", "▌"):
        text = text.replace(noise, "")
    return text.strip()


def test_chat_streams_and_survives_a_reload(page: Page, app_url: str):
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Prompt Lab")).to_be_visible()
    page.get_by_role("link", name="Chat").first.click()
    box = chat_box(page)
    box.fill("Write a short poem about the sea, in four lines.")
    box.press("Enter")

    # The reply arrives in pieces: sample its text while it streams.
    assistant = page.get_by_test_id("stChatMessage").nth(1)
    expect(assistant).to_be_visible()
    lengths, stop_seen = [], False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stop_seen = stop_seen or page.get_by_role("button", name="Stop").count() > 0
        with contextlib.suppress(Exception):
            lengths.append(len(assistant.inner_text(timeout=1000)))
        if page.get_by_text("first token").count():
            break
        time.sleep(0.03)
    distinct = sorted({n for n in lengths if n > 1})
    assert len(distinct) >= 3, f"the reply did not stream (lengths seen: {distinct})"
    assert stop_seen, "a Stop button should show while streaming"
    expect(page.get_by_text("first token")).to_be_visible()
    reply = page.get_by_test_id("stChatMessage").nth(1).inner_text()
    assert "SmolLM2" in reply

    # Reload: the conversation is still there, in the URL and in the sidebar.
    assert "?c=" in page.url
    page.reload()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2)
    expect(page.get_by_test_id("stChatMessage").first).to_contain_text("poem about the sea")
    listed = conversation_list(page)
    expect(listed.get_by_test_id("stBaseButton-secondary")).to_contain_text(
        "Write a short poem")  # the open one is marked

    # And from a fresh visit, it can be resumed from the sidebar's list.
    page.goto(app_url + "/chat")
    wait_idle(page)
    expect(page.get_by_test_id("stChatMessage")).to_have_count(0)
    expect(listed.get_by_test_id("stBaseButton-secondary")).to_have_count(0)
    listed.get_by_role("button", name=re.compile("Write a short poem")).click()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2)


def test_stop_ends_the_reply_and_keeps_it_as_cancelled(page: Page, app_url: str, app_data):
    from lib import chat, spend

    page.goto(app_url + "/chat")
    box = chat_box(page)
    box.fill("Tell me a very long story about a dragon who learns to bake bread.")
    box.press("Enter")
    deadline = time.monotonic() + 60
    while len(reply_text(page)) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("Stopped by you")).to_be_visible()
    db = app_data / "promptlab.sqlite3"
    [conv] = chat.list_conversations(db)
    reply = chat.list_messages(db, conv.id)[-1]
    assert reply.role == "assistant" and reply.status == "cancelled" and reply.content
    row = spend.get_call(db, reply.call_id)
    assert row.status == "cancelled" and 0 < row.output_tokens < 512
