"""Proxy sign-in: a trusted reverse proxy (nginx, oauth2-proxy) names the user in a header, believed only when the
request comes from one of the configured proxy addresses."""

from __future__ import annotations

from app.access.accounts import SignInError
from app.settings import Settings


def proxy_user(headers: dict[str, str], address: str | None, settings: Settings) -> str:
    """The user a trusted reverse proxy names in its header, or SignInError when the request did not come through
    one of `proxy_trusted_addresses` (a forged header from anywhere else is never believed)."""
    if not address or address not in settings.proxy_trusted_addresses:
        raise SignInError(f"Requests from {address or 'an unknown address'} are not from the trusted proxy.",
                          "Open the app through the company's sign-in proxy.")
    wanted = settings.proxy_user_header.lower()
    name = next((v for k, v in headers.items() if k.lower() == wanted), "").strip()
    if not name:
        raise SignInError(f"The proxy sent no {settings.proxy_user_header} header.",
                          "Check the proxy's configuration (README: Serving the intranet).")
    return name
