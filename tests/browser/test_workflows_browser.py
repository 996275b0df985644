"""The Workflows page in the browser, offline on the bundled model: a bookmark opens a
workflow with its graph drawn; Run shows each step waiting, then done with its tokens, while
the reviewers run at once; the outputs and the run's trace (its ledger rows) follow; Stop
keeps what finished."""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import Page, expect
from support import wait_idle

from lib.core import ROOT
from lib.storage import Database
from lib.workflows import list_runs

CODE = "def load(path):\n    return eval(open(path).read())\n"


@pytest.fixture
def app_env(tmp_path) -> dict[str, str]:
    """The shipped workflows, copied: a save on the page never touches the repository."""
    shutil.copytree(ROOT / "workflows", tmp_path / "workflows")
    return {"PROMPTLAB_WORKFLOWS_DIR": str(tmp_path / "workflows")}


def open_code_review(page: Page, app_url: str):
    page.goto(app_url + "/workflows?name=code-review")
    expect(page.get_by_role("heading", level=1)).to_have_text("Workflows")
    main = page.get_by_test_id("stMain")
    graph = main.get_by_test_id("stGraphVizChart")
    for step in ("security", "performance", "style", "merge"):
        expect(graph.locator("g.node", has_text=step)).to_have_count(1)
    expect(graph.locator("g.edge")).to_have_count(3)
    expect(graph.get_by_text("run at once (3)")).to_be_visible()
    code = main.get_by_role("textbox", name="code (str)")
    code.fill(CODE)
    code.press("Control+Enter")
    expect(main.get_by_text(re.compile(r"^Forecast: at most 4 model calls;"))).to_be_visible()
    wait_idle(page)
    return main


def step(main, name: str, state: str):
    """A step's line in the given state (after its mark: the icon's name, then the step's)."""
    return main.get_by_text(re.compile(rf"\b{name} · {state}")).first


def test_a_bookmarked_workflow_runs_with_live_steps_then_shows_its_trace(
        page: Page, app_url: str, app_data):
    main = open_code_review(page, app_url)
    main.get_by_role("button", name="Run", exact=True).click()
    # The merge waits for the three reviewers, which run at once; then each is done.
    expect(step(main, "merge", "waiting for performance, security, style")).to_be_visible(
        timeout=60_000)
    for name in ("security", "performance", "style", "merge"):
        expect(step(main, name, r"done · \d[\d,]* in / \d[\d,]* out tokens · ")).to_be_visible(
            timeout=180_000)
    ran = main.get_by_role("tabpanel", name="Run")
    expect(ran.get_by_text(re.compile(r"\bRun [0-9a-f]{8} · done · "))).to_be_visible(
        timeout=60_000)
    expect(ran.get_by_text("Outputs", exact=True)).to_be_visible()
    [run] = list_runs(Database.sqlite(app_data / "promptlab.sqlite3"), "code-review")
    assert run.status == "done"
    expect(page).to_have_url(re.compile(rf"[?&]run={run.id}"))

    main.get_by_role("tab", name="Trace").click()
    trace = main.get_by_role("tabpanel", name="Trace")
    expect(trace.get_by_text(re.compile(r"^└ call #\d+ · "))).to_have_count(4)
    expect(trace.get_by_role("link", name="Call details")).to_have_count(4)
    expect(trace.get_by_text(f"Run {run.id} · started", exact=False)).to_be_visible()


def test_stop_keeps_the_finished_steps_and_says_the_run_stopped(
        page: Page, app_url: str, app_data):
    main = open_code_review(page, app_url)
    main.get_by_role("button", name="Run", exact=True).click()
    expect(step(main, "merge", "waiting")).to_be_visible(timeout=60_000)
    main.get_by_role("button", name="Stop", exact=True).click()
    ran = main.get_by_role("tabpanel", name="Run")
    expect(ran.get_by_text(re.compile(r"\bRun [0-9a-f]{8} · stopped · "))).to_be_visible(
        timeout=120_000)
    expect(step(ran, "merge", "stopped")).to_be_visible()
    [run] = list_runs(Database.sqlite(app_data / "promptlab.sqlite3"), "code-review")
    assert run.status == "stopped"
