"""Deterministic ids: the same input event always yields the same output ids.

At-least-once delivery means a stage may handle an event twice; deriving the ids of what it emits
from the id of what it consumed lets every downstream stage recognise the repeat.
"""

from __future__ import annotations

import hashlib

__all__ = ["derived_id"]


def derived_id(*parts: str) -> str:
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()
