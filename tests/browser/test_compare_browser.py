"""A person's path through Prompts and Compare: a new version, a two-variant run over a
three-row CSV on the local model, a vote on every row, win rates, and the CSV download."""

from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import Page, expect
from support import choose, expand, rerun, wait_idle
from test_pages_compare import EMOJI

CSV_ROWS = ["The app crashes when I press save.", "Please add a dark mode.",
            "How do I reset my password?"]


def pick_check(page: Page, main, kind: str) -> None:
    """As a person does: open the checks and pick a kind."""
    expand(main.get_by_text("Automated checks (optional)"))
    choose(page, main.get_by_role("combobox", name="Check that the output"), kind)


def add_check(page: Page, main, kind: str, value: str) -> None:
    """Pick a kind, type its value, press Add check."""
    pick_check(page, main, kind)
    main.get_by_role("textbox", name="A number of tokens").fill(value)
    with rerun(page):
        main.get_by_role("button", name="Add check").click()
    expect(main.get_by_text(f"output at most {value} tokens")).to_be_visible()


def max_tokens(page: Page, main, value: str) -> None:
    """Both variants' max output tokens."""
    for i in range(2):
        box = main.get_by_role("spinbutton", name="Max output tokens").nth(i)
        with rerun(page):  # settled first: a run still drawing could undo the typing
            box.fill(value)
            box.press("Enter")


def run_dataset(page: Page, main, data, rows: int) -> None:
    """Upload a CSV, forecast its cost, run it, and wait for the saved run."""
    with rerun(page):
        main.get_by_text("Dataset (CSV)").click()
    with rerun(page):
        page.locator("input[type=file]").set_input_files(str(data))
    expect(main.get_by_text(f"{data.name}: {rows} rows")).to_be_visible()
    with rerun(page):
        main.get_by_role("button", name="Forecast cost").click()
    expect(main.get_by_text(re.compile("Forecast:.*input tokens"))).to_be_visible()
    main.get_by_role("button", name="Run", exact=True).click()
    expect(main.get_by_role("heading", name=re.compile(r"Run \d+:"))).to_be_visible(
        timeout=120_000)
    wait_idle(page)


def vote(page: Page, main, row: int, choice: str) -> None:
    group = main.get_by_test_id("stRadio").filter(has_text=f"Row {row}: A vs B")
    with rerun(page):
        group.get_by_text(choice, exact=True).click()
    expect(group.get_by_role("radio", name=choice)).to_be_checked()


def download_text(page: Page, button: str) -> str:
    """Click a download button and read the file. (The button does not rerun the page, so
    the file it names stays served; wait for the page to settle first, so it names the file
    of the last run.)"""
    wait_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name=button).click()
    assert download.value.failure() is None, download.value.failure()
    return download.value.path().read_text()


def test_new_version_compare_vote_and_download(page: Page, app_url: str, tmp_path):
    # 1. A new version of the classifier prompt.
    page.goto(app_url + "/prompts")
    sidebar = page.get_by_test_id("stSidebar")
    choose(page, sidebar.get_by_role("combobox", name="Prompt"), "classifier")
    page.get_by_role("tab", name="Edit").click()
    template = page.get_by_role("textbox", name="Template")
    expect(template).to_contain_text("Classify the text")
    template.fill(template.input_value() + "\nAnswer in lowercase.")
    page.get_by_role("textbox", name="What changed").fill("lowercase answers")
    page.get_by_role("button", name="Save as new version").click()
    expect(page.get_by_text("Saved classifier v2.")).to_be_visible()

    # 2. Compare production (v1) against v2 over a three-row CSV.
    page.get_by_role("link", name="Compare").click()
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("Variant B")).to_be_visible()
    choose(page, main.get_by_role("combobox", name="Version").nth(1), "v2")
    max_tokens(page, main, "6")
    add_check(page, main, "is at most N tokens", "6")
    data = tmp_path / "tickets.csv"
    data.write_text("text\n" + "\n".join(f'"{r}"' for r in CSV_ROWS) + "\n")
    run_dataset(page, main, data, 3)

    # 3. Results: vote on every row, see win rates.
    for i, choice in enumerate(["A better", "A better", "B better"]):
        vote(page, main, i + 1, choice)
    table = main.get_by_role("table").first  # the summary; the ranking comes after
    expect(table).to_contain_text("win rate")
    expect(table).to_contain_text("67%")   # A: 2 of 3
    expect(table).to_contain_text("33%")   # B: 1 of 3
    expect(table).to_contain_text("pass: at most 6 tokens")  # the check set in the grid
    expect(table).to_contain_text("100%")
    # Pass and fail marks are words and Material icons: no emoji, which draws as an empty
    # box where no emoji font is installed.
    expect(main.get_by_text("at most 6 tokens").first).to_be_visible()
    assert EMOJI.findall(main.inner_text()) == []

    # 4. The CSV download holds inputs, outputs and votes.
    rows = list(csv.DictReader(io.StringIO(download_text(page, "Download CSV"))))
    assert len(rows) == 6
    assert [r["text"] for r in rows[::2]] == CSV_ROWS
    assert {r["version"] for r in rows} == {"1", "2"}
    assert all(r["status"] == "ok" and r["output"] for r in rows)
    assert rows[0]["votes"] == "A vs B: A better" and rows[5]["votes"] == "A vs B: B better"


def test_the_compare_link_starts_a_new_comparison(page: Page, app_data, app_url: str):
    """A saved run opened by an old bookmark (/compare?run=1) lands on the run's own page;
    the sidebar's Compare link then starts a new comparison, and the run is still a pick
    away in the list of past runs."""
    from test_offline_browser import seed

    seed(app_data)
    page.goto(app_url + "/compare?run=1")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Run 1: offline")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/compare_run\?run=1$"))
    wait_idle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/compare$"))
    expect(main.get_by_text("Variant B")).to_be_visible()
    wait_idle(page)
    expect(main.get_by_role("heading", name="Run 1: offline")).to_have_count(0)
    choose(page, page.get_by_test_id("stSidebar").get_by_role("combobox", name="Past runs"),
           "#1 offline")
    expect(main.get_by_role("heading", name="Run 1: offline")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/compare_run\?run=1$"))
    # From the run, the Compare link once more: a new comparison, not the run again.
    wait_idle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Compare").click()
    expect(main.get_by_text("Variant B")).to_be_visible()
    expect(main.get_by_role("heading", name="Run 1: offline")).to_have_count(0)
