"""Approval in the browser: a scripted model (a fake OpenAI-compatible server on loopback)
calls a tool of the reference time server (`mcp-server-time`, not trusted, so it asks
first): the run pauses with the call shown, a reload while waiting keeps the pause, Deny
sends the denial, and Approve runs the call; each time the run goes on in the same reply."""

from __future__ import annotations

import json

import pytest
from fake_openai import COMPAT, FakeOpenAI, app_env_for, reply, serving, tool_call
from playwright.sync_api import Page, expect
from support import (
    TIME_SERVER,
    choose,
    expand,
    pick_in_sidebar,
    rerun,
    send_chat,
    sidebar_section,
    wait_idle,
)

TOOL = "time__get_current_time"
UTC = json.dumps({"timezone": "UTC"})


@pytest.fixture
def fake():
    server = FakeOpenAI(tool_call(TOOL, UTC), reply("I was not allowed to look."),
                        tool_call(TOOL, UTC), reply("Now I know the time."))
    with serving(server):
        yield server


@pytest.fixture
def app_env(fake) -> dict[str, str]:
    return app_env_for(fake)


@pytest.fixture
def app_data(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "tools.toml").write_text(TIME_SERVER, encoding="utf-8")
    return data


def decide(page: Page, button: str) -> None:
    with rerun(page):
        page.get_by_role("button", name=button, exact=True).click()


def tool_results(fake: FakeOpenAI) -> list[dict]:
    """The tool messages of the model's last request."""
    return [m for m in fake.requests[-1]["messages"] if m["role"] == "tool"]


def test_an_ask_tool_pauses_and_deny_or_approve_goes_on(page: Page, app_url: str, fake):
    page.goto(app_url + "/chat")
    pick_in_sidebar(page, "Model", COMPAT)
    sidebar = page.get_by_test_id("stSidebar")
    expand(sidebar_section(page, "Tools"))
    choose(page, sidebar.get_by_role("combobox", name="Enabled tools"),
           "time · get_current_time (MCP, asks first)")
    send_chat(page, "What time is it?")
    reply_ = page.get_by_test_id("stChatMessage").last
    expect(reply_).to_contain_text("time__get_current_time asks before it runs")
    expect(reply_).to_contain_text("MCP server time")
    expect(reply_).to_contain_text("read-only")  # the server's hint, as a badge
    expect(reply_).to_contain_text('"timezone": "UTC"')
    assert len(fake.requests) == 1  # paused: the model was not called again

    page.reload()  # while waiting: the pause and its buttons are still there
    wait_idle(page)
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible(
        timeout=60_000)
    expect(page.get_by_text("approve or deny each call below")).to_be_visible()

    decide(page, "Deny")
    expect(page.get_by_text("I was not allowed to look.")).to_be_visible(timeout=60_000)
    [denied] = tool_results(fake)
    # An error result, as the OpenAI format sends one.
    assert denied["content"].startswith("Error: denied: the person denied this call")
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)

    send_chat(page, "Try again, please.")
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible(
        timeout=60_000)
    decide(page, "Approve")
    expect(page.get_by_text("Now I know the time.")).to_be_visible(timeout=60_000)
    ran = tool_results(fake)[-1]
    assert '"timezone": "UTC"' in ran["content"] and "datetime" in ran["content"]
