"""Links to the page that shows one model call, from any page that lists calls (Chat, Compare,
Costs, the Call page itself)."""

from __future__ import annotations

import streamlit as st

from lib.ui.kit.text import Markdown, md

PAGE = "app_pages/call.py"
DETAILS = Markdown("Call details")


def call_link(call_id: int | None, label: Markdown = DETAILS) -> None:
    """A small link to a call's detail page (nothing when there is no call)."""
    if call_id is not None:
        st.page_link(PAGE, label=label, icon=":material/receipt_long:",
                     query_params={"id": str(call_id)})


def call_md(call_id: int, label: Markdown = DETAILS) -> Markdown:
    """A Markdown link to a call's detail page, inside a caption (opens in a new tab)."""
    return md("[{}]({})", label, call_url(call_id))


def call_url(call_id: int) -> str:
    """The detail page's address, for a table's link column or a Markdown link."""
    return f"/call?id={call_id}"
