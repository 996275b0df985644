"""The app's frame: the page list, settings and catalog for pages, sign-in, the shared sidebar
and budget banner, and the last-resort handler around every page."""

from __future__ import annotations

import logging
import re
import uuid
from typing import NamedTuple

import streamlit as st

from lib import compare, spend, telemetry
from lib.core import PromptLabError, Settings, format_usd_pair, get_settings, setup_logging
from lib.llm import Catalog, ModelStatus, current_catalog, model_statuses, provider_summary
from lib.ui.kit import identity
from lib.ui.kit.text import Markdown, md, plain

log = logging.getLogger(__name__)

# (file, title, icon, what it is for): the router and the Home page's links both read this.
PAGES = [
    ("app_pages/home.py", "Home", ":material/home:", ""),
    ("app_pages/chat.py", "Chat", ":material/chat:",
     "stream replies, manage conversations, watch context"),
    ("app_pages/prompts.py", "Prompts", ":material/edit_note:",
     "versioned templates, preview, edit, diff, labels"),
    ("app_pages/compare.py", "Compare", ":material/compare:",
     "2-4 variants side by side, votes, win rates"),
    ("app_pages/workflows.py", "Workflows", ":material/schema:",
     "steps chained as code: the graph, runs with live steps, traces, versions"),
    ("app_pages/documents.py", "Documents", ":material/folder_open:",
     "knowledge bases in Chroma, upload, chunks"),
    ("app_pages/retrieval.py", "Retrieval", ":material/manage_search:",
     "dense, BM25 and hybrid results side by side"),
    ("app_pages/tokens.py", "Tokens", ":material/token:",
     "how text turns into tokens, cost and window fill"),
    ("app_pages/costs.py", "Costs", ":material/payments:",
     "spend, tokens, latency, errors, caching, budgets"),
    ("app_pages/traces.py", "Traces", ":material/account_tree:",
     "agent runs: steps and tool calls with timings, tokens and cost"),
    ("app_pages/tools.py", "Tools", ":material/build:",
     "MCP servers and every tool a model may call, with a form to try each"),
    ("app_pages/api.py", "API", ":material/api:",
     "keys for the OpenAI-compatible HTTP API, their spend and budgets"),
]
# Pages reached by links, not listed in the navigation: (file, title, icon).
HIDDEN_PAGES = [
    ("app_pages/call.py", "Call", ":material/receipt_long:"),  # one call's detail: /call?id=N
    ("app_pages/compare_run.py", "Compare run", ":material/compare:"),  # /compare_run?run=N
]


def settings() -> Settings:
    s = get_settings()
    setup_logging(s)  # once per settings; cheap afterwards
    telemetry.setup(s)  # traces, when an OTLP endpoint is set: once per process
    return s


def catalog() -> Catalog:
    return current_catalog(settings())  # parsed again when the user's copy changes


def statuses(*, check_local: bool = True) -> list[ModelStatus]:
    return model_statuses(catalog(), settings(), check_local=check_local)


def user() -> str | None:
    """The signed-in user's id (None without sign-in): what pages pass to services."""
    return identity.user_id()


# What a deep link may name: a stored row's id (ASCII digits, no sign, within SQLite's and
# PostgreSQL's 64-bit integers), or an agent run's id (letters, digits, - and _). Anything
# else (a "²", which str.isdigit() accepts and int() refuses; 5,000 digits; a NUL byte, which
# PostgreSQL refuses in text) names nothing we could have stored.
ROW_ID = re.compile(r"[1-9][0-9]{0,18}")
RUN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_MAX_ROW = 2**63 - 1
PROVIDERS = "providers_open"  # the sidebar's Providers panel is open


class Link(NamedTuple):
    """What a page's URL parameter names: `raw` is what the URL said (None: nothing), `value`
    the id it names (None when it is absent or could name nothing stored)."""

    raw: str | None
    value: str | None

    @property
    def odd(self) -> bool:
        """The URL names something, but nothing that could exist."""
        return self.raw is not None and self.value is None


def deep_link(name: str, shape: re.Pattern[str] = ROW_ID) -> Link:
    """Read URL parameter `name` as an id of `shape`. Repeated with different values, or of
    another shape, it names nothing (the page says "not found", never crashes)."""
    values = st.query_params.get_all(name)
    if not values or not any(v.strip() for v in values):
        return Link(None, None)
    raw = values[-1]
    fine = (len(set(values)) == 1 and shape.fullmatch(raw) is not None
            and (shape is not ROW_ID or int(raw) <= _MAX_ROW))
    return Link(raw, raw if fine else None)


def link_not_found(what: str, link: Link) -> None:
    """The page's plain word for a link that names nothing (or nothing of this user's)."""
    raw = link.raw or ""
    shown = raw if len(raw) <= 40 else raw[:37] + "…"
    st.warning(md("There is no {} “{}”: the link may be mistyped, or what it named was "
                  "deleted.", what, shown), icon=":material/link_off:")


def budget_banner() -> None:
    """A warning from 80% of any budget over this user, an error at 100%: on every page."""
    for s in spend.statuses(settings().db, user=user()):
        if s.fraction >= 1:
            st.error(md("{} is used up ({} of {}): paid calls are refused; the local model "
                        "still works.", s.label, *format_usd_pair(s.used, s.limit_micro)),
                     icon=":material/block:")
        elif s.fraction >= spend.WARN_AT:
            st.warning(md("{} is {:.0%} used ({} of {}).", s.label, s.fraction,
                          *format_usd_pair(s.used, s.limit_micro)),
                       icon=":material/warning:")


def sidebar_status() -> None:
    """Provider status, shown on every page; never reveals a key."""
    # Drawn only while open: every page pays for what its sidebar draws on each rerun.
    panel = st.sidebar.expander("Providers", key=PROVIDERS, on_change="rerun")
    if not panel.open:
        return
    with panel:
        for p in provider_summary(statuses(check_local=False)):
            icon = (":material/check_circle:" if p.available else
                    ":material/hourglass_top:" if p.checking else ":material/cancel:")
            st.markdown(md("{} **{}**", Markdown(icon), p.label))
            if not p.available:
                st.caption(plain(p.reason))


def run_page(page: st.Page) -> None:
    """Run a page under the shared frame. Errors of ours read as their message; anything
    else is logged with its traceback and shown as a plain message with a reference id."""
    try:
        compare.resume_batches(settings())  # once per process: batch runs poll in the background
        if not identity.gate():  # sign-in is on and nobody is signed in: only the sign-in
            return
        identity.account_sidebar()
        sidebar_status()
        budget_banner()
        page.run()
    except PromptLabError as exc:
        log.warning("page %s: %s", page.title, exc.message)
        st.error(plain(exc), icon=":material/error:")
    except Exception:  # the last resort: Streamlit's rerun and stop are not Exceptions
        ref = uuid.uuid4().hex[:8]
        log.exception("page %s failed [ref %s]", page.title, ref)
        st.error(md("Something went wrong on this page, and it was not your input. The details "
                    "are in the app's log under reference **{}**.", ref),
                 icon=":material/error:")
