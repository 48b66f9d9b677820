"""The admin page "Users & workspaces": add users, change roles, disable accounts, create shared workspaces,
add and remove members, delete a workspace (its folder and nothing else). Every change is recorded."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.access.roles import MANAGE, ROLE_HELP, ROLES
from app.container import Services
from app.errors import AssistantError
from app.ui.common import safe_markdown, show_error
from app.ui.signin import access


def _run(action: Any, *args: Any, done: str = "", **kwargs: Any) -> None:
    """Run one change; its message (or its error) is shown on the next rerun."""
    try:
        action(*args, **kwargs)
        st.session_state["access.notice"] = ("ok", done)
    except AssistantError as exc:
        st.session_state["access.notice"] = ("error", exc)


def _notice() -> None:
    notice = st.session_state.pop("access.notice", None)
    if notice is None:
        return
    kind, payload = notice
    if kind == "error":
        show_error(payload)
    elif payload:
        st.success(safe_markdown(payload), icon=":material/check:")


def users_section(by: str) -> None:
    """The accounts: table, add, role, disable/enable."""
    directory = access()
    rows = directory.store.users()
    st.subheader("Users")
    st.dataframe([{"name": r.name, "role": r.role, "status": "disabled" if r.disabled else "enabled",
                   "password": "set" if r.password_hash else "— (OIDC/proxy)", "created": r.created} for r in rows],
                 hide_index=True, width="stretch")
    with st.form("access.add_user", clear_on_submit=True):
        st.markdown("**Add a user**")
        cols = st.columns(3)
        name = cols[0].text_input("Name")
        role = cols[1].selectbox("Role", ROLES, index=1, format_func=lambda r: f"{r} — {ROLE_HELP[r]}")
        password = cols[2].text_input("Password (at least 10 characters)", type="password")
        if st.form_submit_button("Add user", icon=":material/person_add:"):
            _run(directory.accounts.add, name, role, password or None, by=by, done=f"Added {name}.")
            st.rerun()
    if not rows:
        return
    st.markdown("**Change a user**")
    cells = st.columns([2, 2, 1, 1])
    names = [r.name for r in rows]
    picked = cells[0].selectbox("User", names, key="access.pick_user")
    current = next(r for r in rows if r.name == picked)
    roles = list(ROLES)
    new_role = cells[1].selectbox("Role", roles, index=roles.index(current.role) if current.role in roles else 1,
                                  key=f"access.role.{picked}")
    # The role shown now travels with the click: if another admin changed it meanwhile, the change is refused.
    cells[2].button("Set role", key="access.set_role", on_click=_run,
                   args=(directory.accounts.set_role, picked, new_role),
                   kwargs={"by": by, "expected": current.role, "done": f"{picked} is now {new_role}."})
    label = "Enable" if current.disabled else "Disable"
    cells[3].button(label, key="access.disable", on_click=_run,
                   args=(directory.accounts.set_disabled, picked, not current.disabled),
                   kwargs={"by": by, "done": f"{picked} is {label.lower()}d."})


def workspaces_section(by: str) -> None:
    """The workspaces: table, create, members, delete."""
    directory = access()
    spaces = directory.workspaces.listing()
    st.subheader("Workspaces")
    st.dataframe([{"name": w["name"], "kind": w["kind"], "owner": w["owner"], "members": ", ".join(w["members"])}
                  for w in spaces], hide_index=True, width="stretch")
    with st.form("access.create_workspace", clear_on_submit=True):
        name = st.text_input("New shared workspace")
        if st.form_submit_button("Create", icon=":material/create_new_folder:"):
            _run(directory.workspaces.create, name, by=by, done=f"Created {name}.")
            st.rerun()
    shared = [w["name"] for w in spaces if w["kind"] == "shared"]
    if not shared:
        return
    users = [r.name for r in directory.store.users()]
    cols = st.columns([2, 2, 1, 1])
    space = cols[0].selectbox("Workspace", shared, key="access.pick_space")
    member = cols[1].selectbox("User", users, key="access.pick_member")
    cols[2].button("Add member", key="access.add_member", on_click=_run,
                   args=(directory.workspaces.add_member, space, member),
                   kwargs={"by": by, "done": f"{member} is a member of {space}."})
    cols[3].button("Remove member", key="access.remove_member", on_click=_run,
                   args=(directory.workspaces.remove_member, space, member),
                   kwargs={"by": by, "done": f"{member} left {space}."})
    with st.expander(f"Delete {space}"):
        st.caption("Deletes this workspace's documents, tables, conversations and evaluation runs (its folder), "
                   "nothing else; the request records stay.")
        sure = st.checkbox(f"Yes, delete {space} and its data", key=f"access.sure.{space}")
        st.button("Delete workspace", type="primary", disabled=not sure, key="access.delete_space", on_click=_run,
                  args=(directory.workspaces.delete, space), kwargs={"by": by, "done": f"Deleted {space}."})


def access_page(services: Services) -> None:
    """Users & workspaces (admins only: the page is not offered to other roles, and refuses them too)."""
    st.title(":material/group: Users & workspaces")
    services.require(MANAGE, "users page")
    by = services.settings.user
    _notice()
    users_section(by)
    workspaces_section(by)
