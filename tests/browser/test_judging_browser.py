"""A person's path through a judged comparison on the bundled model: a dataset with an
expected column and a check against it, votes on some rows, a pairwise judge run from the
page, and the agreement panel beside the win rates."""

from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import Page, expect
from support import expand, rerun
from test_compare_browser import download_text, max_tokens, pick_check, run_dataset, vote

ROWS = [("The app crashes when I press save.", "bug report"),
        ("Please add a dark mode.", "feature request"),
        ("How do I reset my password?", "question")]


def test_expected_answers_a_pairwise_judge_and_agreement(page: Page, app_url: str, tmp_path):
    page.goto(app_url + "/compare")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("Variant B")).to_be_visible()
    max_tokens(page, main, "6")
    pick_check(page, main, "equals the expected answer, ignoring case")
    with rerun(page):
        main.get_by_role("button", name="Add check").click()
    expect(main.get_by_text("output normalised match")).to_be_visible()

    data = tmp_path / "tickets.csv"
    data.write_text("text,expected\n" + "\n".join(f'"{t}","{e}"' for t, e in ROWS) + "\n")
    run_dataset(page, main, data, 3)
    expect(main.get_by_role("table").first).to_contain_text("pass: normalised match")

    # Votes on two of the three rows.
    for i, choice in enumerate(["A better", "Tie"]):
        vote(page, main, i + 1, choice)

    # A pairwise judge on the bundled model, run from the page.
    expand(main.get_by_text("Judges", exact=True).first)  # the panel, not the ranking option
    # Pairwise, its shipped prompt and the bundled model are the defaults.
    expect(main.get_by_role("combobox", name="Judge prompt")).to_be_visible()
    main.get_by_role("button", name="Run judge").click()
    expect(main.get_by_text("judge-pairwise v1 · local/smollm2-135m-instruct", exact=True)
           ).to_be_visible(timeout=180_000)
    expect(main.get_by_text("Position consistency")).to_be_visible()
    expect(main.get_by_text("Agreement with people (Cohen's κ)")).to_be_visible()
    expect(main.get_by_text(re.compile(r"n = 2"))).to_be_visible()  # the two voted rows
    expect(main.get_by_text("People (rows) × judge (columns)")).to_be_visible()
    expect(main.get_by_text("Ranking (Bradley–Terry)")).to_be_visible()

    # Each row says what the judge decided and why, in both orders; so does the CSV.
    said = main.get_by_text(re.compile(r"A vs B: .* · judge-pairwise v1 · "))
    expect(said).to_have_count(3)
    expect(main.get_by_text(re.compile(r"A shown first, said ")).first).to_be_visible()
    lines = list(csv.DictReader(io.StringIO(download_text(page, "Download CSV"))))
    column = "judge: judge-pairwise v1 · local/smollm2-135m-instruct"
    assert len(lines) == 6 and all(line[column].startswith("A vs B: ") for line in lines)
    assert all("shown first, said" in line[f"{column}: reasons"] for line in lines)
