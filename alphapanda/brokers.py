"""The registered broker names (trading venues/account namespaces, never Kafka servers).

A broker is registered by its venue adapter (see ``alphapanda.execution.registry``); this module
only knows the names and the naming rule, so settings can validate ``ACTIVE_BROKERS`` without
importing any venue code.
"""

from __future__ import annotations

import re

__all__ = ["BROKER_NAME", "RESERVED_NAMES", "KNOWN_BROKERS", "register_broker_name", "check_broker_name"]

BROKER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_NAMES = frozenset({"market", "all"})  # market = shared market data; all = aggregate views

KNOWN_BROKERS: list[str] = ["paper", "zerodha"]


def check_broker_name(name: str) -> str:
    if not BROKER_NAME.match(name):
        raise ValueError(f"broker name {name!r} must match [a-z][a-z0-9_]*")
    if name in RESERVED_NAMES:
        raise ValueError(f"broker name {name!r} is reserved")
    return name


def register_broker_name(name: str) -> None:
    """Make a broker name known (used by venue adapters, including test-only ones)."""
    check_broker_name(name)
    if name not in KNOWN_BROKERS:
        KNOWN_BROKERS.append(name)
