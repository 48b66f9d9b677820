"""When the app may be served without sign-in: only on a loopback address, or when the admin says so."""

from __future__ import annotations

import ipaddress

REFUSAL = ("refusing to serve on {address} without sign-in (anyone who can reach the port would read every "
           "document, table, conversation and record): set ANALYST_AUTH=password and add an admin with "
           "`python -m app users add NAME --role admin --password-stdin`, or pass --allow-anonymous deliberately")


def is_loopback(address: str) -> bool:
    """Whether `address` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def anonymous_refusal(auth: str, address: str, allow_anonymous: bool) -> str | None:
    """The one-line refusal for serving `address` with `auth`, or None when it may start."""
    if auth != "none" or allow_anonymous or is_loopback(address):
        return None
    return REFUSAL.format(address=address)
