"""Every CSV the app writes is safe to open in a spreadsheet (OWASP's CSV-injection advice)."""

from __future__ import annotations

import csv
import io
import re
import sys
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from lib import compare
from lib.compare import Check, Variant
from lib.core import csv_text, frame_csv, safe_cell

FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=cmd|' /C calc'!A0", "\r=cmd", " =HYPERLINK(1)",
            "\n\t+2", "  @x"]
# What the probe found past the old check: invisible characters and look-alikes first, and
# formulas behind a delimiter the file may be opened with.
DISGUISED = ["\u00a0=1+1", "\u3000+1", "\u200b@x", "\ufeff-1+1", "\uff1dcmd", "\uff0bx",
             "\uff0d1+1", "\uff20x", "a;=b", "a\t@b", "a|+b", "line\n-1+1", "x;\u00a0\uff1d1"]
TRIGGERS = ["=", "+", "-", "@", "\t", "\r"]
# Look-alikes that NFKC folds into a trigger: fullwidth, small, super- and subscript forms.
LOOKALIKES = ["\uff1d", "\uff0b", "\uff0d", "\uff20", "\ufe66", "\ufe62", "\ufe63", "\ufe6b",
              "\u207a", "\u207c", "\u208a", "\u208c", "\ufb29", "\u2a75"]
INVISIBLE = [chr(c) for c in range(sys.maxunicode + 1)
             if unicodedata.category(chr(c)) in ("Zs", "Cf", "Cc")
             and not 0xD800 <= c <= 0xDFFF]
DELIMITERS = [",", ";", "\t", "|"]


def formula(piece: str) -> bool:
    """Whether a spreadsheet could run this piece of text as a formula: after invisible
    characters (which it may trim), a trigger, its look-alike, or a tab or CR."""
    if number(piece):
        return False
    for ch in unicodedata.normalize("NFKC", piece):
        if ch in "\t\r":
            return True
        if unicodedata.category(ch) not in ("Zs", "Cf", "Cc", "Zl", "Zp"):
            return ch in "=+-@"
    return False


def pieces(text: str) -> list[str]:
    """Every cell a spreadsheet could make of this CSV: read with each delimiter, honouring
    quotes, and read naively (no quotes: line breaks end a row)."""
    out = []
    for d in DELIMITERS:
        out += [c for row in csv.reader(io.StringIO(text, newline=""), delimiter=d) for c in row]
        out += [c for line in re.split(r"[\r\n]", text) for c in line.split(d)]
    return out


def assert_no_formula(text: str) -> None:
    bad = [p for p in pieces(text) if formula(p)]
    assert not bad, bad[:5]


def kept(original: str, safe: str) -> None:
    """Nothing was lost: the safe text is the original with quotes put in."""
    assert safe.replace("'", "") == original.replace("'", "")


@pytest.mark.parametrize("value", FORMULAS)
def test_a_formula_is_quoted(value):
    safe = safe_cell(value)
    assert safe != value and safe.lstrip(" \n")[0] == "'"
    kept(value, safe)
    assert_no_formula(csv_text(["h"], [[value]]))


def test_a_trigger_at_the_start_gets_the_usual_leading_quote():
    for t in TRIGGERS:
        assert safe_cell(t + "cmd") == "'" + t + "cmd"


@pytest.mark.parametrize("trigger", TRIGGERS + LOOKALIKES)
def test_every_invisible_character_ahead_of_a_trigger_is_seen_through(trigger):
    """All 245 Unicode space, format and control characters (Zs, Cf, Cc), alone, doubled
    and mixed, ahead of every trigger and its look-alikes."""
    for i, ch in enumerate(INVISIBLE):
        other = INVISIBLE[(i * 7 + 3) % len(INVISIBLE)]
        for lead in (ch, ch * 2, ch + other):
            value = f"{lead}{trigger}HYPERLINK(\"http://x\")"
            safe = safe_cell(value)
            kept(value, safe)
            assert not formula(safe), repr(value)
            assert_no_formula(csv_text(["h"], [[value]]))


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|", "\n", "\r\n", "\u2028"])
@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\uff1d", "\ufe6b", "\u2212"])
@pytest.mark.parametrize("lead", ["", " ", "\u00a0", "\u3000", "\u200b", "\ufeff", "\x00",
                                  "\u2060\u00a0"])
def test_a_formula_after_any_delimiter_inside_a_cell_is_quoted(delimiter, trigger, lead):
    """A file name like "report;=cmd()" splits into a formula when the CSV is opened with
    semicolons (or tabs, or pipes, or read without quotes)."""
    value = f"report{delimiter}{lead}{trigger}cmd|' /C calc'!A0.pdf"
    safe = safe_cell(value)
    kept(value, safe)
    for d in DELIMITERS:
        for piece in safe.replace("\r\n", "\n").split(d):
            for part in re.split(r"[\r\n\u2028]", piece):
                assert not formula(part), (repr(value), d, repr(part))
    assert_no_formula(csv_text(["name", "size"], [[value, 3], ["x", value]]))


@pytest.mark.parametrize("value", ["hello", "a=b", "1-2", "", "e@mail.com", "café",
                                   "Q3 revenue, up 4%", "a; b | c", "x\ty", "line one\nline two",
                                   "\u00a0indented", "\u00a8=x", "fullwidth \uff21\uff22"])
def test_ordinary_text_is_left_alone(value):
    assert safe_cell(value) == value


def test_numbers_stay_numbers():
    assert safe_cell(-3) == -3 and safe_cell(-0.5) == -0.5 and safe_cell(None) is None


def test_a_long_cell_is_checked_in_linear_time():
    import time

    start = time.perf_counter()
    for value in ("\u200b" * 200_000 + "=x", ";" * 200_000, "\t" * 200_000,
                  ";\u200b" * 100_000, "word, " * 100_000):
        safe_cell(value)
    assert time.perf_counter() - start < 5


def cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]


def number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def assert_safe(text: str) -> None:
    assert_no_formula(text)
    assert any("'" in c for c in cells(text)), "the payloads should appear quoted"


def test_csv_text_quotes_headers_and_cells():
    assert_safe(csv_text(["=header"], [[v] for v in FORMULAS]))


def test_frame_csv_quotes_text_columns_and_names():
    values = FORMULAS + DISGUISED
    frame = pd.DataFrame({"model": values, "\u00a0=cost": [-1.5] * len(values)})
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
    rows = [{"text": v, "labels": "=cmd"} for v in FORMULAS + DISGUISED]
    run_id = compare.create_run(settings.db, "=title", resolved, rows, [Check("contains", "=x")])
    assert_safe(compare.export_csv(compare.load_run(settings.db, run_id)))


def test_the_documents_list_is_safe(settings):
    from lib import knowledge
    from lib.ui.documents.library import documents_csv

    kb = knowledge.create_kb(settings, "names")
    names = ["=cmd", "@x", "\t+y", *DISGUISED]
    files = [(f"{v}.md", f"# Doc {i}\n\nText number {i}.".encode()) for i, v in enumerate(names)]
    assert [r.status for r in knowledge.ingest(settings, kb, files)] == ["stored"] * len(names)
    assert_safe(documents_csv(knowledge.documents(settings.db, kb)))


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
    from lib.ui.costs import dashboard as costs_view

    spend.record(openai_key, spend.CallRecord(
        ts=now_iso(), page="=page", provider="openai", model="@model", attempts=1,
        status="ok", total_ms=5.0, prompt_name="+prompt", prompt_version=1, cost_micro=10))
    spend.record(openai_key, spend.CallRecord(
        ts=now_iso(), page="\u00a0=page", provider="openai", model="\uff20model;=x",
        attempts=1, status="ok", total_ms=5.0, prompt_name="\ufeff+prompt\t@y",
        prompt_version=1, cost_micro=10))
    # A button's file is made when it is clicked: record what each button would make.
    made: list = []
    real = costs_view.st.download_button

    def recording(label, data, *args, **kwargs):
        made.append(data)
        return real(label, data, *args, **kwargs)

    costs_view.st.download_button = recording
    try:
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "Home.py"))
        at.run()
        at.switch_page("app_pages/costs.py").run()
        for section in ("Tokens", "Latency and errors", "Prompt caching", "Calls", "Prompts"):
            at.query_params["section"] = section  # each section draws its own tables
            at.run()
    finally:
        costs_view.st.download_button = real
    assert not at.exception
    seen = [data() if callable(data) else data for data in made]
    assert len(seen) >= 6
    assert any("\uff20model" in text for text in seen)
    for text in seen:
        assert_no_formula(text)
