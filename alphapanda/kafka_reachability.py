"""Whether this worker reaches its Kafka cluster, for health while the cluster is away.

The clients underneath retry on their own and carry on when the cluster is back; this only
watches, so that ``/api/v1/health`` says degraded (503) meanwhile instead of ok.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

__all__ = ["KafkaReachability"]


class KafkaReachability:
    """One TCP connection attempt per bootstrap address per probe; reachable when any answers."""

    def __init__(self, bootstrap: str, timeout: float = 1.0) -> None:
        self._addresses = [tuple(a.rsplit(":", 1)) for a in bootstrap.split(",")]
        self._timeout = timeout
        self.reachable = True
        self.unreachable_since: float | None = None
        self.error: str | None = None

    async def probe(self) -> bool:
        errors = []
        for host, port in self._addresses:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), self._timeout)
            except (OSError, asyncio.TimeoutError) as exc:
                errors.append(f"{host}:{port}: {exc or type(exc).__name__}")
                continue
            writer.close()
            self._mark(True, None)
            return True
        self._mark(False, "; ".join(errors))
        return False

    def _mark(self, reachable: bool, error: str | None) -> None:
        if not reachable and self.reachable:
            self.unreachable_since = time.time()
        elif reachable:
            self.unreachable_since = None
        self.reachable, self.error = reachable, error

    def as_dict(self) -> dict:
        since = self.unreachable_since
        return {
            "reachable": self.reachable,
            "unreachable_since": datetime.fromtimestamp(since, timezone.utc).isoformat() if since else None,
            "error": self.error,
        }
