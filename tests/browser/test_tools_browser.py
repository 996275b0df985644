"""A person's path with tools, on the bundled model with no key and no network: enable the
calculator (and, grounded in a knowledge base, its search too), ask, watch the tool block,
reload and find the run kept, open its trace."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from support import choose, expand, rerun, send_chat, sidebar_section, wait_idle


def test_calculator_on_the_bundled_model(page: Page, app_url: str):
    page.goto(app_url + "/chat")
    sidebar = page.get_by_test_id("stSidebar")
    # Greedy decoding, so the small model writes the same short call every time.
    greedy(page)
    expand(sidebar_section(page, "Tools"))
    choose(page, sidebar.get_by_role("combobox", name="Enabled tools"), "Calculator")
    choice = sidebar.get_by_role("combobox", name="Tool choice")
    choose(page, choice, "required")  # it checks the choice holds
    expect(choice).to_have_value("required")
    send_chat(page, "what is 1234*5678?")  # it failed 3 of 3 (empty, "", a raw call)
    block = opened_block(page, "calculator")
    expect(block.first).to_contain_text("Arguments")
    expect(block.first).to_contain_text("expression")
    expect(block.first).to_contain_text("7006652")
    # An answer, or the plain word that the model could not use the tool: never an empty
    # reply, and never the call written out as the answer.
    said = page.get_by_test_id("stChatMessage").last.locator(  # the reply, not its blocks
        "xpath=.//*[@data-testid='stMarkdownContainer']"
        "[not(ancestor::*[@data-testid='stExpander'])]")
    expect(said.filter(has_text=re.compile(r"7006652|could not use the tools")).first
           ).to_be_visible()
    expect(said.filter(has_text=re.compile(r'"tool"\s*:'))).to_have_count(0)
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


LEAVE = "Leave policy\n\nEvery employee gets twenty-eight days of paid leave a year.\n"


def test_knowledge_base_search_and_calculator_on_the_bundled_model(page: Page, app_url: str,
                                                                   tmp_path):
    """Both tools enabled, the search required by name: the reply keeps the search's block,
    a reload keeps it, and the run's trace shows the call."""
    (tmp_path / "leave.txt").write_text(LEAVE)
    page.goto(app_url + "/documents")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("button", name="New knowledge base").click()
    page.get_by_role("textbox", name="Name").fill("HR")
    page.get_by_role("button", name="Create").click()
    expect(sidebar.get_by_role("combobox", name="Knowledge base")).to_have_value(
        re.compile("HR"))
    page.locator("input[type=file]").set_input_files(str(tmp_path / "leave.txt"))
    page.get_by_role("button", name="Add to knowledge base").click()
    expect(page.get_by_test_id("stMain").get_by_role("heading", name="1 document")
           ).to_be_visible(timeout=120_000)

    page.get_by_role("link", name="Chat").click()
    expect(sidebar.get_by_role("combobox", name="Ground in a knowledge base")).to_be_enabled()
    choose(page, sidebar.get_by_role("combobox", name="Ground in a knowledge base"), "HR")
    greedy(page)
    expand(sidebar_section(page, "Tools"))
    tools = sidebar.get_by_role("combobox", name="Enabled tools")
    choose(page, tools, "Search the knowledge base")
    choose(page, tools, "Calculator")
    chosen = tools.locator("xpath=ancestor::*[@data-testid='stMultiSelect']")
    for name in ("Search the knowledge base", "Calculator"):
        expect(chosen.get_by_role("button", name=f"Remove {name}")).to_be_visible()
    choice = sidebar.get_by_role("combobox", name="Tool choice")
    choose(page, choice, "search_knowledge_base")
    expect(choice).to_have_value("search_knowledge_base")

    send_chat(page, "How many days of leave do employees get?")
    block = opened_block(page, "search_knowledge_base")
    expect(block.first).to_contain_text("Arguments")
    expect(block.first).to_contain_text("twenty-eight days")
    expect(block.first).to_contain_text("leave.txt · chunk 1")
    page.reload()
    wait_idle(page)
    block = page.get_by_test_id("stExpander").filter(
        has_text=re.compile(r"search_knowledge_base"))
    expect(block.first).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"\d+ steps? · \d+ tool calls? · "))).to_be_visible()
    page.get_by_role("link", name="Trace of this run").click()
    expect(page.get_by_role("heading", name="Traces")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Step 1 · "))).to_be_visible()
    expect(page.get_by_text(re.compile(r"search_knowledge_base\s*(answered|failed) in")
                            ).first).to_be_visible()
    expect(page.get_by_text("twenty-eight days").first).to_be_visible()
    assert "run=" in page.url


def opened_block(page: Page, tool: str):
    """Wait for the run to end with a block for `tool`, and open the block."""
    block = page.get_by_test_id("stExpander").filter(has_text=re.compile(tool))
    expect(block.first).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"\d+ steps? · \d+ tool calls? · "))).to_be_visible(
        timeout=120_000)
    block.first.get_by_text(re.compile(tool)).first.click()
    return block


def greedy(page: Page) -> None:
    """Temperature 0, so the small model writes the same short call every time."""
    slider = page.get_by_test_id("stSidebar").get_by_test_id("stSlider").filter(
        has_text="Temperature")
    with rerun(page):
        slider.get_by_role("slider").press("Home")
    expect(slider).to_contain_text("0.00")
