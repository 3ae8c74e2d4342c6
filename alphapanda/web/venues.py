"""Venue callbacks: ``POST /api/v1/venues/{broker}/postback`` (Kite's order postbacks).

A venue that reports order changes by HTTP (Kite's postback URL) posts the order object here.
The venue of the broker checks it (Kite: the ``checksum`` field, signed with
``ZERODHA__API_SECRET``), and it is published as a ``venue_order_update`` on ``{broker}.orders.updates`` for the
broker's execution lane, the same path as the websocket's order updates. A venue that cannot
verify postbacks (Kite without the secret) refuses every one with 403 and publishes nothing: a
forged order update could otherwise move a live account's positions. Nothing is applied
here: the lane owns the orders table. The bearer token does not apply (the venue cannot send
it); the venue's own signature does.
"""

from __future__ import annotations

import logging

from faust.web import Request, Response, View

from alphapanda.agents.common import active_brokers, sender
from alphapanda.agents.execution import venues
from alphapanda.app import app
from alphapanda.ids import derived_id
from alphapanda.models import Envelope, EventType, VenueOrderUpdate
from alphapanda.models.wire import encode_event
from alphapanda.topics import BrokerTopics, account_of
from alphapanda.web.common import not_active

__all__ = ["PostbackView", "postback_event"]

log = logging.getLogger(__name__)

# Fields that tell two postbacks of one order apart; a repeated postback gets the same event id.
_IDENTITY = ("order_id", "status", "filled_quantity", "average_price", "exchange_update_timestamp",
             "order_timestamp", "cancelled_quantity")


def postback_event(broker: str, payload: dict) -> Envelope:
    event_id = derived_id("postback", broker, *(str(payload.get(k)) for k in _IDENTITY))
    return Envelope[VenueOrderUpdate](
        id=event_id, type=EventType.VENUE_ORDER_UPDATE, correlation_id=event_id, source="postback",
        broker=broker, data=VenueOrderUpdate(via="postback", payload=payload),
    )


@app.page("/api/v1/venues/{broker}/postback")
class PostbackView(View):
    async def post(self, request: Request, broker: str) -> Response:
        if broker not in active_brokers:
            return not_active(self.web, broker)
        venue = venues[broker]
        if (refusal := venue.postback_refusal()) is not None:
            log.warning("%s: postback refused: %s", broker, refusal)
            return self.json({"error": refusal, "broker": broker}, status=403)
        try:
            payload = await request.json()
        except Exception:
            return self.json({"error": "body must be a JSON object"}, status=400)
        if not isinstance(payload, dict):
            return self.json({"error": "body must be a JSON object"}, status=400)
        problem = venue.postback_error(payload)
        if problem is not None:
            log.warning("%s: postback refused: %s", broker, problem)
            # A checksum that does not match is a failed authentication, not a malformed body.
            status = 403 if "checksum" in problem else 400
            return self.json({"error": problem, "broker": broker}, status=status)
        event = postback_event(broker, payload)
        await sender(BrokerTopics(broker).venue_updates, account_of(broker).encode(), encode_event(event))
        return self.json({"broker": broker, "accepted": True, "event_id": event.id})
