"""A saved compare run: which run the URL names, its summary and win rates, its rows a page at
a time (cells with check marks, a link to each cell's call, votes, judges' verdicts)."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import streamlit as st

from lib import compare
from lib.compare import LETTERS, OUTCOMES, Run
from lib.core import Settings, format_cost
from lib.storage import Database
from lib.ui.compare.judging import batches_panel, judges_panel
from lib.ui.kit.links import call_md
from lib.ui.kit.tables import markdown_table
from lib.ui.kit.text import Markdown, inert, join, md, plain

PAGE = "app_pages/compare_run.py"         # a saved run's page: /compare_run?run=N
PICK = "cmp_run_pick"
RUN_ID = re.compile(r"[1-9][0-9]{0,17}")  # ASCII digits only: str.isdigit() takes "²"


def run_in_url(ids: list[int]) -> int | None:
    """The saved run ?run= names, or None; one it cannot name (a run that is gone, "²",
    repeated values) is said plainly and dropped from the URL."""
    values = [v for v in st.query_params.get_all("run") if v.strip()]
    if not values:
        return None
    raw = values[-1].strip()
    if len(set(values)) == 1 and RUN_ID.fullmatch(raw) and int(raw) in ids:
        return int(raw)
    st.warning(md("There is no comparison run {} to open: start a new one, or pick a past "
                  "run in the sidebar.", values[-1]), icon=":material/search_off:")
    st.query_params.pop("run", None)
    return None


def past_runs(runs: list[tuple[int, str, str, str, str | None]], open_id: int | None) -> None:
    """The sidebar's list of saved runs, showing the open one (the URL decides); picking
    one opens it on the run page."""
    if not runs:
        return
    st.session_state[PICK] = open_id
    st.sidebar.selectbox(
        "Past runs", [r[0] for r in runs], index=None, placeholder="Reopen a run…", key=PICK,
        on_change=_open_picked,
        format_func=lambda i: next(f"#{i} {t} · {c[:16].replace('T', ' ')} · {s}"
                                   + (f" · by {o}" if o else "") for r, t, c, s, o in runs
                                   if r == i))


def _open_picked() -> None:
    picked = st.session_state.get(PICK)
    if picked is None:
        st.query_params.pop("run", None)
    else:
        st.query_params["run"] = str(picked)  # the Compare page passes it to the run page


def row_caption(i: int, row: dict[str, Any]) -> Markdown:
    """Row 2 — text: “The parcel…”; expected: 1889 (each value cut at 80 characters)."""
    values = "; ".join(f"{k}: {_short(v)}" for k, v in row.items())
    return md("**Row {}** — {}", i + 1, values)


def _short(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 80 else text[:79] + "…"


def check_marks(checks: dict[str, bool]) -> Markdown:
    """Each check passed or failed, in coloured words with a Material icon: both draw from
    fonts the app ships (an emoji such as ✅ needs an emoji font, which Debian's images lack:
    there ✅ and ❌ drew as the same empty box)."""
    return join("  ", (md(":green[:material/check_circle: {}]", label) if ok else
                       md(":red[:material/cancel: failed {}]", label)
                       for label, ok in checks.items()))


def cell_markdown(cell: compare.CellResult) -> Markdown:
    body = inert(cell.output) if cell.output else Markdown("_(no output)_")
    status = Markdown() if cell.status == "ok" else md("\n\n:orange[{}] {}", cell.status,
                                                       cell.error)
    ttft = f"{cell.ttft_ms:,.0f} ms" if cell.ttft_ms is not None else "–"
    total = f"{cell.total_ms / 1000:,.2f} s" if cell.total_ms is not None else "–"
    checks = check_marks(cell.checks)
    if cell.structured:
        colour = {"valid": "green", "repaired": "orange"}.get(cell.structured, "red")
        status = status + md("\n\n:{}-badge[{} JSON]", colour, cell.structured)
    if cell.trace.get("steps"):  # a tool variant: what the run called, and how long it took
        calls = join(", ", (md("`{}`{}", c["name"], " (error)" if c.get("is_error") else "")
                            for c in cell.trace.get("calls", ())))
        status = status + md("\n\n:gray[:material/build: {} step{}; called ]",
                             cell.trace["steps"], "s" if cell.trace["steps"] != 1 else ""
                             ) + (calls if cell.trace.get("calls") else md("no tool"))
    details = md(" · {}", call_md(cell.call_id, Markdown("call details"))) \
        if cell.call_id is not None else Markdown()
    reasoning = md(" ({:,} reasoning)", cell.reasoning_tokens) if cell.reasoning_tokens \
        else Markdown()
    return (body + status + md("\n\n:gray[{:,} in / {:,} out{} · {} · first token {} · total "
                               "{}]{}", cell.input_tokens, cell.output_tokens, reasoning,
                               format_cost(cell.cost_micro, not cell.priced), ttft, total,
                               details)
            + (Markdown("\n\n") + checks if checks else Markdown()))


def _vote_label(a: int, b: int, outcome: str) -> Markdown:
    return plain(compare.outcome_label(a, b, outcome))


def _save_vote(db: Database, run_id: int, row: int, a: int, b: int, key: str) -> None:
    outcome = st.session_state.get(key)
    if outcome is not None:
        compare.vote(db, run_id, row, a, b, outcome)


ROWS_PER_PAGE = 10      # a saved run draws its rows a page at a time


def show_run(settings: Settings, run: Run) -> None:
    st.subheader(md("Run {}: {}", run.id, run.title))
    st.caption(md("{} UTC · {} rows · {} variants · {}{}", run.created_at[:19].replace("T", " "),
                  len(run.rows), len(run.variants), run.status,
                  f" · by {run.owner}" if run.owner else ""))
    for note in compare.dropped_notes(run.variants):
        st.warning(plain(note), icon=":material/tune:")
    batches_panel(settings, run)
    verdicts = compare.load_verdicts(settings.db, run.id)
    # The download comes before the figures: once they show a vote, so does the file.
    st.download_button("Download CSV", lambda: compare.export_csv(run, verdicts),
                       file_name=f"compare-{run.id}.csv", mime="text/csv",
                       icon=":material/download:", key="cmp_csv_download",
                       on_click="ignore")  # no rerun: it would retire the file mid-download
    summary(run)
    judges_panel(settings, run, verdicts)
    said = compare.verdicts_by_row(verdicts)
    pairs = run.pairs()
    for i in rows_shown(run):
        with st.container(border=True):
            st.caption(row_caption(i, run.rows[i]))
            cols = st.columns(len(run.variants))
            for v, col in enumerate(cols):  # one element a cell: each is redrawn per rerun
                cell = run.cells.get((i, v))
                col.markdown(md("**{}**\n\n", run.variant_label(v))
                             + (cell_markdown(cell) if cell else Markdown("_not run_")))
            for a, b in pairs:
                key = f"vote_{run.id}_{i}_{a}_{b}"
                if key not in st.session_state and (i, a, b) in run.votes:
                    st.session_state[key] = run.votes[(i, a, b)]
                st.radio(md("Row {}: {} vs {}", i + 1, LETTERS[a], LETTERS[b]), OUTCOMES,
                         format_func=partial(_vote_label, a, b),
                         horizontal=True, index=None, key=key,
                         on_change=_save_vote,
                         args=(settings.db, run.id, i, a, b, key))
            for verdict in said.get(i, ()):
                st.caption(verdict_markdown(verdict))


def rows_shown(run: Run) -> range:
    """The rows drawn: all of a short run, else the page of ROWS_PER_PAGE picked above them
    (each row is a few widgets: hundreds at once kept a fresh tab on skeletons for seconds)."""
    n = len(run.rows)
    if n <= ROWS_PER_PAGE:
        return range(n)
    starts = list(range(0, n, ROWS_PER_PAGE))
    start = st.selectbox(md("Rows (of {})", n), starts, key=f"cmp_rows_{run.id}",
                         format_func=lambda s: f"{s + 1}–{min(s + ROWS_PER_PAGE, n)}")
    return range(start, min(start + ROWS_PER_PAGE, n))


def verdict_markdown(verdict: compare.VerdictText) -> Markdown:
    """A judge's verdict under a row: the outcome, who judged, and the judge's reasons."""
    return md(":material/gavel: **{}** · {}", verdict.outcome, verdict.judge) + join(
        "", (md("  \n{}", reason) for reason in verdict.reasons if reason))


def summary(run: Run) -> None:
    rates, structured = run.pass_rates(), run.structured_rates()
    table = []
    for s in run.scores():
        low, high = s.interval
        cells = [c for (_, v), c in run.cells.items() if v == s.variant]
        ttfts = sorted(c.ttft_ms for c in cells if c.ttft_ms is not None)
        needed = s.more_needed
        table.append({
            "variant": run.variant_label(s.variant),
            "win rate": "–" if s.win_rate is None else f"{s.win_rate:.0%}",
            "95% CI (Wilson)": "–" if not s.decisive else f"{low:.0%}–{high:.0%}",
            "wins / losses / ties / both bad": f"{s.wins} / {s.losses} / {s.ties} / "
                                               f"{s.both_bad}",
            "votes to significance": ("significant" if needed == 0 else
                                      "–" if needed is None else f"~{needed} more"),
            "cost": format_cost(sum(c.cost_micro for c in cells),
                                sum(not c.priced for c in cells)),
            "median first token": f"{ttfts[len(ttfts) // 2]:,.0f} ms" if ttfts else "–",
            **{f"pass: {k}": f"{v:.0%}" for k, v in rates[s.variant].items()},
            **({"JSON valid / repaired / invalid": " / ".join(
                f"{shares[k]:.0%}" for k in ("valid", "repaired", "invalid"))}
               if (shares := structured[s.variant]) else {}),
        })
    st.markdown(markdown_table(table))  # a real table, not a canvas: readable by screen readers
    scored = [s for s in run.scores() if s.decisive]
    if scored:
        st.html(win_rate_html(scored))


def win_rate_html(scored: list[compare.VariantScore]) -> str:
    """Win rates as bars with their 95% intervals, against the 50% line: HTML and CSS (a
    Plotly chart would first load a 4.7 MB script into a fresh tab)."""
    rows = []
    for s in scored:
        rate, (low, high) = s.win_rate or 0.0, s.interval
        rows.append(
            f'<div class="pl-wr"><b>{LETTERS[s.variant]}</b><div class="pl-track">'
            f'<i class="pl-bar" style="width:{rate:.1%}"></i>'
            f'<i class="pl-ci" style="left:{low:.1%};width:{high - low:.1%}"></i></div>'
            f"<span>{rate:.0%} (95% CI {low:.0%}–{high:.0%})</span></div>")
    return ("<style>.pl-wr{display:flex;align-items:center;gap:8px;margin:4px 0;"
            "font-size:.9rem}.pl-track{position:relative;flex:0 0 60%;height:16px;"
            "border-radius:3px;background:rgba(128,128,128,.15)}.pl-track::after{content:'';"
            "position:absolute;left:50%;top:-3px;bottom:-3px;border-left:1px dashed "
            "currentColor;opacity:.7}"
            ".pl-track i{position:absolute;display:block}.pl-bar{left:0;top:0;bottom:0;"
            "background:rgba(99,102,241,.75);border-radius:3px}.pl-ci{top:50%;height:8px;"
            "margin-top:-4px;border:2px solid currentColor;border-top:0;border-bottom:0;"
            "background:linear-gradient(currentColor,currentColor) center/100% 2px no-repeat}"
            '</style><div role="img" aria-label="win rates with 95% intervals; the line marks'
            f' 50%">{"".join(rows)}</div>')
