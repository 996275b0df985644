"""An offline app makes no outside request: every page, opened in a real browser with data to
draw (a saved comparison with votes and verdicts, calls for the Costs page, a call's detail),
asks nothing of any host but the app's own, the favicon included."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fakes import FakeProvider, ok, scripted
from playwright.sync_api import Page, Route, expect
from support import wait_idle
from test_judges import ScriptedJudge

from lib import compare, spend
from lib.compare import Judge, Variant
from lib.core import ROOT, get_settings
from lib.llm import CallContext, CallSpec, ChatRequest, Message, load_catalog
from lib.prompts import PromptStore

# Path: the page's heading. "call?id=1" is the seeded call's detail.
PAGES = {"": "Prompt Lab", "chat": "Chat", "prompts": "Prompts", "compare": "Compare",
         "compare?run=1": "Compare", "documents": "Documents", "retrieval": "Retrieval",
         "tokens": "Tokens", "costs": "Costs", "traces": "Traces", "api": "API",
         "tools": "Tools", "workflows": "Workflows", "call?id=1": "Call 1"}


def seed(data: Path) -> None:
    """A call with its payload (id 1), more calls, and a compare run with votes and a
    judge's verdicts: the pages' charts, tables and code blocks all draw."""
    old = os.environ.get("PROMPTLAB_DATA_DIR")
    os.environ["PROMPTLAB_DATA_DIR"] = str(data)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        catalog = load_catalog(settings)
        local = catalog.get("local/smollm2-135m-instruct")
        request = ChatRequest(local.id, (Message("user", "Name a fruit."),), system="Be brief.")
        list(scripted(settings, FakeProvider([ok("Apple.")])).invoke(
            CallSpec(local, request, CallContext("chat"))))
        store = PromptStore(ROOT / "prompts")
        resolved = compare.resolve(store, catalog, [Variant(
            "classifier", "production", "local/smollm2-135m-instruct", 0.0, 8)] * 2)
        rows = [{"text": "The app crashes."}, {"text": "Add a dark mode."}]
        plan = compare.forecast(settings, resolved, rows)
        run_id = compare.create_run(settings.db, "offline", resolved, rows, [
            compare.Check("contains", "bug")])
        list(compare.execute(settings, run_id, resolved, plan, [compare.Check("contains",
                                                                              "bug")],
                             calls=scripted(settings, FakeProvider([ok("bug report")] * 9))))
        for row, outcome in ((0, "left"), (1, "right")):
            compare.vote(settings.db, run_id, row, 0, 1, outcome)
        rj = compare.resolve_judge(store, catalog, Judge("pairwise", "judge-pairwise",
                                                         "production", local.key))
        list(compare.judge_run(settings, run_id, rj,
                               calls=scripted(settings, ScriptedJudge("first"))))
        assert spend.count_calls(settings.db) >= 5
    finally:
        if old is None:
            os.environ.pop("PROMPTLAB_DATA_DIR", None)
        else:
            os.environ["PROMPTLAB_DATA_DIR"] = old
        get_settings.cache_clear()


@pytest.fixture
def seeded(app_data: Path) -> Path:
    seed(app_data)
    return app_data


def test_no_page_asks_any_host_but_the_apps(page: Page, seeded: Path, app_url: str):
    own = urlsplit(app_url).netloc
    outside: list[str] = []

    def only_ours(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == own:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.context.route("**/*", only_ours)
    page.on("request", lambda r: None if r.url.startswith(("data:", "blob:"))
            or urlsplit(r.url).netloc == own else outside.append(r.url))
    for path, heading in PAGES.items():
        page.goto(f"{app_url}/{path}")
        expect(page.get_by_role("heading", level=1).first).to_have_text(heading)
        wait_idle(page)
        # Positive proof the page has drawn what it draws from its data...
        if path.startswith("compare?"):
            expect(page.get_by_text("Run 1: offline")).to_be_visible()
            expect(page.get_by_text("A vs B: tie (the two orders disagree)").first
                   ).to_be_visible()
        elif path == "costs":
            expect(page.get_by_test_id("stPlotlyChart").first.locator(".main-svg").first
                   ).to_be_visible()
        elif path.startswith("call"):
            expect(page.get_by_text("Name a fruit.")).to_be_visible()
        # ...and the favicon is the one the app ships, served by the app.
        icon = page.locator("link[rel='shortcut icon']")
        expect(icon).to_have_attribute("href", re.compile(r"/media/[0-9a-f]+\.png$"))
        href = icon.evaluate("link => link.href")
        assert urlsplit(href).netloc == own, href
    page.wait_for_load_state("networkidle")
    assert outside == []
