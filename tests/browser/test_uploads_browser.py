"""A person uploading several files at once: two with the same name, a text file, a broken
one. Every row moves and ends in words; the uploader empties; the list is right."""

from __future__ import annotations

import re

from corpus import hostile
from playwright.sync_api import Page, expect
from support import wait_idle


def test_a_batch_with_twins_a_text_file_and_a_broken_file(page: Page, app_url: str):
    files = [
        {"name": "notes.txt", "mimeType": "text/plain",
         "buffer": b"Shopping\n\n- eggs\n- milk\n\nThe keeper buys lamp oil on Mondays.\n"},
        {"name": "notes.txt", "mimeType": "text/plain",  # same name, other content
         "buffer": b"Log\n\n- storm at night\n\nThe keeper logs every storm.\n"},
        {"name": "binary.txt", "mimeType": "text/plain", "buffer": hostile()["binary.txt"]},
    ]
    page.goto(app_url + "/documents")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("button", name="New knowledge base").click()
    page.get_by_role("textbox", name="Name").fill("Lighthouse")
    page.get_by_role("button", name="Create").click()
    expect(sidebar.get_by_role("combobox", name="Knowledge base")).to_have_value(
        re.compile("Lighthouse"))

    main = page.get_by_test_id("stMain")
    page.locator("input[type=file]").set_input_files(files)
    expect(main.get_by_text("notes.txt").first).to_be_visible()
    main.get_by_role("button", name="Add to knowledge base").click()
    # The results: both twins stored, the broken file failed in words (an error, not a bar).
    stored = main.get_by_test_id("stAlertContentSuccess").filter(has_text="notes.txt")
    expect(stored).to_have_count(2, timeout=120_000)
    expect(stored.first).to_contain_text("from text")  # a .txt is text, not Markdown
    failed = main.get_by_test_id("stAlertContentError").filter(has_text="binary.txt")
    expect(failed.first).to_contain_text("binary, not text")  # mid-rerun, maybe twice
    expect(main.get_by_role("progressbar")).to_have_count(0)
    wait_idle(page)
    # The uploader is empty again, ready for the next batch.
    expect(main.get_by_test_id("stFileUploaderFile")).to_have_count(0)
    expect(main.get_by_role("heading", name="2 documents")).to_be_visible()
