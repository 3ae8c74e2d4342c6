"""Faust's ``json`` codec, as registered by the app: same bytes, without orjson's 4 KB slack."""

import tracemalloc

from faust.serializers import codecs

from alphapanda import codec


def _retained_bytes_per_result(dumps) -> float:
    tracemalloc.start()
    try:
        kept = [dumps({"strategy": "momentum_v1", "token": i, "at": 1763712000.0 + i}) for i in range(1000)]
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert len(kept) == 1000
    return sum(stat.size for stat in snapshot.statistics("filename")) / 1000


def test_tables_json_codec_is_the_compact_one_and_writes_the_same_json():
    codec.register()
    json_codec = codecs.get_codec("json")
    assert isinstance(json_codec, codec.CompactJson)

    value = {"quantity": 10, "average_price": 101.25, "ids": ["a", "b"], "nested": {"x": None}}
    encoded = codecs.dumps("json", value)
    assert type(encoded) is bytes
    assert encoded == codecs.json().dumps(value)  # Faust's own codec, byte for byte
    assert codecs.loads("json", encoded) == value


def test_a_kept_result_costs_its_size_not_a_buffer():
    codec.register()
    # orjson's results each hold ~4 KB; ours hold the ~60 bytes of JSON plus the object header.
    assert _retained_bytes_per_result(lambda v: codecs.dumps("json", v)) < 256
