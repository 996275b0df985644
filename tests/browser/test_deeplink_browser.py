"""Every page URL works as a first visit on a fresh server (a bookmark, a tab left open): the
app's own navigation, the page's heading, the shared sidebar and the wide layout."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

PAGES = {"chat": "Chat", "prompts": "Prompts", "compare": "Compare", "documents": "Documents",
         "retrieval": "Retrieval", "tokens": "Tokens", "costs": "Costs", "traces": "Traces",
         "tools": "Tools", "api": "API", "workflows": "Workflows"}


@pytest.mark.parametrize("path", list(PAGES))
def test_a_bookmarked_page_opens_as_itself(page: Page, app_url: str, path: str):
    page.goto(f"{app_url}/{path}")  # the server's very first request
    expect(page.get_by_role("heading", level=1)).to_have_text(PAGES[path])
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link")).to_have_count(len(PAGES) + 1)
    for title in ("Home", *PAGES.values()):  # the router's titles, not file names
        expect(nav.get_by_role("link", name=title, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="home", exact=True)).to_have_count(0)
    expect(page.get_by_test_id("stSidebar").get_by_text("Providers")).to_be_visible()
    width = page.evaluate("document.querySelector('[data-testid=stMainBlockContainer]')"
                          ".getBoundingClientRect().width")
    assert width > 900, f"the layout should be wide, not {width:.0f} px"


@pytest.mark.parametrize("path,what", [("compare", "comparison run"), ("traces", "agent run")])
@pytest.mark.parametrize("value", ["²", "9" * 400, "-1", "%00"])
def test_an_odd_run_link_reads_as_not_found(page: Page, app_url: str, path: str, what: str,
                                            value: str):
    from support import wait_idle

    page.goto(f"{app_url}/{path}?run={value}")
    expect(page.get_by_role("heading", level=1)).to_have_text(PAGES[path])
    expect(page.get_by_text(f"There is no {what}")).to_be_visible()
    wait_idle(page)
    expect(page.get_by_text("Something went wrong")).to_have_count(0)
