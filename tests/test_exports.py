"""Every CSV the app writes is safe to open in a spreadsheet (OWASP's CSV-injection advice)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from lib import compare
from lib.compare import Check, Variant
from lib.core import csv_text, frame_csv, safe_cell

FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=cmd|' /C calc'!A0", "\r=cmd", " =HYPERLINK(1)",
            "\n\t+2", "  @x"]


@pytest.mark.parametrize("value", FORMULAS)
def test_a_formula_is_quoted(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["hello", "a=b", "1-2", "", "e@mail.com", "café"])
def test_ordinary_text_is_left_alone(value):
    assert safe_cell(value) == value


def test_numbers_stay_numbers():
    assert safe_cell(-3) == -3 and safe_cell(-0.5) == -0.5


def cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def assert_safe(text: str) -> None:
    for c in cells(text):
        if c and (c[0] in "\t\r" or c.lstrip()[:1] in ("=", "+", "-", "@")) and not number(c):
            assert c.startswith("'"), repr(c)  # quoted, and nothing was lost
    assert any(c.startswith("'") for c in cells(text)), "the payloads should appear quoted"


def test_csv_text_quotes_headers_and_cells():
    assert_safe(csv_text(["=header"], [[v] for v in FORMULAS]))


def test_frame_csv_quotes_text_columns_and_names():
    frame = pd.DataFrame({"model": FORMULAS, "=cost": [-1.5] * len(FORMULAS)})
    text = frame_csv(frame)
    assert_safe(text)
    assert "-1.5" in cells(text)  # a negative number is still a number


def test_the_compare_export_is_safe(settings):
    from lib.llm import load_catalog
    from lib.prompts import PromptStore

    store = PromptStore(settings.prompts_dir)
    resolved = compare.resolve(store, load_catalog(settings), [
        Variant("classifier", "v1", "local/smollm2-135m-instruct"),
        Variant("classifier", "v1", "local/smollm2-135m-instruct")])
    rows = [{"text": v, "labels": "=cmd"} for v in FORMULAS]
    run_id = compare.create_run(settings, "=title", resolved, rows, [Check("contains", "=x")])
    assert_safe(compare.export_csv(compare.load_run(settings.db_path, run_id)))


def test_the_documents_list_is_safe(settings):
    from lib import knowledge
    from lib.ui.documents_view import documents_csv

    kb = knowledge.create_kb(settings, "names")
    files = [(f"{v}.md", f"# Doc {i}\n\nText number {i}.".encode())
             for i, v in enumerate(["=cmd", "@x", "\t+y"])]
    assert [r.status for r in knowledge.ingest(settings, kb, files)] == ["stored"] * 3
    assert_safe(documents_csv(knowledge.documents(settings, kb)))


def test_no_csv_is_written_around_the_helper():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = [f"{p.relative_to(root)}:{n}" for p in [*root.glob("lib/**/*.py"),
                                                    *root.glob("app_pages/*.py")]
             if p.name != "exports.py"
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if ".to_csv(" in line or "csv.writer(" in line or "csv.DictWriter(" in line]
    assert found == []


def test_the_costs_tables_download_through_the_helper(openai_key):
    """Every table on the Costs page: what its download button carries is safe CSV."""
    from streamlit.testing.v1 import AppTest

    from lib import spend
    from lib.core import now_iso
    from lib.ui import costs_view

    spend.record(openai_key, spend.CallRecord(
        ts=now_iso(), page="=page", provider="openai", model="@model", attempts=1,
        status="ok", total_ms=5.0, prompt_name="+prompt", prompt_version=1, cost_micro=10))
    seen: list[str] = []
    real = costs_view.frame_csv
    costs_view.frame_csv = lambda df: seen.append(real(df)) or seen[-1]
    try:
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "Home.py"))
        at.run()
        at.switch_page("app_pages/costs.py").run()
    finally:
        costs_view.frame_csv = real
    assert not at.exception
    assert len(seen) >= 6
    for text in seen:
        for c in cells(text):
            assert not (c.lstrip()[:1] in ("=", "@", "+") and not c.startswith("'")), c
