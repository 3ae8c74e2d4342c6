"""Whether the web server may listen where it is told to: loopback always, anything else only
behind a bearer token.

A worker's API changes risk limits and halts or resumes accounts; listening beyond this machine
without ``WEB__API_TOKEN`` would let anyone who reaches the port do that. Pure: the app checks
its effective bind address (``WEB__BIND`` or ``--web-bind``) before it starts.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback", "exposure_problem"]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and the loopback addresses (127.0.0.0/8, ::1); 0.0.0.0 is every
    interface, not loopback."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def exposure_problem(bind: str, *, token_set: bool) -> str | None:
    """Why the web server must not listen on ``bind`` (None when it may)."""
    if is_loopback(bind) or token_set:
        return None
    return (
        f"WEB__BIND={bind} listens beyond this machine, but WEB__API_TOKEN is unset: anyone who reaches "
        "the port could change risk limits or halt and resume trading. Set WEB__API_TOKEN (writes then "
        "need 'Authorization: Bearer <token>'), or WEB__BIND=127.0.0.1"
    )
