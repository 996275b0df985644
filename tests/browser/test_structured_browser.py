"""Structured output as a person uses it, on the bundled model with no key: a broken schema
holds sending, a fixed one gives a reply marked valid, drawn as a tree, and downloadable."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect
from support import chat_box, send_chat, wait_idle

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"},
                                           "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}


def test_a_schema_in_the_sidebar_gives_a_valid_json_reply(page: Page, app_url: str):
    page.goto(app_url + "/chat")  # a deep link on a fresh server
    sidebar = page.get_by_test_id("stSidebar")
    box = sidebar.get_by_role("textbox", name="Output schema (JSON Schema)")
    box.fill("{type: object")
    box.press("Control+Enter")
    expect(page.get_by_text("The output schema is not valid JSON")).to_be_visible()
    chat_box(page, enabled=False)

    box.fill(json.dumps(SCHEMA))
    box.press("Control+Enter")
    wait_idle(page)
    send_chat(page, "Alice is 30.")
    reply = page.get_by_test_id("stChatMessage").nth(1)
    expect(reply.get_by_text("valid JSON")).to_be_visible(timeout=120_000)
    expect(reply.get_by_test_id("stJson")).to_be_visible()
    reply.get_by_role("tab", name="JSON").click()
    code = reply.get_by_test_id("stCode")
    expect(code).to_contain_text('"age"')
    assert set(json.loads(code.inner_text())) == {"name", "age"}
    with page.expect_download() as download:
        reply.get_by_role("button", name="Download JSON").click()
    assert set(json.loads(download.value.path().read_text())) == {"name", "age"}
