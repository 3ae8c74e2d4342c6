"""Event envelope and payload models (pydantic v2): the wire contracts of CONTRACTS.md."""

from alphapanda.models.events import Envelope, EventType, new_event_id, utc_now
from alphapanda.models.payloads import *  # noqa: F401,F403
from alphapanda.models.payloads import __all__ as _payload_names
from alphapanda.models.registry import PAYLOAD_TYPES, envelope_type

__all__ = ["Envelope", "EventType", "new_event_id", "utc_now", "PAYLOAD_TYPES", "envelope_type",
           *_payload_names]
