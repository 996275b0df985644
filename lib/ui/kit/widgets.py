"""Widgets shared by pages: the model picker, error display, and inert Markdown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar, overload

import streamlit as st

from lib.core import PromptLabError
from lib.llm import ModelStatus, model_origin, provider_label, spec_of
from lib.ui.kit.app import settings, statuses
from lib.ui.kit.models import PRICE_UNKNOWN
from lib.ui.kit.resilience import circuit_mark
from lib.ui.kit.text import md, plain


def model_label(status: ModelStatus) -> str:
    """An option of the model select box (options are shown as plain text): a model the
    provider's endpoint listed says so (its provider comes first), a legacy one, and one with
    no price."""
    m = status.model
    mark = "" if status.available else "  (unavailable)"
    found = f" · {model_origin(m, settings())}" if m.source == "discovered" else ""
    price = "" if m.priced else f" · {PRICE_UNKNOWN}"
    legacy = " · legacy" if m.legacy else ""  # still served; the vendor lists a successor
    return (f"{provider_label(m.provider)} · {m.label}{legacy}{found}{price}{mark}"
            f"{circuit_mark(m.provider)}")


def _order(status: ModelStatus) -> tuple[bool, bool, str, bool]:
    """Available first; a plugin's models after the built-ins, so installing one does not
    change the default model; a provider's legacy models after its current ones."""
    m = status.model
    spec = spec_of(m.provider)
    return not status.available, spec is None or spec.source != "built-in", m.provider, m.legacy


T = TypeVar("T")
ROUTER = "router"  # the picker's Router option: a model is chosen per turn (lib.llm.route)
ROUTER_LABEL = "Router · picks a model per turn by task and input length"


@overload
def model_picker(key: str, *, label: str = ..., default: str | None = ...,
                 router: Literal[False] = ...) -> ModelStatus: ...
@overload
def model_picker(key: str, *, label: str = ..., default: str | None = ...,
                 router: Literal[True]) -> ModelStatus | None: ...
def model_picker(key: str, *, label: str = "Model", default: str | None = None,
                 router: bool = False) -> ModelStatus | None:
    """A model select box grouped by provider; unavailable models say how to enable them.
    `router`: the Router comes first (returns None when chosen; the Chat page offers it)."""
    by_key = {s.model.key: s for s in sorted(statuses(), key=_order)}
    keys = [*([ROUTER] if router else []), *by_key]
    if st.session_state.get(key) not in keys:  # first drawn, or a model that left the catalog
        st.session_state[key] = default if default in keys else keys[int(router)]  # not the
    # router. The session holds the choice alone: a default beside a value set through the
    # session (a page restoring a conversation's model) makes Streamlit log a warning.
    picked = st.selectbox(plain(label), keys, key=key,
                          format_func=lambda k: ROUTER_LABEL if k == ROUTER
                          else model_label(by_key[k]))
    if picked == ROUTER:
        return None
    choice = by_key[picked]
    if not choice.available:
        st.warning(md("{} is unavailable. {}", choice.model.label, choice.reason))
    elif not choice.model.priced:
        st.caption(md(":material/sell: {}'s price is unknown: its cost reads “unknown”, and "
                      "a budget refuses it until a price is set (Costs page, Prices tab).",
                      choice.model.label))
    return choice


def guarded(work: Callable[[], T]) -> T | None:
    """`work()`, or None with its error shown in plain words (a page's one catch for a
    section that may refuse: a bad prompt, a schema, a conversation that is gone)."""
    try:
        return work()
    except PromptLabError as exc:
        show_error(exc)
        return None


def show_error(error: PromptLabError) -> None:
    """An error of ours in plain words (its text may quote a file name, a provider's reply)."""
    st.error(plain(error), icon=":material/error:")
