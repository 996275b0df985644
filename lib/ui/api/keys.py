"""The API page: make keys (the secret shown once), list them with their spend, revoke or
re-budget one, and how to call the API."""

from __future__ import annotations

import streamlit as st

from lib import api
from lib.core import PromptLabError, Settings, format_usd
from lib.ui.kit.identity import owner_text, user_id
from lib.ui.kit.text import md, plain, plain_table

STATUS_TTL_S = 10   # how long the page trusts its last look at the server


def intro(settings: Settings) -> None:
    st.caption(md("`make serve` starts an OpenAI-compatible HTTP API beside the app. Its "
                  "calls go through the same retries, rate limits, budgets and ledger as the "
                  "app's (page **api** on the Costs page). Each key may have its own budget: "
                  "a call that could pass it is refused with HTTP 429 before it is sent. "
                  "Signed in, a key's calls are yours: they count as your spend, under your "
                  "budget."))
    server_status(settings)


@st.cache_data(ttl=STATUS_TTL_S, show_spinner=False)
def _answering(url: str, _settings: Settings) -> bool:
    """A short look at the server, shared by every session for a few seconds: reruns do
    not each knock on its door."""
    return api.answering(_settings)


def server_status(settings: Settings) -> None:
    """The configured address, and whether a server answers there now."""
    url = api.base_url(settings)
    left, right = st.columns([5, 1], vertical_alignment="center")
    if _answering(url, settings):
        left.success(md("The API is answering at `{}`.", url), icon=":material/check_circle:")
    else:
        left.warning(md("No API server answers at `{}` now. Start it in the project folder "
                        "with `make serve` (or `python -m lib.api`); `PROMPTLAB_API_HOST` and "
                        "`PROMPTLAB_API_PORT` set where it listens.", url),
                     icon=":material/cloud_off:")
    if right.button("Check again", key="api_check", icon=":material/refresh:"):
        _answering.clear()
        st.rerun()


def create_form(settings: Settings) -> None:
    """A name and an optional budget; the new secret is shown in this run only."""
    with st.form("api_new_key", clear_on_submit=True, border=True):
        st.markdown("**New key**")
        left, right = st.columns([3, 2])
        name = left.text_input("Name", max_chars=64,
                               placeholder="e.g. nightly evals", key="api_key_name")
        budget = right.number_input("Budget in USD (empty: none)", min_value=0.0,
                                    value=None, step=1.0, format="%.2f",
                                    key="api_key_budget")
        fallbacks = st.checkbox(
            "Let its requests fall back to other models", key="api_key_fallbacks",
            help="When the model a request names cannot answer (no key for it here, or it "
                 "fails before any output), the next model of its fallback chain (Chat "
                 "sidebar, model catalog) answers, and the reply names it. Off: such a "
                 "request is an error. A request's own `fallbacks` field wins either way.")
        cache = st.checkbox(
            "Answer identical requests from the response cache", key="api_key_cache",
            help="A request identical to one answered before (model, messages, tools and "
                 "every parameter) gets the kept reply: no model call, $0, header "
                 "`x-promptlab-cache: hit`. A request can still send `Cache-Control: "
                 "no-cache` (always ask the model) or `no-store` (keep nothing).")
        made = st.form_submit_button("Create key", type="primary", icon=":material/key:")
    if not made:
        return
    try:
        new = api.create_key(settings.db, name, budget, owner=user_id(),
                             fallbacks=fallbacks, cache=cache)
    except PromptLabError as exc:
        st.error(plain(exc), icon=":material/error:")
        return
    st.success(md("Key **{}** created. Copy the secret now: only its hash is stored, so it "
                  "is not shown again.", new.key.name), icon=":material/key:")
    st.code(new.secret, language=None)


def _row(k: api.ApiKey) -> dict[str, object]:
    left = None if k.budget_micro is None else max(0, k.budget_micro - k.spent_micro)
    return {"Name": k.name, "Key": f"{k.prefix}…", "Created": k.created_at[:16].replace(
                "T", " "), "Calls": k.calls, "Spent": format_usd(k.spent_micro),
            "Budget": "none" if k.budget_micro is None else format_usd(k.budget_micro),
            "Left": "" if left is None else format_usd(left),
            "Fallbacks": "yes" if k.fallbacks else "no", "Cache": "yes" if k.cache else "no",
            "Last used": (k.last_used_at or "")[:16].replace("T", " "),
            "Status": "revoked" if k.revoked else "active", "Made": owner_text(k.owner)}


def keys_table(settings: Settings) -> list[api.ApiKey]:
    keys = api.list_keys(settings.db)
    st.subheader("Keys")
    if not keys:
        st.info("No keys yet: create one above.")
        return keys
    st.table(plain_table([_row(k) for k in keys]))
    return keys


def manage(settings: Settings, keys: list[api.ApiKey]) -> None:
    """Revoke a key (after a tick to confirm) or change its budget."""
    active = {k.id: k for k in keys if not k.revoked}
    if not active:
        return
    with st.expander("Revoke a key or change its budget", expanded=False):
        key_id = st.selectbox("Key", list(active), key="api_manage_key",
                              format_func=lambda i: f"{active[i].name} ({active[i].prefix}…)")
        chosen = active[key_id]
        left, right = st.columns(2, vertical_alignment="bottom")
        budget = left.number_input(
            "New budget in USD (empty: none)", min_value=0.0, step=1.0, format="%.2f",
            value=None if chosen.budget_micro is None else chosen.budget_micro / 1e6,
            key=f"api_budget_{key_id}")
        if right.button("Save budget", key="api_budget_save"):
            api.set_key_budget(settings.db, key_id, budget)
            st.toast(md("Saved the budget of {}.", chosen.name))
            st.rerun()
        st.divider()
        sure = st.checkbox("Yes, revoke this key: clients using it get 401 at once",
                           key=f"api_revoke_sure_{key_id}")
        if st.button("Revoke key", type="primary", key="api_revoke", icon=":material/block:",
                     disabled=not sure, help="Tick the box first: a revoked key cannot be "
                     "restored (its calls stay in the ledger)"):
            api.revoke_key(settings.db, key_id)
            st.toast(md("Revoked {}.", chosen.name), icon=":material/block:")
            st.rerun()


def how_to_call(settings: Settings) -> None:
    st.subheader("Calling it")
    url = api.base_url(settings)
    st.markdown(md("Base URL `{}`; send the key as `Authorization: Bearer pl-...`. "
                   "`GET /v1/models` lists the models served (catalog keys such as "
                   "`local/smollm2-135m-instruct`); `POST /v1/prompts/<name>/run` renders a "
                   "stored prompt by `label` or `version` with `variables` and calls its "
                   "default model (a bad variable is HTTP 422 naming it). A model that "
                   "cannot answer is an error (`model_not_available`) unless the request "
                   "sends `\"fallbacks\": true` or its key was made to fall back; the "
                   "`x-promptlab-model` header and the reply's `model` name the model that "
                   "answered.", url))
    st.code(CURL.replace("{url}", url), language="bash")
    st.code(PYTHON.replace("{url}", url), language="python")


CURL = """curl {url}/chat/completions \\
  -H "Authorization: Bearer $PROMPTLAB_API_KEY" -H "Content-Type: application/json" \\
  -d '{"model": "local/smollm2-135m-instruct", "max_tokens": 32,
       "messages": [{"role": "user", "content": "Say hello"}]}'

curl {url}/prompts/summarizer/run \\
  -H "Authorization: Bearer $PROMPTLAB_API_KEY" -H "Content-Type: application/json" \\
  -d '{"label": "production", "variables": {"text": "..."}}'"""

PYTHON = """from openai import OpenAI

client = OpenAI(base_url="{url}", api_key="pl-...")
stream = client.chat.completions.create(
    model="local/smollm2-135m-instruct", stream=True, max_tokens=64,
    messages=[{"role": "user", "content": "Say hello"}])
for chunk in stream:
    if chunk.choices:
        print(chunk.choices[0].delta.content or "", end="")"""
