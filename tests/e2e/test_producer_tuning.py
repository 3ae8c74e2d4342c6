"""Producer tuning by settings, checked where it lands: the record batches in the broker's log."""

import struct
from pathlib import Path

from tests.support.pipeline import trading_signal, wait_for

# Kafka's record batch (magic 2): baseOffset int64, batchLength int32, partitionLeaderEpoch
# int32, magic int8, crc uint32, attributes int16 (its low 3 bits: the compression codec).
CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def batch_codecs(log_file: Path) -> list[str]:
    data, codecs, at = log_file.read_bytes(), [], 0
    while at + 23 <= len(data):
        length, = struct.unpack_from(">i", data, at + 8)
        if length <= 0:
            break
        attributes, = struct.unpack_from(">h", data, at + 21)
        codecs.append(CODECS[attributes & 0x07])
        at += 12 + length
    return codecs


def topic_codecs(cluster, topic: str) -> set[str]:
    segments = [p for p in cluster.root.rglob("*.log") if p.parent.name.rsplit("-", 1)[0] == topic]
    return {codec for segment in segments for codec in batch_codecs(segment)}


def test_the_app_and_feed_producers_compress_as_configured(cluster, workers):
    workers(env={
        "PRODUCER__COMPRESSION": "zstd", "PRODUCER__LINGER_MS": "2", "PRODUCER__BATCH_SIZE": "65536",
        "MARKET_FEED": "simulated", "SIMULATION__TICKS_PER_SECOND": "50",
        "FEED_PRODUCER__COMPRESSION": "LZ4", "FEED_PRODUCER__LINGER_MS": "20",
    })
    cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", event_id=f"tuned-{i}")) for i in range(5)])
    assert len(cluster.events("paper.orders.filled", expect=5, timeout=60)) == 5
    # The feed's own producer (ticks) and the app's (a stage's outputs) each with its codec.
    wait_for(lambda: topic_codecs(cluster, "market.ticks") == {"lz4"}, timeout=30, message="lz4 tick batches")
    assert topic_codecs(cluster, "paper.signals.validated") == {"zstd"}
    assert topic_codecs(cluster, "paper.orders.filled") == {"zstd"}
