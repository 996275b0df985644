"""A call's detail page in a real browser: opened from a chat reply on the bundled model, from
a row of the Costs page's calls, and by its URL as a first visit."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect
from support import rerun, send_chat, wait_idle
from test_offline_browser import seed


def test_a_chat_reply_opens_its_call(page: Page, app_url: str):
    page.goto(app_url + "/chat")
    tokens = page.get_by_test_id("stSidebar").get_by_role("spinbutton",
                                                          name="Max output tokens")
    with rerun(page):  # settled first: a run still drawing could undo the typing
        tokens.fill("16")
        tokens.press("Enter")
    send_chat(page, "Name a colour.")
    # The reply's caption links its call; the call opens in a new tab, as the Costs page's
    # call links do, and the conversation stays where it was.
    link = page.get_by_role("link", name="Call details")
    expect(link).to_be_visible()
    with page.context.expect_page() as opened:
        link.click()
    detail = opened.value
    expect(detail).to_have_url(re.compile(r"/call\?id=\d+$"))
    call_id = detail.url.rsplit("=", 1)[1]
    expect(detail.get_by_role("heading", level=1)).to_have_text(f"Call {call_id}")
    expect(detail.get_by_role("heading", name="Request")).to_be_visible()
    expect(detail.get_by_role("heading", name="Reply")).to_be_visible()
    # The message as sent, and the reply's stop reason; both drawn as code, not Markdown.
    sent = detail.get_by_test_id("stCode").filter(has_text="Name a colour.")
    expect(sent).to_have_count(1)
    expect(detail.get_by_text(re.compile(r"Stop reason: (end_turn|max_tokens)"))).to_be_visible()
    expect(detail.get_by_test_id("stMetric").filter(has_text="Tokens in / out")).to_be_visible()
    # Back to the conversation it belongs to.
    detail.get_by_role("link", name="Conversation").click()
    expect(detail.get_by_text("Name a colour.", exact=True).first).to_be_visible()
    expect(page.get_by_text("Name a colour.", exact=True).first).to_be_visible()


def test_a_costs_row_opens_its_call(page: Page, app_data: Path, app_url: str):
    seed(app_data)
    page.goto(app_url + "/costs?section=Calls")  # the section a bookmark opens
    expect(page.get_by_role("heading", name="Latest calls")).to_be_visible()
    wait_idle(page)
    grid = page.get_by_role("heading", name="Latest calls").locator(
        "xpath=following::*[@data-testid='stDataFrame'][1]")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    # The first column is each call's "details" link; the newest call is the first row
    # (under the header row; rows are 35 px high). The grid is a canvas: a link there opens
    # once the pointer has hovered it, as a person's does before the click, and the grid
    # shows it has by the pointer cursor it sets on its canvas.
    x, y = box["x"] + 30, box["y"] + 35 + 17
    page.mouse.move(x, y)
    expect(grid.locator("canvas").first).to_have_css("cursor", "pointer")
    with page.context.expect_page() as opened:
        page.mouse.click(x, y)
    detail = opened.value
    detail.wait_for_load_state()
    expect(detail).to_have_url(re.compile(r"/call\?id=\d+$"))
    expect(detail.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Call \d+$"))
    expect(detail.get_by_role("heading", name="Request")).to_be_visible()


def test_a_call_opens_by_its_url_as_a_first_visit(page: Page, app_data: Path, app_url: str):
    seed(app_data)
    page.goto(app_url + "/call?id=1")  # the server's first page
    expect(page.get_by_role("heading", level=1)).to_have_text("Call 1")
    expect(page.get_by_test_id("stCode").filter(has_text="Be brief.")).to_have_count(1)
    expect(page.get_by_test_id("stCode").filter(has_text="Apple.")).to_have_count(1)
    # The page is not in the navigation, and a guessed id reads as not found.
    expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="Call")).to_have_count(0)
    page.goto(app_url + "/call?id=999")
    expect(page.get_by_text("There is no call 999 to show.")).to_be_visible()
