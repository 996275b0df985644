"""A person's path: a few chats on the local model, then the Costs page shows them."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from support import chat_box, wait_idle


def test_chats_show_up_on_the_costs_page(page: Page, app_url: str):
    page.goto(app_url + "/chat")
    sidebar = page.get_by_test_id("stSidebar")
    tokens = sidebar.get_by_role("spinbutton", name="Max output tokens")
    tokens.fill("24")
    tokens.press("Enter")
    wait_idle(page)
    for question in ("Name a fruit.", "Name a colour.", "Name an animal."):
        box = chat_box(page)
        box.fill(question)
        box.press("Enter")
        expect(page.get_by_text(question, exact=True).first).to_be_visible()
        wait_idle(page)
    expect(page.get_by_text("first token")).to_have_count(3, timeout=60_000)

    page.get_by_role("link", name="Costs").click()
    expect(page.get_by_role("heading", name="Spend per day, by model")).to_be_visible()
    calls = page.get_by_test_id("stMetric").filter(has_text="Calls")
    expect(calls).to_contain_text("3")
    # One section drawn at a time; the spend chart's legend names the local model.
    charts = page.get_by_test_id("stPlotlyChart")
    expect(charts).to_have_count(1)
    expect(charts.first).to_contain_text("smollm2-135m-instruct")
    spend_ticks = ticks(charts.first)
    assert "−1" not in " ".join(charts.first.locator(".ytick text").all_text_contents())
    wait_idle(page)  # the run has finished: what it did not draw is not coming
    expect(page.get_by_role("heading", name="Latest calls")).to_have_count(0)
    # Another section, kept in the URL; its chart's bars are the token kinds.
    page.get_by_role("tab", name="Tokens").click()
    expect(page).to_have_url(re.compile(r"section=Tokens"))
    expect(page.get_by_role("heading", name="Tokens per day")).to_be_visible()
    expect(charts).to_have_count(1)
    expect(charts.first).to_contain_text("Output tokens")
    # One day of calls: the x-axis reads as that day, not as hours ending in 23:59:59.9996,
    # and a $0 day's axis starts at $0.
    for axis in (spend_ticks, ticks(charts.first)):
        assert axis and all(":" not in t for t in axis), axis
    page.get_by_role("tab", name="Calls").click()
    expect(page.get_by_role("heading", name="The 20 most expensive calls")).to_be_visible()

    # Budgets: a tiny one, saved, and the page stays on the budgets (and in the URL).
    page.get_by_test_id("stButtonGroup").get_by_text("Budgets", exact=True).click()
    # The click's rerun may not have started yet when the page looks idle: wait on the URL.
    expect(page).to_have_url(re.compile(r"view=Budgets"))
    limit = page.get_by_role("spinbutton", name="Limit (USD, 0 blocks all paid calls)")
    limit.fill("0.01")
    limit.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Save", exact=True).click()
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"view=Budgets"))
    expect(page.get_by_text("Today's overall budget: $0.0000 of $0.0100")).to_be_visible()


def ticks(chart) -> list[str]:
    """A drawn chart's x-axis labels, once it has some."""
    expect(chart.locator(".xtick text").first).to_be_visible()
    return chart.locator(".xtick text").all_text_contents()
