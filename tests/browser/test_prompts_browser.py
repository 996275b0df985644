"""A newcomer's prompt, as a person makes it in the browser on the bundled model with no key:
from the empty New-prompt form, a template with variables, declared from the offer above the
grid, a default set in the grid, created, previewed with a value and run."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect
from support import rerun, wait_idle

from lib import spend
from lib.storage import Database


def edit_cell(page: Page, grid, column: int, row: int, text: str) -> None:
    """Type into a grid cell as a person does: select it (click, then arrow keys), press
    Enter, type in the editor that opens, Enter."""
    grid.locator(".dvn-scroller").click(position={"x": 60, "y": 36 + 18})  # row 0, name
    for key in ["ArrowRight"] * (column - 1) + ["ArrowDown"] * row:
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    editor = page.locator("textarea.gdg-input")
    expect(editor).to_be_visible()
    editor.fill(text)
    with rerun(page):
        editor.press("Enter")
    expect(grid.get_by_test_id(f"glide-cell-{column}-{row}")).to_have_text(text)


def test_a_newcomer_creates_previews_and_runs_a_prompt_with_variables(
        page: Page, app_url: str, app_data: Path):
    page.goto(app_url + "/prompts")
    wait_idle(page)
    page.get_by_test_id("stSidebar").get_by_role("button", name="New prompt").click()
    main = page.get_by_test_id("stMain")
    name = main.get_by_role("textbox", name="Name")
    expect(name).to_be_visible()
    # The grid starts empty, but with its columns and a way to add a row.
    grid = main.get_by_test_id("stDataFrame")
    for column in ("name", "type", "required", "default", "description"):
        expect(grid.locator("th", has_text=column)).to_be_attached()
    expect(grid.get_by_role("button", name="Add row")).to_be_attached()
    # The form's own template is offered for declaring too.
    offer = main.get_by_text("The template uses changes, which is not declared yet.")
    expect(offer).to_be_visible()

    with rerun(page):  # settled first: a run still drawing could undo the typing
        name.fill("release-notes")
        name.press("Enter")
    template = main.get_by_role("textbox", name="Template (Jinja)")
    template.fill("Write one line of release notes for {{ product }}:\n"
                  "{{ changes | untrusted }}")
    template.press("Control+Enter")
    expect(main.get_by_text("The template uses changes, product, which are not declared yet.")
           ).to_be_visible()
    main.get_by_role("button", name="Declare them").click()
    expect(main.get_by_role("button", name="Declare them")).to_have_count(0)
    wait_idle(page)
    expect(grid.get_by_test_id("glide-cell-1-0")).to_have_text("changes")
    expect(grid.get_by_test_id("glide-cell-1-1")).to_have_text("product")
    expect(grid.get_by_test_id("glide-cell-2-1")).to_have_text("str")
    edit_cell(page, grid, 4, 1, "Prompt Lab")   # product's default

    tokens = main.get_by_role("spinbutton", name="Max tokens")
    with rerun(page):  # settled first: a run still drawing could undo the typing
        tokens.fill("12")
        tokens.press("Enter")
    main.get_by_role("button", name="Create").click()

    # Created: picked in the sidebar, with its tabs.
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("combobox", name="Prompt")).to_have_value("release-notes")
    main.get_by_role("tab", name="Preview and run").click()
    value = main.get_by_role("textbox", name="changes (str)")
    value.fill("Added a dark mode.")
    value.press("Control+Enter")
    preview = main.get_by_test_id("stCode").first
    expect(preview).to_contain_text("release notes for Prompt Lab")
    expect(preview).to_contain_text("Added a dark mode.")
    expect(main.get_by_role("spinbutton", name="Max tokens")).to_have_value("12")

    main.get_by_role("button", name="Run").click()
    outcome = main.get_by_text("ledger row #1")
    expect(outcome).to_be_visible(timeout=120_000)
    expect(outcome).to_contain_text("v1 on SmolLM2")
    expect(outcome).to_contain_text("out tokens")
    row = spend.get_call(Database.sqlite(app_data / "promptlab.sqlite3"), 1)
    assert (row.page, row.prompt_name, row.prompt_version, row.status) == (
        "prompts", "release-notes", 1, "ok")
    assert row.output_tokens > 0
