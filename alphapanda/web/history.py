"""History views, read from Kafka itself: a broker's PnL over time, an instrument's prices.

- ``GET /api/v1/portfolios/{broker}/history[?limit=N]``: the last N (default 500, at most
  :data:`MAX_POINTS`) of the broker's pnl snapshots (``{broker}.pnl.snapshots``: one after every
  fill, and one per snapshot interval while positions are open), oldest first.
- ``GET /api/v1/market/{token}/ticks[?limit=N]``: the instrument's last N prices, from the tail of
  its ``market.ticks`` partition.

The topics are the history, so nothing is written on the hot path and any worker answers (the
topics' retention bounds what is there). One group-less consumer per worker, shared by the
views under a lock, reads the tail of the partitions asked for.
"""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.web import Request, Response, View

from alphapanda.agents.common import active_brokers
from alphapanda.app import app, kafka_connection
from alphapanda.end_offsets import end_offsets
from alphapanda.topics import MARKET_TICKS, BrokerTopics, key_partition
from alphapanda.web.common import not_active

__all__ = ["DEFAULT_POINTS", "MAX_POINTS", "TailReader", "history_point"]

DEFAULT_POINTS = 500
MAX_POINTS = 5000
#: A tick partition holds other instruments too: read this many messages per point asked for.
TICKS_READ_FACTOR = 8
READ_TIMEOUT = 5.0


def _limit(request: Request) -> int | None:
    raw = request.query.get("limit", str(DEFAULT_POINTS))
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 1 <= value <= MAX_POINTS else None


def history_point(envelope: dict) -> dict | None:
    """A pnl snapshot envelope as a history point (None for anything else)."""
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict) or envelope.get("type") != "pnl_snapshot":
        return None
    return {
        "at": data.get("updated_at") or envelope.get("timestamp"),
        "equity": data.get("equity"), "cash": data.get("cash"),
        "realized_pnl": data.get("realized_pnl"), "unrealized_pnl": data.get("unrealized_pnl"),
        "total_pnl": data.get("total_pnl"),
    }


class TailReader:
    """The last messages of partitions, with one consumer (started on first use)."""

    def __init__(self) -> None:
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def _ensure(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(**kafka_connection.options(), group_id=None, enable_auto_commit=False)
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def tail(self, tps: list[TopicPartition], count: int) -> list:
        """Up to ``count`` last records of each of ``tps``, in offset order per partition."""
        async with self._lock:
            consumer = await self._ensure()
            consumer.assign(tps)
            ends = await end_offsets(consumer, tps)
            wanted = {tp: end for tp, end in ends.items() if end > 0}
            for tp, end in wanted.items():
                consumer.seek(tp, max(0, end - count))
            records = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + READ_TIMEOUT
            while wanted and loop.time() < deadline:
                batch = await consumer.getmany(*wanted, timeout_ms=200)
                for tp, rows in batch.items():
                    records.extend(r for r in rows if r.offset < wanted[tp])
                for tp in list(wanted):
                    if await consumer.position(tp) >= wanted[tp]:
                        del wanted[tp]
            return records

    async def partitions(self, topic: str) -> list[TopicPartition]:
        """Every partition of ``topic`` (asked of the cluster once; an unknown topic is asked again).

        Not from the consumer's own metadata: a group-less consumer's metadata covers only the
        partitions it was last assigned, so a second topic would look empty.
        """
        known = self._partitions.get(topic)
        if known:
            return known
        async with self._lock:
            consumer = await self._ensure()
            metadata = await consumer._client.fetch_all_metadata()
            found = sorted(metadata.partitions_for_topic(topic) or ())
            self._partitions[topic] = [TopicPartition(topic, p) for p in found]
            return self._partitions[topic]

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


reader = TailReader()


def _decode(value: bytes | None):
    try:
        return json.loads(value) if value else None
    except ValueError:
        return None


@app.page("/api/v1/portfolios/{broker}/history")
class PortfolioHistoryView(View):
    async def get(self, request: Request, broker: str) -> Response:
        if broker not in active_brokers:
            return not_active(self.web, broker)
        limit = _limit(request)
        if limit is None:
            return self.json({"error": f"limit must be an integer from 1 to {MAX_POINTS}"}, status=400)
        tps = await reader.partitions(BrokerTopics(broker).pnl_snapshots)
        records = await reader.tail(tps, limit)
        points = [p for p in (history_point(_decode(r.value)) for r in records) if p and p["at"]]
        points.sort(key=lambda p: p["at"])
        # A fill's snapshot and an interval snapshot of the same moment say the same thing once.
        points = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
        return self.json({"broker": broker, "points": points[-limit:]})


@app.page("/api/v1/market/{token}/ticks")
class InstrumentTicksView(View):
    async def get(self, request: Request, token: str) -> Response:
        if not token.isdigit() or not 0 < int(token) < 2**63:
            return self.json({"error": f"{token!r} is not an instrument token"}, status=400)
        limit = _limit(request)
        if limit is None:
            return self.json({"error": f"limit must be an integer from 1 to {MAX_POINTS}"}, status=400)
        tps = await reader.partitions(MARKET_TICKS)
        if not tps:
            return self.json({"instrument_token": int(token), "ticks": []})
        key = token.encode()
        tp = tps[key_partition(key, len(tps))]  # the key is the token as text
        records = await reader.tail([tp], limit * TICKS_READ_FACTOR)
        ticks = []
        for record in records:
            if record.key != key:
                continue
            data = (_decode(record.value) or {}).get("data") or {}
            if data.get("last_price") is not None and data.get("timestamp"):
                ticks.append({"at": data["timestamp"], "price": data["last_price"]})
        return self.json({"instrument_token": int(token), "ticks": ticks[-limit:]})


@app.on_before_shutdown.connect
async def _stop_reader(app, **kwargs) -> None:  # pragma: no cover (shutdown)
    await reader.stop()
