"""A person's path through Chat: send, watch the reply stream in, reload, find it again."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from support import chat_box, conversation_list, wait_idle

# The assistant's words so far, without its avatar, Stop button or cursor: read in the page.
NOISE = ["smart_toy", "stop_circle", "Stop", "▌"]
REPLY = """noise => {
    const m = document.querySelectorAll('[data-testid="stChatMessage"]')[1];
    let text = m ? m.innerText : '';
    for (const n of noise) text = text.split(n).join('');
    return text.trim();
}"""


def test_chat_streams_and_survives_a_reload(page: Page, app_url: str):
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Prompt Lab")).to_be_visible()
    page.get_by_role("link", name="Chat").first.click()
    box = chat_box(page)
    box.fill("Write a short poem about the sea, in four lines.")
    # The reply arrives in pieces: the page notes its length at every change while it
    # streams, and whether a Stop button shows meanwhile.
    page.evaluate(f"""noise => {{
        window.seen = {{lengths: [], stop: false}};
        new MutationObserver(() => {{
            seen.lengths.push(({REPLY})(noise).length);
            seen.stop ||= [...document.querySelectorAll('button')].some(
                b => /stop/i.test(b.innerText));
        }}).observe(document.body, {{childList: true, subtree: true, characterData: true}});
    }}""", NOISE)
    box.press("Enter")
    expect(page.get_by_text("first token")).to_be_visible(timeout=60_000)
    seen = page.evaluate("seen")
    lengths, stop_seen = seen["lengths"], seen["stop"]
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
    poem = listed.get_by_role("button", name=re.compile("Write a short poem"))
    expect(poem).to_be_visible()
    wait_idle(page)  # drawn to its end: no conversation open, none marked
    expect(page.get_by_test_id("stChatMessage")).to_have_count(0)
    expect(listed.get_by_test_id("stBaseButton-secondary")).to_have_count(0)
    poem.click()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2)


def test_stop_ends_the_reply_and_keeps_it_as_cancelled(page: Page, app_url: str, app_data):
    from lib import chat, spend
    from lib.storage import Database

    page.goto(app_url + "/chat")
    box = chat_box(page)
    box.fill("Tell me a very long story about a dragon who learns to bake bread.")
    box.press("Enter")
    page.wait_for_function(f"noise => ({REPLY})(noise).length >= 20", arg=NOISE)
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("Stopped by you")).to_be_visible()
    db = Database.sqlite(app_data / "promptlab.sqlite3")
    [conv] = chat.list_conversations(db)
    reply = chat.list_messages(db, conv.id)[-1]
    assert reply.role == "assistant" and reply.status == "cancelled" and reply.content
    row = spend.get_call(db, reply.call_id)
    assert row.status == "cancelled" and 0 < row.output_tokens < 512
