"""OIDC sign-in (Streamlit's st.login/st.user, configured in .streamlit/secrets.toml [auth]): who the claims name."""

from __future__ import annotations

from typing import Any

from app.access.accounts import SignInError


def oidc_name(claims: dict[str, Any]) -> str:
    """The user name an identity provider's claims give: the e-mail, else the preferred name, else the subject."""
    for claim in ("email", "preferred_username", "sub"):
        value = str(claims.get(claim) or "").strip()
        if value:
            return value
    raise SignInError("The identity provider did not say who you are (no email, preferred_username or sub).",
                      "Ask the admin to add the 'email' scope to the [auth] section of .streamlit/secrets.toml.")
