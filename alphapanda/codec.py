"""Faust codecs: envelopes as plain JSON, and Faust's ``json`` codec without orjson's slack.

Agents consume raw bytes and decode them through the reliability path (so a bad message goes to
its DLQ instead of crashing the stream); outgoing topics use the envelope codec so
``topic.send(value=env)`` writes the contract's JSON.

Tables serialize values (and windowed keys) with Faust's ``json`` codec, which uses orjson when
installed. orjson hands back every result in a buffer of about 4 KB that it never shrinks (orjson
issue 483), and Faust keeps such bytes for a while: its RocksDB key-to-partition LRU (1,000 keys
per table) and the changelog records waiting in the producer buffer. At 4 KB each instead of
about 100 bytes that was most of a soaking worker's memory growth; :class:`CompactJson` copies
each result into a bytes object of its own size.
"""

from __future__ import annotations

import json
from typing import Any

from faust.serializers import codecs
from pydantic import BaseModel

__all__ = ["EnvelopeCodec", "CompactJson", "CODEC_NAME", "register"]

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


class CompactJson(codecs.json):
    """Faust's ``json`` codec; each result is a right-sized copy (see the module's docstring)."""

    def _dumps(self, s: Any) -> bytes:
        return memoryview(super()._dumps(s)).tobytes()


def register() -> None:
    codecs.register(CODEC_NAME, EnvelopeCodec())
    codecs.register("json", CompactJson())
