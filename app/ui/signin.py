"""Sign-in before any page (password, OIDC through st.login, or a trusted proxy's header), the account panel in
the sidebar (user, role, workspace switcher, sign-out) and the pages each role may open.

The session token lives in this browser session's state only (Streamlit has no cookie writer that works
offline): a reload signs the user out. Sessions also end after `session_hours`, checked on every rerun.
"""

from __future__ import annotations

import streamlit as st

from app.access.accounts import SignInError
from app.access.directory import Access
from app.access.oidc import oidc_name
from app.access.proxy import proxy_user
from app.access.roles import ROLE_HELP, Actor
from app.container import build_access
from app.errors import AssistantError
from app.settings import Settings, load_settings
from app.ui import session_cookie
from app.ui.common import KEY_ACTOR, get_services, root_settings, safe_markdown, show_error
from storage.users import UserRow

KEY_TOKEN = "access.token"
KEY_WORKSPACE = "access.workspace"
KEY_PROXY_USER = "access.proxy_user"

# Page titles each role may open (the services refuse the actions too).
ROLE_PAGES = {
    "admin": {"Chat", "Documents", "Tables", "Images & audio", "Board", "Audit", "Monitoring", "Evaluation",
              "Settings", "Users & workspaces"},
    "analyst": {"Chat", "Documents", "Tables", "Images & audio", "Board", "Audit", "Monitoring", "Evaluation"},
    "viewer": {"Chat", "Board", "Audit"},  # the Board read-only: its buttons check the WRITE permission
    "auditor": {"Audit", "Monitoring"},
}


@st.cache_resource(show_spinner=False)
def access() -> Access:
    """The process-wide access wing (users.sqlite in the root data dir)."""
    return build_access(load_settings())


def _forget() -> None:
    for key in (KEY_TOKEN, KEY_WORKSPACE, KEY_ACTOR, KEY_PROXY_USER):
        st.session_state.pop(key, None)


def _signed_out() -> None:
    """The sign-in view's own navigation: no page links (nor stale ones from before a sign-out) are shown."""
    st.navigation([st.Page(_sign_in_view, title="Sign in", default=True)], position="hidden")


def _sign_in_view() -> None:
    """Never run: the sign-in form is drawn by the gate itself."""


def _password_form(directory: Access) -> None:
    _signed_out()
    st.title(":material/lock: Sign in to Analyst Assistant")
    with st.form("access.signin"):
        name = st.text_input("User name", key="access.name")
        password = st.text_input("Password", type="password", key="access.password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            signed = directory.accounts.sign_in(name, password)
        except AssistantError as exc:
            show_error(exc)
            return
        st.session_state[KEY_TOKEN] = signed.token
        session_cookie.remember(signed.token, signed.expires)  # a reload stays signed in
        st.rerun()
    session_cookie.write_pending()  # clears the cookie after a sign-out
    if not directory.has_users():
        st.info("No accounts yet: an admin creates the first with "
                "`python -m app users add NAME --role admin --password-stdin`.", icon=":material/info:")


def _oidc(directory: Access, settings: Settings) -> None:
    """OIDC: Streamlit's st.login (configured in .streamlit/secrets.toml [auth]); users made on first sign-in."""
    if not st.user.get("is_logged_in"):  # a Mapping; AppTest and an unconfigured [auth] lack the key
        _signed_out()
        st.title(":material/lock: Sign in to Analyst Assistant")
        st.button("Sign in with your company account", type="primary", on_click=st.login)
        st.stop()
    name = oidc_name(dict(st.user.to_dict()))
    signed = directory.accounts.external(name, settings.default_role, settings.admins, "web", "oidc")
    st.session_state[KEY_TOKEN] = signed.token


def _proxy(directory: Access, settings: Settings) -> None:
    # Streamlit reports a loopback peer (127.0.0.1, ::1) as None: then the proxy runs on this machine.
    address = st.context.ip_address or "127.0.0.1"
    try:
        name = proxy_user(dict(st.context.headers), address, settings)
    except SignInError as exc:
        directory.accounts.records.append("access_refused", {"user": "", "status": "error", "origin": "proxy",
                                                             "address": address or "", "error": exc.one_line()})
        _signed_out()
        show_error(exc)
        st.stop()
    if st.session_state.get(KEY_PROXY_USER) != name:  # a new session, or the proxy now names someone else
        signed = directory.accounts.external(name, settings.default_role, settings.admins, "web", "proxy")
        st.session_state[KEY_TOKEN] = signed.token
        st.session_state[KEY_PROXY_USER] = name


def gate() -> Actor | None:
    """Who this browser session is and where they work; draws the sign-in (and stops) when nobody is signed in.

    None when sign-in is off (the root data dir, as on a laptop)."""
    settings = root_settings()
    if settings.auth == "none":
        st.session_state.pop(KEY_ACTOR, None)
        return None
    directory = access()
    try:
        if settings.auth == "oidc":
            _oidc(directory, settings)
        elif settings.auth == "proxy":
            _proxy(directory, settings)
        token = st.session_state.get(KEY_TOKEN) or _from_cookie(directory, settings)
        if not token:
            _password_form(directory)
            st.stop()
        user = directory.accounts.resume(str(token))
        actor = _actor(directory, user)
    except SignInError as exc:
        _forget()
        show_error(exc)
        if settings.auth == "password":
            _password_form(directory)
        else:
            _signed_out()
        st.stop()
    except AssistantError as exc:  # e.g. a workspace deleted meanwhile: back to the private one next time
        st.session_state.pop(KEY_WORKSPACE, None)
        _signed_out()
        show_error(exc)
        st.stop()
    st.session_state[KEY_ACTOR] = actor
    session_cookie.write_pending()
    return actor


def _actor(directory: Access, user: UserRow) -> Actor:
    """The user in the workspace this session works in; a workspace named in the URL (?workspace=NAME) is entered
    only by its members (else refused, recorded, and the session stays where it was)."""
    asked = st.query_params.get("workspace")
    if asked:
        del st.query_params["workspace"]  # asked once: a refusal is not repeated on every rerun
        try:
            actor = directory.workspaces.actor(user, asked)
        except AssistantError as exc:
            show_error(exc)
        else:
            st.session_state[KEY_WORKSPACE] = actor.workspace
            return actor
    return directory.workspaces.actor(user, st.session_state.get(KEY_WORKSPACE))


def _from_cookie(directory: Access, settings: Settings) -> str | None:
    """A password session kept in the browser's cookie (a reload), if it still signs in; quietly None if not."""
    token = session_cookie.token_from_cookie() if settings.auth == "password" else None
    if token is None:
        return None
    try:
        directory.accounts.resume(token)
    except SignInError:
        session_cookie.forget_cookie_token(token)  # expired or signed out elsewhere: the form, without a fuss
        return None
    st.session_state[KEY_TOKEN] = token
    return token


def allowed_pages(actor: Actor | None) -> set[str] | None:
    """The page titles this actor may open (None: all but the admin page, sign-in being off)."""
    return None if actor is None else ROLE_PAGES.get(actor.role, set())


def account_panel(actor: Actor) -> None:
    """Sidebar: who is signed in, their role, the workspace switcher and sign-out."""
    directory = access()
    with st.sidebar.container(border=True):
        st.markdown(safe_markdown(f"**{actor.user}** · {actor.role}"), help=ROLE_HELP.get(actor.role))
        user = directory.accounts.user(actor.user)
        spaces = directory.workspaces.available(user)
        names = [w.name for w in spaces]
        index = names.index(actor.workspace) if actor.workspace in names else 0
        picked = st.selectbox("Workspace", names, index=index, key="access.switch",
                              help="Documents, tables, conversations and evaluation runs belong to one workspace.")
        if picked != actor.workspace:
            st.session_state[KEY_WORKSPACE] = picked
            st.rerun()
        if st.button("Sign out", icon=":material/logout:", key="access.signout", width="stretch"):
            directory.accounts.sign_out(str(st.session_state.get(KEY_TOKEN, "")))
            _forget()
            session_cookie.clear()
            if root_settings().auth == "oidc":
                st.logout()
            st.rerun()


def anonymous_notice() -> None:
    """Sidebar warning (and one record per server start) when served off loopback without sign-in on purpose."""
    if root_settings().auth == "none" and root_settings().allow_anonymous:
        _record_anonymous()
        st.sidebar.warning("Served without sign-in (--allow-anonymous): anyone who reaches this address sees "
                           "everything.", icon=":material/no_encryption:")


@st.cache_resource(show_spinner=False)
def _record_anonymous() -> bool:
    get_services().records.append("anonymous_serving", {"user": root_settings().user, "status": "ok"})
    return True
