"""The sign-in session kept across reloads in a cookie (password mode).

Streamlit reads cookies (`st.context.cookies`, sent with the page's connection) but cannot write them: the
cookie is written by extra-streamlit-components' CookieManager, whose script is bundled in the package (no CDN).
The cookie holds the session token only; the server keeps its hash and its end, so signing out or an expired
session makes the cookie worthless even before the browser drops it. Written by a script, it cannot be
HttpOnly: SameSite=Strict keeps other sites from sending it, and nothing a user supplies is rendered as HTML.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import extra_streamlit_components
import streamlit as st
import streamlit.components.v1 as components

COOKIE = "analyst_session"
KEY_PENDING = "access.cookie.pending"  # ("set", token, expires, nonce) or ("clear", nonce): kept until written
KEY_DEAD = "access.cookie.dead"  # a cookie token that no longer signs in (not tried twice in this session)
# The package's bundled cookie frontend, declared here for its "set" method alone: its CookieManager class also
# mounts a "getAll" frame whose first report reruns the page and could unmount the writer before it ran.
_COOKIE_FRONTEND = Path(extra_streamlit_components.__file__).parent / "CookieManager" / "frontend" / "build"
_cookie_writer = components.declare_component("analyst_session_cookie", path=str(_COOKIE_FRONTEND))


def token_from_cookie() -> str | None:
    """The session token the browser sent, unless it already failed in this session."""
    token = st.context.cookies.get(COOKIE)
    if not token or token == st.session_state.get(KEY_DEAD):
        return None
    return str(token)


def forget_cookie_token(token: str) -> None:
    """A cookie token that did not sign in: not tried again, and the cookie is cleared."""
    st.session_state[KEY_DEAD] = token
    clear()


def remember(token: str, expires: float) -> None:
    """Keep `token` in a cookie until `expires` (written from the next run on, until the browser confirms)."""
    st.session_state[KEY_PENDING] = ("set", token, expires, secrets.token_hex(4))


def clear() -> None:
    """Drop the cookie (sign-out)."""
    st.session_state[KEY_PENDING] = ("clear", secrets.token_hex(4))


def write_pending() -> None:
    """Write or clear the cookie if a sign-in or sign-out asked for it. The hidden writer frame is drawn on every
    run until it reports that the browser has the cookie: a rerun that unmounts it first does not lose the write."""
    pending = st.session_state.get(KEY_PENDING)
    if not pending:
        return
    if pending[0] == "set":
        value, expires = str(pending[1]), datetime.fromtimestamp(float(pending[2]), tz=UTC)
    else:
        value, expires = "", datetime.now(tz=UTC) - timedelta(days=1)
    st.markdown('<style>.element-container:has(iframe[height="0"]) { display: none; }</style>',
                unsafe_allow_html=True)  # a fixed rule that hides the empty frame's gap; nothing user-supplied
    written = _cookie_writer(method="set", cookie=COOKIE, value=value, key=f"access.cookie.{pending[-1]}",
                             options={"path": "/", "expires": expires.isoformat(), "sameSite": "strict"},
                             default=False)
    if written:
        st.session_state.pop(KEY_PENDING, None)
