"""AppTest for a saved compare run: marks that need no emoji font, judge verdicts per row, a
link to each cell's call, rows a page at a time, and the Compare link starting anew."""

from __future__ import annotations

import re

import pytest
from fakes import FakeProvider, ok, scripted
from support import shown as reads
from test_judges import ScriptedJudge

from lib import compare
from lib.compare import Check, Judge, Variant
from lib.core import get_settings
from lib.llm import load_catalog
from lib.prompts import PromptStore

LOCAL = "local/smollm2-135m-instruct"
# Emoji and pictographs, which draw as empty boxes where no emoji font is installed
# (Debian's default images): ✅ U+2705, ❌ U+274C, ✓ U+2713, 🟢, ⚠️ and the like.
EMOJI = re.compile("[\u2190-\u21ff\u2300-\u23ff\u2460-\u27bf\u2900-\u2bff\u3290-\u329f"
                   "\U0001f000-\U0001faff\ufe0f]")


def make_run(rows: int = 2, *, judged: bool = False) -> int:
    settings = get_settings()
    store = PromptStore(settings.prompts_dir)
    resolved = compare.resolve(store, load_catalog(settings),
                               [Variant("classifier", "production", LOCAL, 0.0, 8)] * 2)
    data = [{"text": f"ticket {i}"} for i in range(rows)]
    checks = [Check("contains", "bug"), Check("json")]  # one passes, one fails
    plan = compare.forecast(settings, resolved, data)
    run_id = compare.create_run(settings.db, "marks", resolved, data, checks)
    list(compare.execute(settings, run_id, resolved, plan, checks, concurrency=1,
                         calls=scripted(settings, FakeProvider([ok("good bug report")]))))
    if judged:
        rj = compare.resolve_judge(store, load_catalog(settings),
                                   Judge("pairwise", "judge-pairwise", "production", LOCAL))
        list(compare.judge_run(settings, run_id, rj, concurrency=1,
                               calls=scripted(settings, ScriptedJudge("first"))))
    return run_id


def open_run(app, run_id: int | str, page: str = "app_pages/compare_run.py"):
    """The run's page at /compare_run?run=N (page="app_pages/compare.py": an old bookmark,
    /compare?run=N, which passes it on)."""
    at = app()
    at.switch_page(page)
    at.query_params["run"] = str(run_id)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def main_text(at) -> str:
    return "\n".join([m.value for m in at.main.markdown] + [c.value for c in at.main.caption])


def test_check_marks_need_no_emoji_font(app):
    run_id = make_run()
    at = open_run(app, run_id)
    text = main_text(at)
    assert EMOJI.findall(text) == []
    cells = [m.value for m in at.main.markdown if "good bug report" in m.value]
    assert len(cells) == 4
    for cell in cells:
        assert ':green[:material/check_circle: contains "bug"]' in reads(cell)
        assert ":red[:material/cancel: failed is valid JSON]" in reads(cell)


def test_each_cell_links_to_its_call(app):
    run_id = make_run()
    at = open_run(app, run_id)
    run = compare.load_run(get_settings().db, run_id)
    links = re.findall(r"\[call details\]\(/call\?id=(\d+)\)", main_text(at))
    assert sorted(int(i) for i in links) == sorted(c.call_id for c in run.cells.values())


def test_judge_verdicts_and_reasons_show_under_each_row(app):
    run_id = make_run(judged=True)
    at = open_run(app, run_id)
    said = [reads(c.value) for c in at.main.caption if ":material/gavel:" in c.value]
    assert len(said) == 2  # one pairwise verdict per row
    assert said[0].startswith(":material/gavel: **A vs B: tie (the two orders disagree)** · "
                              "judge-pairwise v1 · local/smollm2-135m-instruct")
    assert "A shown first, said A better: the first one" in said[0]
    assert "B shown first, said B better: the first one" in said[0]
    download = at.get("download_button")[0]
    assert download.label == "Download CSV"


def test_a_long_run_draws_its_rows_a_page_at_a_time(app):
    run_id = make_run(rows=23)
    at = open_run(app, run_id)
    assert len(at.main.radio) == 10
    pager = at.selectbox(key=f"cmp_rows_{run_id}")
    assert pager.options == ["1–10", "11–20", "21–23"]
    pager.set_value(20).run()
    assert [r.label for r in at.main.radio] == [f"Row {i}: A vs B" for i in (21, 22, 23)]


def test_the_compare_link_starts_a_new_comparison(app):
    """A saved run has a page of its own: following the sidebar's Compare link from it (a
    page change, which leaves no ?run= behind) shows a new comparison; the run is still in
    the list of past runs, and picking it opens it again."""
    run_id = make_run()
    at = open_run(app, run_id)
    assert any(f"Run {run_id}: marks" in s.value for s in at.subheader)
    at.query_params.clear()
    at.switch_page("app_pages/compare.py")
    at.run()
    assert not at.exception
    assert not any("Run" in s.value for s in at.subheader)
    assert any("Variant A" in m.value for m in at.main.markdown)
    past = at.sidebar.selectbox(key="cmp_run_pick")
    assert past.value is None and past.options[0].startswith(f"#{run_id} marks")
    past.set_value(run_id).run()
    assert not at.exception
    assert any(f"Run {run_id}: marks" in s.value for s in at.subheader)


def test_an_old_bookmark_of_a_run_still_opens_it(app):
    run_id = make_run()
    at = open_run(app, run_id, page="app_pages/compare.py")  # /compare?run=N
    assert any(f"Run {run_id}: marks" in s.value for s in at.subheader)


@pytest.mark.parametrize("page", ["app_pages/compare_run.py", "app_pages/compare.py"])
@pytest.mark.parametrize("raw", ["²", "0", "-1", "99", "1e3", "9" * 40, "1 OR 1=1", "\x00"])
def test_odd_run_ids_read_as_not_found(app, raw, page):
    make_run()
    at = open_run(app, raw, page)
    assert [reads(w.value) for w in at.warning] == [
        f"There is no comparison run {raw} to open: start a new one, or pick a past run in "
        "the sidebar."]
    assert "run" not in at.query_params and not at.subheader
    assert [p.proto.label for p in at.get("page_link")] == ["Start a new comparison"]


def test_repeated_run_ids_name_no_run(app):
    first, second = make_run(), make_run()
    at = app()
    at.switch_page("app_pages/compare_run.py")
    at.query_params["run"] = [str(first), str(second)]
    at.run()
    assert "There is no comparison run" in reads(at.warning[0].value) and not at.subheader
