"""A person's path with tools, on the bundled model with no key and no network: enable the
calculator, ask, watch the tool block, reload and find the run kept."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from support import pick_in_sidebar, send_chat, wait_idle


def test_calculator_on_the_bundled_model(page: Page, app_url: str):
    page.goto(app_url + "/chat")
    sidebar = page.get_by_test_id("stSidebar")
    # Greedy decoding, so the small model writes the same short call every time.
    sidebar.get_by_test_id("stSlider").filter(has_text="Temperature").get_by_role(
        "slider").press("Home")
    wait_idle(page)
    expect(sidebar.get_by_test_id("stSlider").filter(has_text="Temperature")).to_contain_text(
        "0.00")
    sidebar.get_by_text("Tools", exact=True).click()
    sidebar.get_by_role("combobox", name="Built-in tools").click()
    page.keyboard.type("Calcul")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")  # close the list: the choice is sent
    wait_idle(page)
    expect(sidebar.get_by_role("combobox", name="Tool choice")).to_be_enabled()
    pick_in_sidebar(page, "Tool choice", "required")
    send_chat(page, "What is 17 * 23?")
    block = page.get_by_test_id("stExpander").filter(has_text=re.compile(r"calculator"))
    expect(block.first).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"\d+ steps? · \d+ tool calls? · "))).to_be_visible(
        timeout=120_000)
    block.first.get_by_text(re.compile("calculator")).first.click()
    expect(block.first).to_contain_text("Arguments")
    expect(block.first).to_contain_text("expression")
    page.reload()
    wait_idle(page)
    block = page.get_by_test_id("stExpander").filter(has_text=re.compile(r"calculator"))
    expect(block.first).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"\d+ steps? · \d+ tool calls? · "))).to_be_visible()
    # The run's trace, from the reply: its steps and the calculator call.
    page.get_by_role("link", name="Trace of this run").click()
    expect(page.get_by_role("heading", name="Traces")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Step 1 · "))).to_be_visible()
    expect(page.get_by_text(re.compile(r"calculator\s*(answered|failed) in"))).to_be_visible()
    assert "run=" in page.url
    page.reload()  # the trace's URL works as a bookmark
    expect(page.get_by_text(re.compile(r"^Step 1 · "))).to_be_visible(timeout=60_000)
