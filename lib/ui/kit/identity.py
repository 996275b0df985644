"""Who is using the app: Streamlit's OpenID Connect sign-in (`st.login`) when secrets.toml has
an [auth] section; without one the app has one user, no sign-in, and every id here is None.

A signed-in person is their issuer (`iss`) and subject (`sub`), never an email alone: their
user id is what lib.users maps that pair to (their email only when the issuer verified it).
Pages pass the id down as a plain value: it owns what they make and pays for their calls.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from lib import users
from lib.core import get_settings
from lib.ui.kit.text import md, plain

log = logging.getLogger(__name__)

_SEEN = "_signed_in_identity"   # session state: (the claims it was made from, the identity)


def _info() -> dict[str, Any]:
    # Streamlit sets `is_logged_in` only when [auth] is configured (or someone signed in).
    return st.user.to_dict()


def _identity() -> users.Identity | None:
    """The signed-in person's identity, looked up once per session (and again when the
    claims change: another sign-in)."""
    info = _info()
    if not info.get("is_logged_in"):
        return None
    subject = info.get("sub")
    if not isinstance(subject, str) or not subject:
        log.warning("sign-in: the provider's ID token has no subject; nobody is signed in")
        return None
    # The ID token's issuer; Streamlit's provider name only if a token carried none.
    issuer = str(info.get("iss") or f"streamlit:{info.get('provider') or 'default'}")
    email = users.email_if_verified(info)
    claims = (issuer, subject, email)
    seen = st.session_state.get(_SEEN)
    if seen is None or seen[0] != claims:
        seen = st.session_state[_SEEN] = (claims, users.identify(get_settings().db,
                                                                 *claims))
    return seen[1]


def user_id() -> str | None:
    """The signed-in user's id, or None (no sign-in configured, or nobody signed in yet)."""
    me = _identity()
    return None if me is None else me.user_id


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
    me = _identity()
    if me is None:
        return
    shown_as = me.email or me.user_id  # an email only once verified
    name = str(_info().get("name") or "")
    with st.sidebar.container(border=True):
        st.caption(md("Signed in as **{}**", name) if name and name != shown_as else
                   md("Signed in as **{}**", shown_as))
        if name and name != shown_as:
            st.caption(plain(shown_as))
        if me.email and me.user_id != me.email:
            st.caption(plain(f"Your id here: {me.user_id}"))
        if st.button("Sign out", icon=":material/logout:", key="sign_out", width="stretch"):
            st.logout()


def owner_text(owner: str | None) -> str:
    """How an owner reads beside what they made ("" when it was made without sign-in)."""
    return f"by {owner}" if owner else ""
