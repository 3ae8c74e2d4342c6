"""Alpha Panda: a multi-broker algorithmic-trading pipeline as one Faust application.

``faust -A alphapanda worker`` finds :data:`app` here, with every stage registered on it
(:mod:`alphapanda.wiring`); it is built on first access so that importing the domain modules
(strategies, risk, accounting) never needs Kafka settings.
"""

from __future__ import annotations

__all__ = ["app"]


def __getattr__(name: str):
    if name == "app":
        from alphapanda.wiring import app

        return app
    raise AttributeError(f"module 'alphapanda' has no attribute {name!r}")
