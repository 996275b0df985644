"""A person's path with tools, on the bundled model with no key and no network: enable the
calculator, ask, watch the tool block, reload and find the run kept."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from support import send_chat, wait_idle, wait_rerun


def test_calculator_on_the_bundled_model(page: Page, app_url: str):
    page.goto(app_url + "/chat")
    sidebar = page.get_by_test_id("stSidebar")
    # Greedy decoding, so the small model writes the same short call every time.
    greedy(page)
    sidebar.get_by_text("Tools", exact=True).click()
    choose(page, sidebar.get_by_role("combobox", name="Built-in tools"), "Calculator")
    choice = sidebar.get_by_role("combobox", name="Tool choice")
    expect(choice).to_be_enabled()
    # The multiselect may commit once more when it loses focus, and that rerun redraws the
    # choice box with new options: choose again until it holds (as a person would).
    for _ in range(3):
        choose(page, choice, "required")
        if choice.input_value() == "required":
            break
    expect(choice).to_have_value("required")
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
    # A small model may call it more than once: each call is a line of the trace.
    expect(page.get_by_text(re.compile(r"calculator\s*(answered|failed) in")).first
           ).to_be_visible()
    assert "run=" in page.url
    page.reload()  # the trace's URL works as a bookmark
    expect(page.get_by_text(re.compile(r"^Step 1 · "))).to_be_visible(timeout=60_000)


def greedy(page: Page) -> None:
    """Temperature 0, so the small model writes the same short call every time."""
    slider = page.get_by_test_id("stSidebar").get_by_test_id("stSlider").filter(
        has_text="Temperature")
    slider.get_by_role("slider").press("Home")
    wait_rerun(page)
    expect(slider).to_contain_text("0.00")


def choose(page: Page, box, option: str) -> None:
    """Pick an option of a select box or multiselect by typing part of it, as a person does,
    then close the list and let the rerun finish."""
    for attempt in range(4):  # a rerun that redraws the box closes its list: open it again
        expect(box).to_be_enabled()
        box.click()
        box.type(option[:8])
        try:
            expect(page.get_by_role("option", name=option, exact=True)).to_be_visible(
                timeout=5_000)
        except AssertionError:
            if attempt == 3:
                raise
            page.keyboard.press("Escape")
            wait_rerun(page)
            box.fill("")
            continue
        page.keyboard.press("Enter")  # the one option left by the filter
        page.keyboard.press("Escape")
        wait_rerun(page)
        return
