"""The chat basics a person reaches for first: regenerate, edit and resend, copy a reply,
search the conversation list, rename, delete with a confirmation; and a theme that follows
the system's light or dark setting."""

from __future__ import annotations

import re

import pytest
from fake_openai import COMPAT, FakeOpenAI, app_env_for, reply, serving
from playwright.sync_api import Page, expect
from support import conversation_list, pick_in_sidebar, rerun, send_chat, wait_idle

MARKDOWN_REPLY = "It is **6**.\n\n```python\nprint(3 + 3)\n```"


@pytest.fixture
def fake():
    server = FakeOpenAI(reply("Four."), reply("Fo", "ur, surely."), reply(MARKDOWN_REPLY),
                        reply("Bread needs time."))
    with serving(server):
        yield server


@pytest.fixture
def app_env(fake) -> dict[str, str]:
    return app_env_for(fake)


def said(page: Page) -> list[str]:
    return [t.strip() for t in page.get_by_test_id("stChatMessageContent").locator(
        "> div > div > div:first-child").all_inner_texts()]


def asked(fake: FakeOpenAI) -> list[str]:
    """The conversation the provider was last sent."""
    return [m["content"] for m in fake.requests[-1]["messages"] if m["role"] != "system"]


def test_regenerate_edit_copy_search_rename_and_delete(page: Page, app_url: str, fake,
                                                         app_data):
    from lib import spend
    from lib.storage import Database

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
    page.goto(app_url + "/chat")
    pick_in_sidebar(page, "Model", COMPAT)
    send_chat(page, "What is 2+2?")
    chats = page.get_by_test_id("stChatMessage")
    expect(chats.nth(1)).to_contain_text("Four.")

    # Regenerate: the reply is replaced, the question is asked again on its own.
    page.get_by_role("button", name="Regenerate").click()
    expect(chats.nth(1)).to_contain_text("Four, surely.")
    expect(chats).to_have_count(2)
    expect(page.get_by_text("Four.", exact=True)).to_have_count(0)
    assert asked(fake) == ["What is 2+2?"]

    # Edit the question: both later turns go, the ledger keeps every call.
    chats.nth(0).get_by_role("button", name="Edit").click()
    editor = page.get_by_role("textbox", name="Edit your message")
    expect(editor).to_have_value("What is 2+2?")
    editor.fill("What is 3+3?")
    page.get_by_role("button", name="Send edited").click()
    expect(chats.nth(1)).to_contain_text("It is 6.")
    expect(chats).to_have_count(2)
    expect(chats.nth(0)).to_contain_text("What is 3+3?")
    assert asked(fake) == ["What is 3+3?"]
    assert spend.count_calls(Database.sqlite(app_data / "promptlab.sqlite3")) == 3

    # Copy: the whole reply, as the Markdown the model wrote.
    # The Copy box opens under the reply (a rerun); the reply's own code block has a "Copy to
    # clipboard" button too, shown while the pointer is over it.
    copy = chats.nth(1).get_by_role("radio", name="Copy")  # a pill
    with rerun(page):
        copy.click()
    block = chats.nth(1).get_by_test_id("stCode").last
    expect(block).to_contain_text("```")
    block.hover()  # the copy button shows on hover
    block.get_by_role("button").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == MARKDOWN_REPLY
    with rerun(page):  # chosen again, it closes
        copy.click()
    expect(chats.nth(1).get_by_test_id("stCode")).to_have_count(1)  # the reply's own block

    # Rename: the sidebar picker shows the new title at once.
    sidebar = page.get_by_test_id("stSidebar")
    with rerun(page):  # the menu's controls are drawn once it opens
        sidebar.get_by_role("button", name="Rename, export or delete").click()
    title = page.get_by_role("textbox", name="Title")
    title.fill("Arithmetic")
    page.get_by_role("button", name="Rename", exact=True).click()
    wait_idle(page)
    listed = conversation_list(page)
    marked = listed.get_by_test_id("stBaseButton-secondary")
    expect(marked).to_have_text(re.compile("Arithmetic"))
    page.keyboard.press("Escape")  # close the popover

    # A second conversation; search finds each by what was said in it.
    sidebar.get_by_role("button", name="New chat").click()
    wait_idle(page)
    expect(marked).to_have_count(0)  # the list marks no conversation: a new one
    send_chat(page, "How long does bread rise?")
    expect(chats.nth(1)).to_contain_text("Bread needs time.")
    search = sidebar.get_by_role("searchbox", name="Search conversations")
    search.fill("3+3")
    expect(sidebar.get_by_text("1 of 2 conversations match")).to_be_visible()
    options = listed.get_by_role("button")
    expect(options).to_have_count(1)
    expect(options.filter(has_text="How long does bread")).to_have_count(0)
    with rerun(page):  # the conversation opens; until then the old one's menu is drawn
        options.filter(has_text="Arithmetic").click()
    expect(chats.nth(0)).to_contain_text("What is 3+3?")
    expect(marked).to_have_text(re.compile("Arithmetic"))

    # Delete asks first: the button is disabled until the box is ticked.
    with rerun(page):
        sidebar.get_by_role("button", name="Rename, export or delete").click()
    delete = page.get_by_role("button", name="Delete conversation")
    expect(delete).to_be_disabled()
    page.get_by_text("Yes, delete this conversation").click()
    delete.click()
    expect(page.get_by_text("Deleted “Arithmetic”")).to_be_visible()
    expect(chats).to_have_count(0)
    search.fill("")
    wait_idle(page)
    expect(listed.get_by_role("button")).to_have_count(1)
    expect(listed).to_contain_text("How long does bread")


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_theme_follows_the_system(browser, app_url: str, scheme: str):
    from playwright.sync_api import expect as expect_

    context = browser.new_context(color_scheme=scheme, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    try:
        page.goto(app_url + "/tokens")
        expect_(page.get_by_role("heading", level=1)).to_be_visible(timeout=60_000)
        page.get_by_role("textbox").first.fill("Hello world, tokens!")
        page.keyboard.press("Control+Enter")
        wait_idle(page)
        background = page.evaluate(
            "getComputedStyle(document.querySelector('.stApp')).backgroundColor")
        r, g, b = (int(n) for n in re.findall(r"\d+", background)[:3])
        assert (r + g + b < 150) == (scheme == "dark"), background
        token = page.locator(".pl-tokens .tok").first
        expect_(token).to_be_visible(timeout=60_000)
        # Pastel token colours keep dark text in either theme.
        assert token.evaluate("e => getComputedStyle(e).color") == "rgb(17, 17, 17)"
    finally:
        context.close()
