"""Kite order updates (websocket text frames and postbacks) turned into our venue events.

An update is a snapshot of one order: its ``status``, cumulative ``filled_quantity`` and
``average_price``. Fills are therefore emitted as *deltas*: the tracker remembers how much of
each order it has reported and emits a :class:`Fill` only for the newly filled part. That also
deduplicates: a repeated or stale snapshot (same or lower ``filled_quantity``, terminal status
already reported) yields nothing.

- ``fill_id`` is ``f"{order_id}-{cumulative_filled_quantity}"``: the same fill gets the same id
  however often its snapshot arrives, so consumers can drop duplicates across restarts too.
- A delta's price is the average price of just that part:
  ``(avg_new * filled_new - avg_old * filled_old) / (filled_new - filled_old)``.
- ``commission`` is 0.0: Zerodha's actual charges are known only from the contract note (the
  per-order brokerage cap and the statutory charges do not split cleanly per partial fill), so
  live fills are reported gross; costs can be reconciled from the contract note later.
- Updates of orders that are not ours (no tag, or a tag this process does not know) are ignored:
  the account may also be traded by hand or by other apps.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from alphapanda.execution.venue import Cancelled, Failed, Fill, VenueEvent
from alphapanda.execution.zerodha.order_mapping import order_tag

__all__ = [
    "VENUE_REJECTED",
    "IST",
    "OrderUpdateError",
    "OrderUpdateTracker",
    "kite_timestamp",
]

log = logging.getLogger(__name__)

VENUE_REJECTED = "VENUE_REJECTED"
#: Kite reports times in India Standard Time without an offset.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
_TIMESTAMP_FIELDS = ("exchange_update_timestamp", "exchange_timestamp", "order_timestamp")


class OrderUpdateError(ValueError):
    """An update of one of our orders that cannot be read (missing or malformed fields)."""


def kite_timestamp(value: Any) -> datetime | None:
    """A Kite time (``"YYYY-MM-DD HH:MM:SS"`` in IST, or a naive datetime) as an aware UTC time."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=IST)
    return moment.astimezone(timezone.utc)


@dataclass
class _Progress:
    """What has been reported for one of our orders."""

    order_id: str
    filled_quantity: int = 0
    # avg price * filled quantity of what was reported; None when the baseline came from outside
    filled_value: float | None = 0.0
    finished: bool = False


def _number(data: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = data.get(key)
    if value is None or value == "":
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise OrderUpdateError(f"order update field {key!r} is not a number: {value!r}") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise OrderUpdateError(f"order update field {key!r} is not finite: {value!r}")
    return number


class OrderUpdateTracker:
    """Maps Kite order updates of our orders to :data:`VenueEvent` lists, reporting each fill once.

    Responsibilities: know which tags (and Kite order ids) are ours; keep the filled quantity
    reported per order; turn a snapshot into fill deltas and at most one terminal event.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._by_tag: dict[str, _Progress] = {}
        self._tag_by_venue_id: dict[str, str] = {}

    def register(self, order_id: str, *, filled_quantity: int = 0,
                 venue_order_id: str | None = None, average_price: float | None = None) -> str:
        """Make ``order_id`` ours (idempotent); returns its tag.

        ``filled_quantity`` is what is already known to be filled (e.g. from our order table
        after a restart), so later updates emit only what is new; with its ``average_price`` the
        price of the next delta is exact, without it the delta is priced at Kite's average.
        """
        tag = order_tag(order_id)
        progress = self._by_tag.get(tag)
        if progress is None:
            progress = _Progress(order_id=order_id)
            self._by_tag[tag] = progress
        elif progress.order_id != order_id:
            raise ValueError(f"tag {tag} of {order_id!r} already belongs to {progress.order_id!r}")
        if filled_quantity > progress.filled_quantity:
            progress.filled_quantity = filled_quantity
            progress.filled_value = average_price * filled_quantity if average_price else None
        if venue_order_id:
            self._tag_by_venue_id[str(venue_order_id)] = tag
        return tag

    def order_id_for(self, tag: str) -> str | None:
        progress = self._by_tag.get(tag)
        return progress.order_id if progress else None

    def filled_quantity(self, order_id: str) -> int:
        progress = self._by_tag.get(order_tag(order_id))
        return progress.filled_quantity if progress else 0

    def parse_order_update(self, payload: Mapping[str, Any]) -> list[VenueEvent]:
        """Events for one update: a websocket frame ``{"type": "order", "data": {...}}`` or the
        bare order dict (postback, ``KiteTicker.on_order_update``, a ``GET /orders`` row).

        Returns ``[]`` for other frame types, orders that are not ours and repeated snapshots.
        Raises :class:`OrderUpdateError` when one of our orders' updates is malformed.
        """
        data: Any = payload
        if "type" in payload and "data" in payload and "status" not in payload:
            if payload.get("type") != "order":
                return []
            data = payload.get("data")
        if not isinstance(data, Mapping):
            raise OrderUpdateError(f"order update data is not an object: {type(data).__name__}")

        progress = self._progress_for(data)
        if progress is None:
            return []

        status = str(data.get("status") or "").upper()
        filled = _number(data, "filled_quantity", int, None)
        if filled is None and status == "COMPLETE":
            filled = _number(data, "quantity", int, None)
        filled = filled or 0
        if filled < 0:
            raise OrderUpdateError(f"negative filled_quantity {filled} for {progress.order_id}")

        events: list[VenueEvent] = []
        fill = self._fill_delta(progress, data, filled)
        if fill is not None:
            events.append(fill)
        if not progress.finished:
            message = str(data.get("status_message") or data.get("status_message_raw") or "")
            if status == "REJECTED":
                progress.finished = True
                events.append(Failed(progress.order_id, VENUE_REJECTED, message or "rejected by Kite"))
            elif status.startswith("CANCELLED"):
                progress.finished = True
                events.append(Cancelled(progress.order_id, message or "cancelled"))
            elif status == "COMPLETE":
                progress.finished = True
        return events

    def _progress_for(self, data: Mapping[str, Any]) -> _Progress | None:
        tag = data.get("tag")
        if isinstance(tag, str) and tag in self._by_tag:
            return self._by_tag[tag]
        venue_order_id = data.get("order_id")
        if venue_order_id is not None and str(venue_order_id) in self._tag_by_venue_id:
            return self._by_tag[self._tag_by_venue_id[str(venue_order_id)]]
        return None

    def _fill_delta(self, progress: _Progress, data: Mapping[str, Any], filled: int) -> Fill | None:
        delta = filled - progress.filled_quantity
        if delta <= 0:
            return None
        average = _number(data, "average_price", float, 0.0)
        price = average
        if progress.filled_value is not None and average > 0:
            price = (average * filled - progress.filled_value) / delta
            if not (math.isfinite(price) and price > 0):
                price = average  # rounding in Kite's average; the average is the honest fallback
        if not price > 0:
            # Without a price the fill cannot be booked; keep the quantity unreported so the
            # next snapshot (which carries the average price) reports it.
            log.warning("order update of %s reports %d filled without a price; waiting for the next",
                        progress.order_id, filled)
            return None
        progress.filled_quantity = filled
        progress.filled_value = average * filled if average > 0 else None
        timestamp = next(
            (t for t in (kite_timestamp(data.get(f)) for f in _TIMESTAMP_FIELDS) if t is not None),
            None,
        ) or self._clock()
        return Fill(
            order_id=progress.order_id,
            fill_id=f"{progress.order_id}-{filled}",
            quantity=delta,
            price=round(price, 6),
            commission=0.0,
            timestamp=timestamp,
        )
