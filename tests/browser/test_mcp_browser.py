"""The issue's whole path, offline on the bundled model: a person adds the reference time MCP
server in tools.toml, finds it on the Tools page, enables its tool in Chat, and the bundled
model calls it — asking first, since the server is not trusted; Approve runs the call and the
run goes on in the same reply."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from support import TIME_SERVER, choose, expand, rerun, send_chat, sidebar_section, wait_idle
from test_tools_browser import greedy

TOOL = "time__get_current_time"


@pytest.fixture
def app_data(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "tools.toml").write_text(TIME_SERVER, encoding="utf-8")
    return data


def test_the_bundled_model_calls_an_mcp_tool_after_approval(page: Page, app_url: str):
    page.goto(app_url + "/tools")
    expect(page.get_by_text("get_current_time").first).to_be_visible(timeout=60_000)

    page.get_by_role("link", name="Chat").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Chat")
    wait_idle(page)
    greedy(page)
    sidebar = page.get_by_test_id("stSidebar")
    expand(sidebar_section(page, "Tools"))
    choose(page, sidebar.get_by_role("combobox", name="Enabled tools"),
           "time · get_current_time (MCP, asks first)")
    choose(page, sidebar.get_by_role("combobox", name="Tool choice"), TOOL)
    send_chat(page, "What time is it in UTC?")
    reply = page.get_by_test_id("stChatMessage").last
    expect(reply).to_contain_text(f"{TOOL} asks before it runs", timeout=120_000)
    wait_idle(page)
    with rerun(page):
        page.get_by_role("button", name="Approve", exact=True).click()
    # The call ran: its block says how it ended (the small model's timezone may be one the
    # server refuses; then the server's own error is the result the model reads).
    block = page.get_by_test_id("stExpander").filter(has_text=re.compile(TOOL))
    expect(block.first).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"\d+ steps? · \d+ tool calls? · "))).to_be_visible(
        timeout=120_000)
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    expect(block.first).not_to_contain_text("waits for your approval")
