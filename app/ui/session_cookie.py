"""The sign-in session kept across reloads in a cookie (password mode).

Streamlit reads cookies (`st.context.cookies`, sent with the page's connection) but cannot write them: the
cookie is written by extra-streamlit-components' CookieManager, whose script is bundled in the package (no CDN).
The cookie holds the session token only; the server keeps its hash and its end, so signing out or an expired
session makes the cookie worthless even before the browser drops it. Written by a script, it cannot be
HttpOnly: SameSite=Strict keeps other sites from sending it, and nothing a user supplies is rendered as HTML.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st
from extra_streamlit_components import CookieManager

COOKIE = "analyst_session"
KEY_PENDING = "access.cookie.pending"  # ("set", token, expires) or ("clear",): written on the next run drawn
KEY_DEAD = "access.cookie.dead"  # a cookie token that no longer signs in (not tried twice in this session)


def token_from_cookie() -> str | None:
    """The session token the browser sent, unless it already failed in this session."""
    token = st.context.cookies.get(COOKIE)
    if not token or token == st.session_state.get(KEY_DEAD):
        return None
    return str(token)


def forget_cookie_token(token: str) -> None:
    """A cookie token that did not sign in: not tried again, and the cookie is cleared."""
    st.session_state[KEY_DEAD] = token
    st.session_state[KEY_PENDING] = ("clear",)


def remember(token: str, expires: float) -> None:
    """Keep `token` in a cookie until `expires` (written on the next run, the one that is not cut by a rerun)."""
    st.session_state[KEY_PENDING] = ("set", token, expires)


def clear() -> None:
    """Drop the cookie (sign-out)."""
    st.session_state[KEY_PENDING] = ("clear",)


def write_pending() -> None:
    """Write or clear the cookie if a sign-in or sign-out asked for it (renders the hidden cookie component)."""
    pending = st.session_state.pop(KEY_PENDING, None)
    if not pending:
        return
    manager = CookieManager(key="access.cookies")
    if pending[0] == "set":
        manager.set(COOKIE, pending[1], key="access.cookie.set", expires_at=datetime.fromtimestamp(pending[2]),
                    same_site="strict")
    else:
        manager.set(COOKIE, "", key="access.cookie.clear", expires_at=datetime.now() - timedelta(days=1),
                    same_site="strict")
