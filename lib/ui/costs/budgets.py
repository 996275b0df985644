"""The Costs page's budgets: how much of each is used, and a budget set or removed for all
providers, one provider, or a user (once sign-in is on)."""

from __future__ import annotations

import streamlit as st

from lib import spend
from lib.core import Settings, format_usd_pair
from lib.llm import paid_providers
from lib.ui.kit import app
from lib.ui.kit.text import md


def budgets_editor(settings: Settings) -> None:
    st.caption("A call's worst case (input plus its maximum output) is held against every "
               "budget it falls under until its real cost is recorded; at 100% calls are "
               "refused. The local model is free and never blocked.")
    current = {(s.scope, s.period): s for s in spend.statuses(settings.db,
                                                              everyone=True)}
    for s in current.values():
        st.progress(min(1.0, s.fraction), text=md("{}: {} of {} ({:.0%})", s.label,
                                                  *format_usd_pair(s.used, s.limit_micro),
                                                  s.fraction))
    scopes = ["all", *paid_providers(), *budget_users(settings, current.values())]
    c1, c2, c3, c4 = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
    scope = c1.selectbox("Scope", scopes, key="budget_scope", format_func=scope_label)
    if scope == OTHER_USER:
        other = st.text_input("User (their sign-in email)", key="budget_user").strip()
        scope = spend.user_scope(other) if other else ""
    period = c2.selectbox("Period", spend.PERIODS, key="budget_period")
    existing = current.get((scope, period))
    limit = c3.number_input("Limit (USD, 0 blocks all paid calls)", 0.0, 1e6,
                            existing.limit_micro / 1e6 if existing else 10.0, 1.0,
                            key="budget_limit")
    if c4.button("Save", key="budget_save", disabled=not scope):
        spend.set_budget(settings.db, scope, period, limit)
        st.toast(md("Saved: {} budget for {}.", period, scope_label(scope).lower()
                    if scope == "all" else scope_label(scope)))
        st.rerun()
    if existing and st.button(md("Remove the {} {} budget", scope, period),
                              key="budget_remove"):
        spend.set_budget(settings.db, scope, period, None)
        st.rerun()


OTHER_USER = "another user"   # the scope picker's entry for a user not listed yet


def budget_users(settings: Settings, budgets) -> list[str]:
    """User scopes to offer, once sign-in is on: users with calls or a budget, and you."""
    me = app.user()
    users = {*spend.options(settings.db)["user_id"],
             *(s.user for s in budgets if s.user is not None), *([me] if me else [])}
    return [*(spend.user_scope(u) for u in sorted(users)), *([OTHER_USER] if me else [])]


def scope_label(scope: str) -> str:
    """A budget scope as people read it."""
    if scope.startswith(spend.USER_SCOPE):
        return f"User {scope[len(spend.USER_SCOPE):]}"
    return {"all": "All providers", OTHER_USER: "Another user…"}.get(scope, scope)
