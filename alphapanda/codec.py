"""The Faust codec for envelopes: pydantic models out, plain JSON on the wire.

Agents consume raw bytes and decode them through the reliability path (so a bad message goes to
its DLQ instead of crashing the stream); outgoing topics use this codec so ``topic.send(value=env)``
writes the contract's JSON.
"""

from __future__ import annotations

import json
from typing import Any

from faust.serializers import codecs
from pydantic import BaseModel

__all__ = ["EnvelopeCodec", "CODEC_NAME", "register"]

CODEC_NAME = "envelope"


class EnvelopeCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, BaseModel):
            return obj.model_dump_json().encode()
        if isinstance(obj, (bytes, bytearray)):
            return bytes(obj)
        return json.dumps(obj, separators=(",", ":")).encode()

    def _loads(self, s: bytes) -> Any:
        return json.loads(s)


def register() -> None:
    codecs.register(CODEC_NAME, EnvelopeCodec())
