"""The Costs page's dashboard: filters (by user too, once sign-in is on), charts, tables with
CSV downloads, spend by user, what routing saved."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import streamlit as st

from lib import spend
from lib.core import (
    UNKNOWN_COST,
    PromptLabError,
    Settings,
    format_cost,
    format_usd,
    format_usd_pair,
    frame_csv,
)
from lib.llm import (
    clear_cache,
    load_router,
    top_model,
)
from lib.spend import Filters
from lib.storage import Database
from lib.ui.kit import app
from lib.ui.kit.links import call_url
from lib.ui.kit.text import md, plain
from lib.ui.kit.widgets import guarded

if TYPE_CHECKING:  # pandas takes a quarter second to import: only when a table is drawn
    import pandas as pd


def filters(settings: Settings) -> Filters | None:
    opts = spend.options(settings.db)
    if not opts["days"]:
        return None
    today = dt.datetime.now(dt.UTC).date()
    first = dt.date.fromisoformat(opts["days"][0])
    with st.sidebar:
        default = (max(first, today - dt.timedelta(days=29)), today)
        picked = st.date_input("Days (UTC)", default, min_value=first,
                               max_value=max(today, first), key="cost_days")
        match picked:
            case (start, end):
                pass
            case (start,):  # the second date is not picked yet
                end = start
            case _:  # the range was cleared
                start, end = default
        chosen = {dim: tuple(st.multiselect(plain(dim.replace("_", " ").capitalize()),
                                            opts[dim], key=f"cost_{dim}"))
                  for dim in spend.DIMENSIONS}
        if opts["user_id"]:  # signed-in users have made calls
            chosen["user_id"] = tuple(st.multiselect("User", opts["user_id"], key="cost_user"))
    return Filters(start.isoformat(), end.isoformat(), **chosen)


# Column names as people read them (downloads keep the snake_case names, for scripts).
HEADERS = {
    "day": "Day", "model": "Model", "provider": "Provider", "calls": "Calls", "step": "Step",
    "cost_usd": "Cost (USD)", "input_tokens": "Input tokens", "output_tokens": "Output tokens",
    "cache_read_tokens": "Cache reads (tokens)", "cache_write_tokens": "Cache writes (tokens)",
    "ttft_p50_ms": "First token p50 (ms)", "ttft_p95_ms": "First token p95 (ms)",
    "total_p50_ms": "Total p50 (ms)", "total_p95_ms": "Total p95 (ms)", "errors": "Errors",
    "incomplete": "Incomplete", "error_rate": "Error rate", "hit_rate": "Cache hit rate",
    "savings_usd": "Saved by the cache (USD)", "id": "Call", "ts": "Started (UTC)",
    "page": "Page", "prompt_name": "Prompt", "prompt_version": "Version",
    "ttft_ms": "First token (ms)", "total_ms": "Total (ms)", "status": "Status",
    "replies": "Replies", "valid": "Valid at once", "repaired": "Repaired",
    "invalid": "Invalid", "repair_calls": "Repair calls", "valid_rate": "Valid",
    "repaired_rate": "Repaired (share)", "invalid_rate": "Invalid (share)", "user_id": "User",
    "api_key": "API key"}
NO_USER = "(nobody signed in)"   # calls from before sign-in was on, or over the HTTP API


def table(df: pd.DataFrame, name: str, key: str, **kwargs) -> None:
    """A table with readable headers and "–" for what is missing, and its CSV download."""
    st.dataframe(readable(df), hide_index=True, width="stretch", **kwargs)
    st.download_button(md("Download {} (CSV)", name), lambda: frame_csv(df),
                       file_name=f"{key}.csv", mime="text/csv", key=f"csv_{key}", on_click="ignore",
                       icon=":material/download:")


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """Headers as people read them; a column with missing values becomes text, "–" where a
    value is missing and whole numbers without ".0". One type per column goes to the browser
    as it is: a column of numbers and "–" made Streamlit log a traceback and redo the column
    as text, where a prompt version read "1.0"."""
    import pandas as pd

    shown = df.rename(columns=HEADERS)
    for column in shown.columns:
        values = shown[column]
        if not values.isna().any():
            continue
        whole = pd.api.types.is_float_dtype(values) and bool(values.dropna().mod(1).eq(0).all())
        shown[column] = ["–" if pd.isna(v) else f"{v:.0f}" if whole else
                         f"{v:,.1f}" if isinstance(v, float) else str(v) for v in values]
    return shown


def call_links(df: pd.DataFrame) -> pd.DataFrame:
    """A link to each call's detail page, and a step of an agent run to the run's trace (both
    bookmarkable pages)."""
    out = df.copy()
    out.insert(0, "details", [call_url(int(i)) for i in out["id"]])  # first: found at once
    out["trace"] = [f"/traces?run={r}" if isinstance(r, str) and r else ""
                    for r in out.pop("run_id")]
    return out


LINKS = {"details": st.column_config.LinkColumn("Details", display_text="details"),
         "trace": st.column_config.LinkColumn("Trace", display_text="open trace")}


def day_chart(df: pd.DataFrame, y: str, color: str, *, money: bool = False):
    """Stacked bars per day, one colour per `color` value. Days are categories (one day must
    not become a time axis ending in 23:59:59.9996) and amounts start at zero (an empty day
    must not draw an axis from -1 to 1). Built from a plain spec: plotly express took 75 ms a
    chart, on every rerun of the page."""
    import plotly.graph_objects as go

    traces = [{"type": "bar", "name": str(name), "x": list(group["day"]),
               "y": [float(v) for v in group[y]],
               "hovertemplate": f"%{{x}}<br>{name}: " + ("$%{y:,.4f}" if money else "%{y:,}")
               + "<extra></extra>"}
              for name, group in df.groupby(color, sort=True)]
    empty = df.empty or df[y].max() <= 0
    return go.Figure({"data": traces, "layout": {
        # The legend names the models even when there is one (plotly hides a lone trace's).
        "barmode": "relative", "margin": {"t": 10, "b": 10}, "showlegend": True,
        "legend": {"title": {"text": ""}},
        "xaxis": {"type": "category", "title": {"text": ""}},
        "yaxis": {"rangemode": "tozero", "tickprefix": "$" if money else "",
                  **({"range": [0, 1]} if empty else {})}}})


def call_costs(df: pd.DataFrame) -> pd.DataFrame:
    """Calls' costs in dollars; a call on a model whose price is unknown reads "unknown"."""
    out = usd(df, "cost_micro")
    priced = out.pop("priced").astype(bool)
    if not priced.all():  # one type per column (see `readable`): then all of it as text
        out["cost_usd"] = [f"{v:,.6f}" if p else UNKNOWN_COST
                           for v, p in zip(out["cost_usd"], priced, strict=True)]
    return out


def usd(df: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Micro-dollar columns as dollars, for display and download."""
    out = df.copy()
    for c in columns:
        out[c.replace("_micro", "_usd")] = out.pop(c) / 1e6
    return out


@st.cache_data(max_entries=16, show_spinner=False)
def _aggregates(db: Database, f: Filters, as_of: int) -> dict[str, Any]:
    """The Costs aggregates as of ledger row `as_of`: computed once for every rerun, and
    every person, until a call is recorded (each caller gets its own copy)."""
    return spend.dashboard(db, f)


def dashboard(settings: Settings, f: Filters) -> None:
    data = _aggregates(settings.db, f, spend.latest_call_id(settings.db))
    t = data["totals"]
    a, b, c, d = st.columns(4)
    a.metric("Spend", plain(format_cost(t["cost_micro"], data["unpriced"])),
             help=md("{:,} call{} ran on a model whose price is unknown: {} not in these "
                     "figures. Set its price on the Prices tab.", data["unpriced"],
                     "s" if data["unpriced"] != 1 else "",
                     "their cost is" if data["unpriced"] != 1 else "its cost is")
             if data["unpriced"] else None)
    b.metric("Calls", md("{:,}", t["calls"]))
    c.metric("Tokens in / out", md("{:,} / {:,}", t["input_tokens"], t["output_tokens"]))
    rate = spend.hit_rate(t["cache_read_tokens"], t["input_tokens"], t["cache_write_tokens"])
    d.metric("Cache hit rate", "–" if rate is None else md("{:.0%}", rate),
             help=md("Cache reads saved {}.", format_usd(t["cache_savings_micro"])))
    routing_line(data["routing"])
    cache_line(settings, data["response_cache"])
    # One section drawn at a time (a table is the heaviest thing a browser redraws on every
    # rerun), the open one kept in the URL: /costs?section=Calls is a link that works.
    tabs = st.tabs(list(SECTIONS), key="section", bind="query-params")
    for tab, draw in zip(tabs, SECTIONS.values(), strict=True):
        if tab.open:
            with tab:
                draw(data)


def spend_section(data: dict[str, Any]) -> None:
    users = data["users"]
    if users["user_id"].ne("").any():  # someone signed in made a call in this range
        st.subheader("Spend by user")
        users["user_id"] = users["user_id"].replace("", NO_USER)
        table(usd(users, "cost_micro"), "spend by user", "spend_by_user")
    st.subheader("Spend per day, by model")
    by_day = usd(data["spend"], "cost_micro")
    st.plotly_chart(day_chart(by_day, "cost_usd", "model", money=True), width="stretch",
                    key="chart_spend")
    table(by_day, "spend per day", "spend_by_day")


def tokens_section(data: dict[str, Any]) -> None:
    st.subheader("Tokens per day")
    tokens = data["tokens"]
    long = tokens.melt(id_vars="day", var_name="kind", value_name="tokens")
    long["kind"] = long["kind"].map(HEADERS)
    st.plotly_chart(day_chart(long, "tokens", "kind"), width="stretch", key="chart_tokens")
    table(tokens, "tokens per day", "tokens_by_day")


def latency_section(data: dict[str, Any]) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("Latency per model")
        st.caption("p50 / p95 in ms, within 1% (read from latency histograms); the page, "
                   "prompt, status and user filters do not apply here.")
        table(data["latency"].round(0), "latency", "latency")
    with right:
        st.subheader("Errors per provider")
        table(data["errors"], "errors", "errors", column_config={
            HEADERS["error_rate"]: st.column_config.NumberColumn(format="percent")})


def caching_section(data: dict[str, Any]) -> None:
    st.subheader("Prompt caching")
    cache = usd(data["cache"], "savings_micro")
    table(cache, "cache", "cache", column_config={
        HEADERS["hit_rate"]: st.column_config.NumberColumn(format="percent")})


def calls_section(data: dict[str, Any]) -> None:
    st.subheader("The 20 most expensive calls")
    table(call_links(call_costs(data["top"])), "top calls", "top_calls",
          column_config=LINKS)
    st.subheader("Latest calls")
    st.caption("The 50 newest calls under these filters; **details** opens a call's exact "
               "request and raw reply. Calls over the HTTP API name their key.")
    table(call_links(call_costs(data["latest"])), "latest calls", "latest_calls",
          column_config=LINKS)


def prompts_section(data: dict[str, Any]) -> None:
    st.subheader("Spend by prompt version")
    table(usd(data["prompts"], "cost_micro"), "spend by prompt", "spend_by_prompt")
    if not data["structured"].empty:
        st.subheader("Structured output: valid, repaired, invalid")
        st.caption("Replies that had to match a JSON Schema, per model and prompt version. "
                   "Repaired: valid after the errors were sent back (each repair is a call).")
        table(data["structured"], "structured output", "structured", column_config={
            HEADERS[c]: st.column_config.NumberColumn(format="percent")
            for c in ("valid_rate", "repaired_rate", "invalid_rate")})


SECTIONS = {"Spend": spend_section, "Tokens": tokens_section,
            "Latency and errors": latency_section, "Prompt caching": caching_section,
            "Calls": calls_section, "Prompts": prompts_section}


def cache_line(settings: Settings, cached: dict[str, int]) -> None:
    """What the response cache saved, its hit rate, and a button that empties it."""
    text, button = st.columns([5, 1], vertical_alignment="center")
    if cached["lookups"]:
        text.markdown(md(":material/cached: The cache saved **{}**: {:,} of {:,} calls that "
                         "looked it up were answered from it ({:.0%} hit rate).",
                         format_usd(cached["saved_micro"]), cached["hits"], cached["lookups"],
                         cached["hits"] / cached["lookups"]))
    else:
        text.caption(":material/cached: No call in this range used the response cache: it is "
                     "on per page (PROMPTLAB_CACHE), per Compare run and per API key.")
    with button.popover("Clear the cache", icon=":material/delete_sweep:"):
        st.markdown("Forget every kept reply? The next identical requests go to their models "
                    "again (and are paid for).")
        gone = guarded(lambda: clear_cache(settings)) if st.button(
            "Clear it", type="primary", key="cost_clear_cache") else None
        if gone is not None:
            st.success(md("Cleared: {:,} kept repl{} forgotten.", gone,
                          "y" if gone == 1 else "ies"), icon=":material/check:")


def routing_line(routed: dict[str, int]) -> None:
    """What the Chat page's router saved against always using its top model."""
    if not routed["calls"]:
        st.caption(":material/alt_route: No routed calls in this range: choose Router in the "
                   "Chat page's model picker to let rules pick a model per turn.")
        return
    try:
        top = top_model(load_router(app.settings(), app.catalog()),
                        app.statuses(check_local=False))
    except PromptLabError:  # a broken router table: the figure still stands
        top = None
    st.markdown(md(":material/alt_route: Routing saved **{}** against always using {}: {:,} "
                   "routed call{} cost {} instead of {}.", format_usd(routed["saved_micro"]),
                   top.label if top else "the router's top model", routed["calls"],
                   "" if routed["calls"] == 1 else "s",
                   *format_usd_pair(routed["baseline_micro"] - routed["saved_micro"],
                                    routed["baseline_micro"])))
