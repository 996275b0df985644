"""A person's path when their model's server is down: the reply comes from the fallback (the
bundled model), says so and why, and Home shows the server's circuit breaker open."""

from __future__ import annotations

import re

import pytest
from fake_openai import COMPAT, FakeOpenAI, app_env_for, http_error, serving
from playwright.sync_api import Page, expect
from support import pick_in_sidebar, send_chat

LOCAL = "SmolLM2 135M Instruct (bundled, local)"


@pytest.fixture
def fake():
    server = FakeOpenAI(http_error(503, "Service temporarily unavailable"))
    with serving(server):
        yield server


@pytest.fixture
def app_env(fake) -> dict[str, str]:
    return app_env_for(fake)


def test_a_down_server_falls_back_to_the_bundled_model(page: Page, app_url: str, fake):
    page.goto(app_url + "/chat")
    pick_in_sidebar(page, "Model", COMPAT)
    sidebar = page.get_by_test_id("stSidebar")
    # The server's models fall back to the bundled one unless the person changes it.
    expect(sidebar.get_by_test_id("stMultiSelect").filter(has_text="Fallbacks")
           ).to_contain_text(LOCAL)
    send_chat(page, "Say hello.")
    note = page.get_by_text(re.compile(r"Answered by SmolLM2 .* \(fallback\)\. Passed over: "
                                       r"fake-model \(server\): .*503|unavailable"))
    expect(note.first).to_be_visible(timeout=120_000)
    assert len(fake.requests) == 3  # the retry loop gave up first
    chats = page.get_by_test_id("stChatMessage")
    expect(chats).to_have_count(2)

    # A second turn: two more failures open the breaker (five in a row), so the third
    # attempt is refused at once instead of sent, and the bundled model answers again.
    send_chat(page, "And again?")
    expect(chats).to_have_count(4, timeout=120_000)
    expect(page.get_by_text(re.compile(r"Answered by SmolLM2")).nth(1)).to_be_visible(
        timeout=120_000)
    assert len(fake.requests) == 5

    page.goto(app_url)
    row = page.get_by_role("row").filter(has_text="OpenAI-compatible server")
    expect(row).to_contain_text(re.compile(r"open, probe in \d+ s"))
    # The model picker says so too, for each of the server's models.
    page.goto(app_url + "/chat")
    sidebar.get_by_role("combobox", name="Model", exact=True).click()
    expect(page.get_by_role("option", name=re.compile(r"fake-model .*circuit open, probe in"))
           ).to_be_visible()
