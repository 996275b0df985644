"""Untrusted text never makes the browser fetch anything: for each surface the probe found,
a Markdown image, a reference-style image, an HTML image and an autolink to a loopback port
we listen on, and, for what a model chose (tool names and arguments), breakouts from the
code spans they are drawn in. Zero requests may reach it and zero dialogs may fire; each
payload is also shown to be on the page as text (else the test would prove nothing), and the
requests are counted only once the page has finished rendering and every image it holds has
loaded or failed."""

from __future__ import annotations

import re

import pytest
from fake_openai import (
    COMPAT,
    FakeOpenAI,
    app_env_for,
    broken,
    http_error,
    reply,
    serving,
    tool_call,
)
from playwright.sync_api import Page, expect
from support import (
    choose,
    expand,
    pick_in_sidebar,
    rerun,
    send_chat,
    sidebar_section,
    wait_idle,
)


@pytest.fixture
def fake():
    server = FakeOpenAI(reply("Fine."))
    with serving(server):
        yield server


@pytest.fixture
def app_env(fake) -> dict[str, str]:
    return app_env_for(fake)


def shows(page: Page, text: str) -> None:
    """The payload is on the page, as text."""
    expect(page.get_by_text(text, exact=False).first).to_be_attached()


def no_fetch(page: Page, beacon, dialogs) -> None:
    """Once the page has rendered (no run going or asked for) and every image on it has
    loaded or failed, nothing reached the beacon, and no image on the page points at it."""
    wait_idle(page)
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    assert page.locator(f"img[src*='{beacon.port}']").count() == 0
    assert beacon.hits == [], f"the browser fetched {beacon.hits}"
    assert dialogs == []


def test_chat_messages_titles_and_provider_errors(page: Page, app_url: str, fake, beacon,
                                                  dialogs):
    said = beacon.payloads("msg")
    message = "\n\n".join([said["md"], said["ref"], said["html"], said["auto"]])
    err = beacon.payloads("err", one_line=True)
    error_text = " ".join(err.values())
    cut = beacon.payloads("cut", one_line=True)
    cut_text = " ".join(cut.values())
    fake.script = [reply("Fine."), http_error(400, error_text), broken("Partial", cut_text)]

    page.goto(app_url + "/chat")
    pick_in_sidebar(page, "Model", COMPAT)
    send_chat(page, message)  # the user's own message, and the title built from it
    expect(page.get_by_text("first token")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", level=1)).to_contain_text(beacon.marker("msg-md"))
    send_chat(page, "Second question")  # the provider refuses with a hostile error text
    for kind in ("md", "html", "auto"):
        shows(page, beacon.marker(f"err-{kind}"))
    # ...and the bundled model, its fallback, still answers: a reply, not nothing.
    expect(page.get_by_test_id("stChatMessage")).to_have_count(4, timeout=120_000)
    expect(page.get_by_text("(fallback). Passed over")).to_be_visible()
    send_chat(page, "Third question")  # the stream breaks with a hostile in-stream error
    expect(page.get_by_text("The stream broke off")).to_be_visible(timeout=60_000)
    shows(page, beacon.marker("cut-html"))

    page.reload()  # the stored error and title are drawn again
    expect(page.get_by_text("The stream broke off")).to_be_visible(timeout=60_000)
    shows(page, beacon.marker("cut-md"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(beacon.marker("msg-md"))
    shows(page, beacon.marker("msg-auto"))  # the user's own message
    no_fetch(page, beacon, dialogs)


def test_documents_retrieval_and_grounded_sources(page: Page, app_url: str, tmp_path, beacon,
                                                  dialogs):
    name_parts = beacon.payloads("name", one_line=True, in_name=True)
    name = f"{name_parts['md']} {name_parts['html']}.md"  # "/" in a name: a browser File
    head = beacon.payloads("head", one_line=True)
    heading = f"{head['md']} {head['html']} {head['auto']}"
    document = {"name": name, "mimeType": "text/markdown", "buffer": (
        f"# Notes {heading}\n\nThe lighthouse keeper logs the storm every night, and the log "
        "is kept in the tower.\n").encode()}

    page.goto(app_url + "/documents")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("button", name="New knowledge base").click()
    page.get_by_role("textbox", name="Name").fill("Beacons")
    page.get_by_role("button", name="Create").click()
    expect(sidebar.get_by_role("combobox", name="Knowledge base")).to_have_value(
        re.compile("Beacons"))
    page.locator("input[type=file]").set_input_files([document])
    page.get_by_role("button", name="Add to knowledge base").click()
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("1 chunk from markdown.")).to_be_visible(timeout=120_000)
    shows(page, beacon.marker("name-md"))
    expect(main.get_by_role("button", name=re.compile("^Delete "))).to_contain_text(
        beacon.marker("name-html"))

    page.get_by_role("link", name="Retrieval").click()
    query = page.get_by_role("textbox", name="Query")
    query.fill("Who logs the storm?")
    query.press("Enter")
    expect(page.get_by_text("Hybrid (scores)", exact=True)).to_be_visible(timeout=60_000)
    shows(page, beacon.marker("name-html"))  # in the hit headers

    page.get_by_role("link", name="Chat").click()
    pick_in_sidebar(page, "Model", COMPAT)
    pick_in_sidebar(page, "Ground in a knowledge base", "Beacons")
    send_chat(page, "Who logs the storm?")
    source = page.get_by_test_id("stExpander").filter(has_text="[1]")
    expect(source).to_be_visible(timeout=120_000)
    expect(source).to_contain_text(beacon.marker("head-md"))  # the heading, in the label
    expect(source).to_contain_text(beacon.marker("name-md"))  # the file name
    source.get_by_text("[1]").first.click()
    no_fetch(page, beacon, dialogs)

    page.get_by_role("link", name="Documents").click()
    main = page.get_by_test_id("stMain")
    sure = main.get_by_text(re.compile("^Yes, delete "))
    expect(sure).to_contain_text(beacon.marker("name-html"))  # the name, read literally
    sure.click()
    main.get_by_role("button", name=re.compile("^Delete ")).click()
    expect(page.get_by_role("heading", name="0 documents")).to_be_visible()
    expect(page.get_by_test_id("stToast")).to_contain_text(beacon.marker("name-html"))
    no_fetch(page, beacon, dialogs)


def test_compare_dataset_columns(page: Page, app_url: str, tmp_path, beacon, dialogs):
    cols = beacon.payloads("col", one_line=True)
    header = ",".join(['text', *(f'"{v}"' for v in cols.values())])
    (tmp_path / "rows.csv").write_text(header + "\nA parcel arrived late,a,b,c,d\n")

    page.goto(app_url + "/compare")
    page.get_by_text("Dataset (CSV)").click()
    page.locator("input[type=file]").set_input_files(str(tmp_path / "rows.csv"))
    expect(page.get_by_text("rows.csv: 1 rows, columns")).to_be_visible(timeout=60_000)
    shows(page, beacon.marker("col-md"))
    no_fetch(page, beacon, dialogs)


def breakouts(beacon, tag: str) -> dict[str, str]:
    """What a model might choose as a tool's name or arguments to leave the code span it is
    drawn in: backticks of several lengths, line breaks that open a block, and each of the
    four ways to fetch (a Markdown, reference-style or HTML image, an autolink)."""
    p = beacon.payloads(tag)
    return {"tick": f"x`{p['md']}`", "ticks": f"x``{p['md']}``y", "fence": f"````{p['md']}````",
            "para": f"x\n\n{p['md']}", "quote": f"x\n> {p['html']}", "ref": f"x`\n\n{p['ref']}",
            "auto": f"x\n\n{p['auto']}"}


def test_tool_names_and_arguments_a_model_chose(page: Page, app_url: str, fake, beacon,
                                                dialogs):
    """A scripted model calls tools whose names and arguments carry breakouts, then answers
    with them: the inline blocks, the stored run after a reload and its trace on the Traces
    page draw them as text."""
    import json

    names = breakouts(beacon, "name")
    args = breakouts(beacon, "arg")
    text = breakouts(beacon, "text")
    fake.script = [
        *(tool_call(f"calc{n}", json.dumps({"expression": args[k]}), f"Step {k} {text[k]}")
          for k, n in names.items()),
        reply("Done: " + " ".join(text.values()))]
    page.goto(app_url + "/chat")
    pick_in_sidebar(page, "Model", COMPAT)
    sidebar = page.get_by_test_id("stSidebar")
    expand(sidebar_section(page, "Tools"))
    choose(page, sidebar.get_by_role("combobox", name="Enabled tools"), "Calculator")
    steps = sidebar.get_by_role("spinbutton", name="Step limit")
    with rerun(page):  # settled first: a run still drawing could undo the typing
        steps.fill("20")
        steps.press("Enter")
    send_chat(page, "Use the tools.")
    expect(page.get_by_text(re.compile(r"\d+ steps · \d+ tool calls"))).to_be_visible(
        timeout=120_000)

    def drawn() -> None:
        blocks = page.get_by_test_id("stChatMessage").get_by_test_id("stExpander").filter(
            has_text="calc")
        expect(blocks).to_have_count(len(names))
        for i in range(len(names)):
            blocks.nth(i).locator("summary").click()  # open each: its arguments
            expect(blocks.nth(i)).to_contain_text("Arguments")
        for kind in ("name-md", "arg-md", "text-md", "name-html", "text-auto"):
            shows(page, beacon.marker(kind))
        no_fetch(page, beacon, dialogs)

    drawn()
    page.reload()  # the stored run is drawn again
    drawn()
    page.get_by_role("link", name="Trace of this run").click()
    expect(page.get_by_text(re.compile(r"^Step 1 · "))).to_be_visible(timeout=60_000)
    for kind in ("name-md", "arg-md", "text-md", "name-ref"):
        shows(page, beacon.marker(kind))
    no_fetch(page, beacon, dialogs)
