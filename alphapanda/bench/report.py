"""The benchmark result as a table for people."""

from __future__ import annotations

__all__ = ["format_table"]


def _ms(summary: dict) -> str:
    return f"p50 {summary['p50']:.1f}  p95 {summary['p95']:.1f}  p99 {summary['p99']:.1f}  max {summary['max']:.1f} ms"


def format_table(result: dict) -> str:
    config = result["config"]
    rss = result["rss_mb"]
    fills = result["fills"]
    broker = "Tansu" if config["tansu_workarounds"] else "Kafka"
    if config.get("embedded_broker"):
        broker = f"embedded {broker}"
    lines = [
        f"alphapanda bench: {broker} at {config['kafka_url']}, {config['partitions']} partitions, "
        f"{config['workers']} worker(s), {config['instruments']} instruments, {config['strategies']} strategies",
        f"  strategy stage     {result['ticks_per_second']:>10,.0f} ticks/s   "
        f"({result['drain']['ticks']:,} pre-loaded ticks drained in {result['drain']['seconds']:.2f} s)",
        f"  raw relay          {result['relay_ticks_per_second']:>10,.0f} ticks/s   "
        "(aiokafka consume -> JSON -> produce, same broker and partitions)",
        f"  ratio              {result['ratio']:>10.3f}",
    ]
    if result.get("confluent_relay_ticks_per_second"):
        lines += [
            f"  raw relay (C)      {result['confluent_relay_ticks_per_second']:>10,.0f} ticks/s   "
            "(confluent-kafka, librdkafka: the same relay, the limit of Python on Kafka here)",
            f"  ratio to it        {result['confluent_ratio']:>10.3f}",
        ]
    elif result.get("confluent_relay_skipped"):
        lines.append(f"  raw relay (C)      skipped: {result['confluent_relay_skipped']}")
    lines += [
        f"  tick -> fill       {_ms(result['latency_ms'])}   "
        f"({fills['received']} of {fills['expected']} fills at {result['achieved_rate']:,.0f} ticks/s "
        f"for {config['seconds']:,.0f} s)",
    ]
    for stage, summary in result["latency_breakdown_ms"].items():
        if stage != "fill":
            lines.append(f"    tick -> {stage:<10}{_ms(summary)}")
    chain = result.get("relay_chain")
    if chain:
        lines.append(
            f"  raw relay chain    {_ms(result['relay_latency_ms'])}   ({chain['received']} of {chain['expected']} "
            f"through 3 aiokafka relays over 4 topics, same rate and shape, {chain['seconds']:,.0f} s: the floor)"
        )
    lines.append(
        f"  worker RSS         start {rss['start']} MB, after drain {rss['after_drain']} MB, "
        f"end {rss['end']} MB (paced phase {rss['paced_growth']:+} MB)"
    )
    fetch = result.get("broker_tail_fetch_ms") or {}
    if fetch.get("before_paced") is not None:
        lines.append(
            f"  broker tail fetch  {fetch['before_paced']} ms before the paced phase, {fetch['after_paced']} ms after "
            "(the longest market.ticks partition)"
        )
    if len(result.get("latency_series") or []) > 1:
        windows = ", ".join(f"{w['t']:.0f}s {w['p50']:.0f}/{w['p99']:.0f}" for w in result["latency_series"])
        lines.append(f"  tick -> fill p50/p99 ms by send time: {windows}")
    if len(result["rss_series"]) > 2:
        samples = ", ".join(f"{s['t']:.0f}s {sum(v or 0 for v in s['rss_mb']):.1f}" for s in result["rss_series"])
        lines.append(f"  RSS over time      {samples}")
        rocksdb = ", ".join(
            f"{s['t']:.0f}s {sum(v or 0 for v in s.get('rocksdb_mb') or []):.1f}" for s in result["rss_series"]
        )
        lines.append(f"  of which RocksDB   {rocksdb}   (MB; capped by STORE_MEMORY_MB)")
    return "\n".join(lines)
