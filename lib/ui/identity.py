"""Who is using the app: Streamlit's OpenID Connect sign-in (`st.login`) when secrets.toml has
an [auth] section; without one the app has one user, no sign-in, and every id here is None.

A signed-in user's id is their email (the `sub` claim when the provider sends none); pages
pass it down as a plain value: it owns what they make and pays for their calls.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib.ui.text import md, plain


def _info() -> dict[str, Any]:
    # Streamlit sets `is_logged_in` only when [auth] is configured (or someone signed in).
    return st.user.to_dict()


def user_id() -> str | None:
    """The signed-in user's id, or None (no sign-in configured, or nobody signed in yet)."""
    info = _info()
    if not info.get("is_logged_in"):
        return None
    return str(info.get("email") or info.get("sub") or "") or None


def gate() -> bool:
    """True when a page may run; otherwise draws the sign-in screen in its place."""
    info = _info()
    if "is_logged_in" not in info or (info["is_logged_in"] and user_id()):
        return True
    st.title("Prompt Lab")
    st.markdown("Sign in to use the lab: your conversations stay private to you, and what you "
                "spend is counted as yours.")
    if st.button("Sign in", type="primary", icon=":material/login:", key="sign_in"):
        st.login()
    return False


def account_sidebar() -> None:
    """Who is signed in, and Sign out (only when sign-in is on)."""
    uid = user_id()
    if uid is None:
        return
    name = str(_info().get("name") or "")
    with st.sidebar.container(border=True):
        st.caption(md("Signed in as **{}**", name) if name and name != uid else
                   md("Signed in as **{}**", uid))
        if name and name != uid:
            st.caption(plain(uid))
        if st.button("Sign out", icon=":material/logout:", key="sign_out", width="stretch"):
            st.logout()


def owner_text(owner: str | None) -> str:
    """How an owner reads beside what they made ("" when it was made without sign-in)."""
    return f"by {owner}" if owner else ""
