"""A person's path through Documents and Chat: upload two files, inspect retrieval, ask, open
the citation, delete a document (ticked first, then told what went)."""

from __future__ import annotations

import re

from corpus import valid
from playwright.sync_api import Page, expect
from support import chat_box, pick_in_sidebar, wait_idle


def test_upload_two_files_and_chat_with_citations(page: Page, app_url: str, tmp_path):
    files = valid()
    paths = []
    for name in ("guide.pdf", "handbook.docx"):
        (tmp_path / name).write_bytes(files[name])
        paths.append(str(tmp_path / name))

    page.goto(app_url + "/documents")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("button", name="New knowledge base").click()
    page.get_by_role("textbox", name="Name").fill("Company")
    page.get_by_role("button", name="Create").click()
    expect(sidebar.get_by_role("combobox", name="Knowledge base")).to_have_value(
        re.compile("Company"))

    page.locator("input[type=file]").set_input_files(paths)
    page.get_by_role("button", name="Add to knowledge base").click()
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("guide.pdf: 2 chunks from pdf.")).to_be_visible(timeout=120_000)
    expect(main.get_by_text("handbook.docx: 2 chunks from docx.")).to_be_visible()
    expect(main.get_by_role("heading", name="2 documents")).to_be_visible()

    # The retrieval inspector: three retrievers side by side, the answer on top of each.
    page.get_by_role("link", name="Retrieval").click()
    query = page.get_by_role("textbox", name="Query")
    query.fill("How many days of leave do employees get?")
    query.press("Enter")
    for title in ("Dense", "BM25", "Hybrid (scores)"):
        expect(page.get_by_text(title, exact=True)).to_be_visible()
    firsts = page.locator("p").filter(has_text=re.compile(r"^1\.\s.*handbook\.docx"))
    expect(firsts).to_have_count(3)
    # Why the hybrid top hit ranked: its place in each list and the fused score.
    expect(page.get_by_text(re.compile(r"^dense #\d+ \(0\.\d{3}\) · BM25 #\d+ \([\d.]+\) · "
                                       r"fused -?[\d.]+$")).first).to_be_visible()
    # Dense and BM25 are their own rankings, and each hit says where it stands in both.
    expect(page.get_by_text(re.compile(r"^dense #1 \(0\.\d{3}\) · BM25 (#\d+|— shares no word)"
                                       )).first).to_be_visible()
    expect(page.get_by_text("not found")).to_have_count(0)
    expect(page.get_by_text("at most 1 chunk per document")).to_be_visible()

    # This base's fusion: ranks instead of scores, saved, and the inspector follows.
    page.get_by_text("Search settings for this knowledge base").click()
    page.get_by_text("Ranks (reciprocal rank fusion)").click()
    expect(page.get_by_role("radio", name="Ranks (reciprocal rank fusion)")).to_be_checked()
    page.get_by_role("button", name="Save search settings").click()
    expect(page.get_by_text("Hybrid (RRF)", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"Hybrid fuses reciprocal ranks \(k = 60\)"))
           ).to_be_visible()
    page.reload()  # saved with the base, not the session
    page.get_by_role("textbox", name="Query").fill("How many days of leave do employees get?")
    page.get_by_role("textbox", name="Query").press("Enter")
    expect(page.get_by_text("Hybrid (RRF)", exact=True)).to_be_visible()

    page.get_by_role("link", name="Chat").click()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible()
    wait_idle(page)  # a click while the page still draws can land on a box about to redraw
    pick_in_sidebar(page, "Ground in a knowledge base", "Company")
    box = chat_box(page)
    box.fill("How long does the warranty last?")
    box.press("Enter")
    # Before the first token, the reply says what it is doing, not just a cursor.
    expect(page.get_by_text(re.compile(r"Reading \d chunks from Company"))).to_be_visible()
    # (The chat page's main area has no stMain test id: search the whole page.)
    expect(page.get_by_text("first token")).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"Reading \d chunks"))).to_have_count(0)
    # Sources read apart: file, page and chunk number.
    expect(page.get_by_test_id("stExpander").filter(has_text="· chunk ")).not_to_have_count(0)
    source = page.get_by_test_id("stExpander").filter(has_text="[1] guide.pdf, page 1")
    expect(source).to_be_visible()
    source.get_by_text("[1] guide.pdf, page 1").click()
    expect(source).to_contain_text("The warranty lasts twenty four months.")

    # Deleting a document asks first, then says what went.
    page.get_by_role("link", name="Documents").click()
    main = page.get_by_test_id("stMain")
    delete = main.get_by_role("button", name=re.compile("^Delete "))
    expect(delete).to_be_disabled()
    main.get_by_text(re.compile(r"^Yes, delete \S+ and its 2 chunks")).click()
    expect(delete).to_be_enabled()
    delete.click()
    expect(page.get_by_test_id("stToast")).to_contain_text(re.compile(r"Deleted \S+ \(2 chunks\)"))
    expect(main.get_by_role("heading", name="1 documents")).to_be_visible()
