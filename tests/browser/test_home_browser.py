"""Home on a fresh server: it shows at once, the local model's first check runs in the
background, and the table and the sidebar agree — checking, then ready, without a reload."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from support import rerun


def test_home_says_checking_then_ready_without_a_reload(page: Page, app_url: str):
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Prompt Lab")).to_be_visible()
    table = page.get_by_role("table").filter(has_text="Provider")
    local = table.get_by_role("row").filter(has_text="Local (bundled)")
    sidebar = page.get_by_test_id("stSidebar")
    with rerun(page):  # the panel is drawn once open: then the table and it are one run's
        sidebar.get_by_text("Providers").click()
    checking = sidebar.get_by_text("Checking that the local model runs")
    # Both say the same thing at the same time (read in one frame: a rerun may come between
    # two reads once the check ends): checking, then ready.
    page.wait_for_function("""() => {
        const row = [...document.querySelectorAll('table tr')]
            .find(r => r.innerText.includes('Local (bundled)'));
        const side = document.querySelector('[data-testid="stSidebar"]').innerText;
        return row && row.innerText.includes('checking') ===
            side.includes('Checking that the local model runs');
    }""")
    expect(local).to_contain_text("ready", timeout=120_000)
    expect(checking).to_have_count(0, timeout=10_000)
    assert page.url.rstrip("/") == app_url  # no reload, no navigation
