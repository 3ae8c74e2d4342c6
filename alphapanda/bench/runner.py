"""The benchmark run: broker, topics, workers, the three measurements, and everything stopped again.

Phases, in one run on one broker:

1. **Relay** (the yardstick): N tick messages relayed by raw aiokafka, no worker running.
2. **Drain**: the same N ticks are on ``market.ticks`` before any worker starts; the rate is the
   strategy runner's processed counter from its first progress until all N are handled.
3. **Paced**: ticks at a fixed rate for a while; tick -> fill latency of the signalling ticks,
   and the workers' resident memory sampled along the way (the soak is a long paced phase).
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from alphapanda.bench.broker_probe import tail_fetch_ms
from alphapanda.bench.latency import ChainCollector, over_time, publish_paced, summarize
from alphapanda.bench.relay import RELAY_IN, RELAY_OUT, relay_rate
from alphapanda.bench.relay_confluent import RELAY_OUT_CONFLUENT, confluent_missing, confluent_relay_rate
from alphapanda.bench.relay_chain import CHAIN_TOPICS, ChainShape, relay_chain_latency
from alphapanda.bench.strategies import write_strategies
from alphapanda.bench.ticks import TickSource, instrument_tokens
from alphapanda.bench.worker import BenchWorker, free_port
from alphapanda.cli.topics import ensure_topics
from alphapanda.embedded_broker import EmbeddedBroker, embedded_broker
from alphapanda.end_offsets import end_offsets
from alphapanda.heap import settle
from alphapanda.kafka_connection import KafkaConnection, as_connection
from alphapanda.kafka_io import topic_partitions
from alphapanda.kafka_probe import is_tansu
from alphapanda.market.publisher import TickPublisher
from alphapanda.models import Envelope, EventType, RiskCommand, new_event_id
from alphapanda.models.wire import encode_event
from alphapanda.topics import MARKET_TICKS, BrokerTopics, account_of, all_topics
from alphapanda.transport import TANSU_FETCH_MAX_WAIT_MS
from alphapanda.settings import get_settings

__all__ = ["BenchConfig", "run_bench", "DRAIN_SIGNAL_EVERY"]

BROKER = "paper"
#: The drain's ticks signal rarely (one jump in this many ticks): it measures evaluation, with
#: the occasional acknowledged signal a real tick stream causes.
DRAIN_SIGNAL_EVERY = 1000
#: Faust's producer batch limit (bytes) and fetch wait, which a worker keeps on Kafka and Redpanda.
FAUST_MAX_BATCH_BYTES = 16384
FAUST_FETCH_MAX_WAIT_MS = 1500
#: Seconds between looks at the workers' progress once the drain is under way.
DRAIN_POLL_SECONDS = 2.0
#: The relay chain runs as long as the paced phase up to this (a soak needs no second soak).
MAX_CHAIN_SECONDS = 60.0
#: Limits lifted for the bench: it measures the path, not the risk engine's refusals.
OPEN_LIMITS = {
    "max_orders_per_minute": None, "max_position_quantity": None, "max_gross_exposure": None,
    "max_order_notional": None, "daily_loss_limit": None,
}


@dataclass(frozen=True)
class BenchConfig:
    """What to run.

    ticks: ticks pre-loaded for the drain (and relayed by the yardstick).
    instruments / strategies: K instruments, S strategies each trading all K.
    rate / seconds: the paced phase (ticks/s, duration).
    signal_every: in the paced phase, one tick in this many is a price jump (two signals).
    workers / partitions: worker processes; partitions of every topic.
    kafka_url: an existing cluster, or None for a fresh embedded broker on a free port.
    rss_every: seconds between memory samples in the paced phase.
    tick_batch_ms: how long the paced publisher gathers ticks into one batch (its linger), like a
        feed that delivers packets; longer means fewer record batches on the broker. None: the
        app's tick publisher's default for the broker (``TickPublisher.linger_for``).
    chain_seconds: length of the raw relay chain's latency run at ``rate`` (None: as long as the
        paced phase, at most ``MAX_CHAIN_SECONDS``; 0: skipped).
    """

    ticks: int = 100_000
    instruments: int = 100
    strategies: int = 4
    rate: float = 1000.0
    seconds: float = 30.0
    signal_every: int = 100
    workers: int = 1
    partitions: int = 8
    kafka_url: str | None = None
    rss_every: float = 5.0
    keep: bool = False
    tick_batch_ms: float | None = None
    chain_seconds: float | None = None

    @property
    def chain_run_seconds(self) -> float:
        return min(self.seconds, MAX_CHAIN_SECONDS) if self.chain_seconds is None else self.chain_seconds


@dataclass
class Progress:
    quiet: bool = False
    started: float = field(default_factory=time.monotonic)

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[bench {time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)


async def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(**as_connection(bootstrap).options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        ends = await end_offsets(consumer, tps)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets on ``topic`` (empty for a group that never committed)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**as_connection(bootstrap).options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except Exception:  # no such group yet
        return {}
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}


async def _preload(bootstrap: str, source: TickSource, count: int, topics: list[str]) -> None:
    """``count`` ticks to each of ``topics`` (the same bytes), batched and acknowledged."""
    producer = AIOKafkaProducer(
        **as_connection(bootstrap).options(), linger_ms=5, acks=1, max_batch_size=256 * 1024, enable_idempotence=False,
    )
    await producer.start()
    try:
        pending = []
        for _ in range(count):
            tick = source.next()
            for topic in topics:
                pending.append(await producer.send(topic, key=tick.key, value=tick.value))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _send_limits(bootstrap: str) -> None:
    """Open the paper account's limits through its control topic, as the web API would."""
    event_id = new_event_id()
    event = Envelope[RiskCommand](
        id=event_id, type=EventType.RISK_COMMAND, correlation_id=event_id, source="bench", broker=BROKER,
        data=RiskCommand(action="set_limits", limits=OPEN_LIMITS, reason="benchmark"),
    )
    producer = AIOKafkaProducer(**as_connection(bootstrap).options(), enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(
            BrokerTopics(BROKER).risk_control, key=account_of(BROKER).encode(), value=encode_event(event)
        )
    finally:
        await producer.stop()


#: After the paced phase: fills are awaited until none arrived for FILL_QUIET_SECONDS, for at
#: most FILL_WAIT_MAX_SECONDS in all.
FILL_QUIET_SECONDS = 20
FILL_WAIT_MAX_SECONDS = 300


#: Seconds the bench waits for the drain's fills before the paced phase starts regardless.
SETTLE_TIMEOUT_SECONDS = 120


async def _wait_for_fills(bootstrap, topic: str, expected: int, say) -> None:
    """Until ``topic`` holds ``expected`` fills (the order path caught up), at most SETTLE_TIMEOUT_SECONDS."""
    started = time.monotonic()
    while True:
        count = sum((await _end_offsets(bootstrap, topic)).values())
        if count >= expected:
            say(f"order path caught up with the drain ({time.monotonic() - started:.1f} s after it)")
            return
        if time.monotonic() - started > SETTLE_TIMEOUT_SECONDS:
            say(f"order path still behind the drain after {SETTLE_TIMEOUT_SECONDS} s ({count} of {expected} "
                "fills): the paced phase starts anyway")
            return
        await asyncio.sleep(0.5)


async def _wait(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what} not within {timeout:.0f} s")


async def _confluent_relay(bootstrap, start: dict[int, int], count: int) -> tuple[float | None, str | None]:
    """The confluent-kafka relay's rate on the same bytes, or None and why it did not run."""
    why = confluent_missing()
    if why is not None:
        return None, why
    try:
        return await confluent_relay_rate(bootstrap, start, count, source=RELAY_IN, target=RELAY_OUT_CONFLUENT), None
    except Exception as exc:  # a yardstick that fails is reported, the pipeline's figures still count
        return None, f"{type(exc).__name__}: {exc}"


def _mb(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def run_bench(config: BenchConfig, *, progress: Progress | None = None) -> dict:
    """Run every phase and return the result (CONTRACTS.md "Benchmark output" keys and more)."""
    say = progress or Progress()
    root = Path(tempfile.mkdtemp(prefix="alphapanda-bench-"))
    broker: EmbeddedBroker | None = None
    workers: list[BenchWorker] = []
    try:
        settings = get_settings()
        # The workers' environment besides the bench's own settings (below).
        worker_security: dict[str, str] = {}
        if config.kafka_url is None:
            broker = embedded_broker(settings.embedded_broker, "127.0.0.1", free_port(), root / "cluster",
                                     heap_mb=settings.embedded_broker_heap_mb)
            broker.start()
            kafka_url = f"kafka://{broker.address}"
            say(f"embedded {broker.kind} broker at {broker.address} (data under {root})")
            # The embedded broker of the bench is plaintext, whatever KAFKA__* say about another cluster.
            bootstrap: KafkaConnection = KafkaConnection(bootstrap=broker.address)
            worker_security = {"KAFKA__SECURITY_PROTOCOL": "PLAINTEXT", "KAFKA__SSL_CAFILE": "",
                               "KAFKA__SSL_CERTFILE": "", "KAFKA__SSL_KEYFILE": ""}
        else:
            kafka_url = config.kafka_url
            # Another cluster: the clients of the bench connect as the app's do (KAFKA__*).
            bootstrap = dataclasses.replace(
                KafkaConnection.from_settings(settings),
                bootstrap=",".join(part.split("://", 1)[-1] for part in kafka_url.split(";")),
            )
        tansu = is_tansu(bootstrap)
        if config.tick_batch_ms is None:  # as the app's feed would publish on this broker
            config = dataclasses.replace(config, tick_batch_ms=float(TickPublisher.linger_for(tansu)))
        await ensure_topics(bootstrap, all_topics([BROKER]) + [RELAY_IN, RELAY_OUT, RELAY_OUT_CONFLUENT, *CHAIN_TOPICS],
                            config.partitions)

        tokens = instrument_tokens(config.instruments)
        strategies_dir = root / "strategies"
        write_strategies(strategies_dir, config.strategies, tokens, broker=BROKER)

        # The backlog is what was there plus what we add.
        relay_start = await _end_offsets(bootstrap, RELAY_IN)
        ends = await _end_offsets(bootstrap, MARKET_TICKS)
        committed = {} if broker is not None else await _committed(bootstrap, "alphapanda", MARKET_TICKS)
        backlog = config.ticks + sum(end - committed.get(p, 0) for p, end in ends.items())

        # 1. The relay yardstick, on the same bytes, before any worker takes a core.
        say(f"pre-loading {config.ticks:,} ticks over {config.instruments} instruments")
        drain_source = TickSource(tokens, signal_every=DRAIN_SIGNAL_EVERY)
        await _preload(bootstrap, drain_source, config.ticks, [MARKET_TICKS, RELAY_IN])
        relay_tps = await relay_rate(bootstrap, relay_start, config.ticks)
        say(f"raw relay: {relay_tps:,.0f} ticks/s")
        confluent_tps, confluent_why = await _confluent_relay(bootstrap, relay_start, config.ticks)
        say(f"raw relay on confluent-kafka: {confluent_tps:,.0f} ticks/s" if confluent_tps
            else f"raw relay on confluent-kafka skipped: {confluent_why}")
        chain = await _relay_chain(bootstrap, config, tokens, tansu, say)

        # 2. The drain: workers start with the ticks already waiting.
        await _send_limits(bootstrap)
        fills_topic = BrokerTopics(BROKER).orders_filled
        fills_before = sum((await _end_offsets(bootstrap, fills_topic)).values())
        env = dict(
            ACTIVE_BROKERS=BROKER, KAFKA_URL=kafka_url, TOPIC_PARTITIONS=str(config.partitions),
            STRATEGIES_DIR=str(strategies_dir), STORE_URL="rocksdb://", **worker_security,
        )
        workers = [BenchWorker(f"w{i + 1}", root, env) for i in range(config.workers)]
        for worker in workers:
            worker.start()
        say(f"worker(s) started (pids {', '.join(str(w.pid) for w in workers)}); draining {backlog:,} ticks")
        drain = await _measure_drain(workers, backlog)
        say(f"strategy stage: {drain['ticks_per_second']:,.0f} ticks/s ({drain['ticks']:,} in {drain['seconds']:.2f} s)"
            + (": drained before it could be timed, a lower bound from the workers' start; use more --ticks"
               if drain["lower_bound"] else ""))
        rss_after_drain = [w.rss_mb() for w in workers]
        # The drain's signals are still on their way through risk, execution and the portfolio
        # when the strategy stage is done; the paced phase measures a worker that caught up.
        await _wait_for_fills(bootstrap, fills_topic, fills_before + drain_source.signalling, say)

        # 3. Paced: latency and memory.
        async def limits_open():
            status, body = await workers[0].get_json(f"/api/v1/risk/{BROKER}")
            return status == 200 and body["limits"].get("max_orders_per_minute") is None

        await _wait(limits_open, 30, "risk limits opened")
        topics = BrokerTopics(BROKER)
        collector = ChainCollector(bootstrap, {
            "signal": topics.signals_raw, "validated": topics.signals_validated, "fill": topics.orders_filled,
        })
        await collector.start()
        series: list[dict] = []
        paced_started = time.monotonic()
        # RocksDB's share of each worker's memory (capped by STORE_MEMORY_MB), read from its
        # metrics beside every RSS sample: what grows besides it is the rest of the worker.
        rocksdb: list[float | None] = [None] * len(workers)

        async def read_rocksdb() -> None:
            while True:
                for i, w in enumerate(workers):
                    try:
                        rocksdb[i] = await w.rocksdb_mb()
                    except Exception:  # busy or restarting: keep the last reading
                        pass
                await asyncio.sleep(min(config.rss_every, 5.0))

        def sample(elapsed: float) -> None:
            for w in workers:
                w.check_alive()
            if not series or elapsed - series[-1]["t"] >= config.rss_every:
                series.append({
                    "t": round(elapsed, 1), "rss_mb": [_mb(w.rss_mb()) for w in workers], "rocksdb_mb": list(rocksdb),
                })

        fetch_before = await tail_fetch_ms(bootstrap, MARKET_TICKS)
        # The bench stamps and collects the latencies itself: a full collection of its own heap
        # mid-phase (~50 ms) would count as pipeline latency (alphapanda/heap.py).
        settle()
        say(f"paced: {config.rate:,.0f} ticks/s for {config.seconds:,.0f} s")
        reader = asyncio.create_task(read_rocksdb())
        try:
            await asyncio.sleep(0.2)  # a first reading for the first sample
            sample(0.0)
            paced_source = TickSource(tokens, signal_every=config.signal_every, seed=11)
            paced = await publish_paced(
                bootstrap, paced_source, rate=config.rate, seconds=config.seconds,
                sent_at=collector.sent_at, every_second=sample, linger_ms=config.tick_batch_ms,
            )

            # A worker that fell behind is still filling: wait while fills keep coming (up to
            # FILL_WAIT_MAX_SECONDS), so "only N of M arrived" means stuck, not late.
            waited_from = last_fill_at = time.monotonic()
            seen = collector.count("fill")
            while seen < paced.signalling:
                await asyncio.sleep(0.1)
                now, count = time.monotonic(), collector.count("fill")
                if count > seen:
                    seen, last_fill_at = count, now
                give_up = now - last_fill_at > FILL_QUIET_SECONDS or now - waited_from > FILL_WAIT_MAX_SECONDS
                if give_up and seen < paced.signalling:
                    say(f"only {seen} of {paced.signalling} fills arrived ({now - waited_from:.0f} s after the paced phase)")
                    break
            await collector.stop()
            fetch_after = await tail_fetch_ms(bootstrap, MARKET_TICKS)
            sample(time.monotonic() - paced_started)
        finally:
            reader.cancel()
        rss_end = [w.rss_mb() for w in workers]

        fills = collector.latencies_ms["fill"]
        start_rss = [drain["rss_start"][i] for i in range(len(workers))]
        total = lambda values: _mb(sum(v or 0.0 for v in values))  # noqa: E731
        return {
            "ticks_per_second": round(drain["ticks_per_second"], 1),
            "relay_ticks_per_second": round(relay_tps, 1),
            "ratio": round(drain["ticks_per_second"] / relay_tps, 3),
            "confluent_relay_ticks_per_second": confluent_tps and round(confluent_tps, 1),
            "confluent_ratio": confluent_tps and round(drain["ticks_per_second"] / confluent_tps, 3),
            "confluent_relay_skipped": confluent_why,
            "latency_ms": {k: v for k, v in summarize(fills).items()},
            "latency_breakdown_ms": {stage: summarize(v) for stage, v in collector.latencies_ms.items()},
            "relay_latency_ms": chain and {k: chain[k] for k in ("p50", "p95", "p99", "max")},
            "relay_chain": chain and {k: chain[k] for k in ("expected", "received", "seconds")},
            "latency_series": over_time(collector.samples["fill"], paced.started, config.rss_every),
            "rate": config.rate,
            "achieved_rate": round(paced.sent / paced.seconds, 1),
            "fills": {"expected": paced.signalling, "received": len(fills)},
            "rss_mb": {
                "start": total(start_rss), "after_drain": total(rss_after_drain), "end": total(rss_end),
                "paced_growth": _mb((total(rss_end) or 0) - (total(rss_after_drain) or 0)),
            },
            "rss_series": series,
            "broker_tail_fetch_ms": {"before_paced": fetch_before, "after_paced": fetch_after},
            "drain": {"ticks": drain["ticks"], "seconds": round(drain["seconds"], 3), "lower_bound": drain["lower_bound"]},
            "config": {**asdict(config), "kafka_url": kafka_url, "tansu_workarounds": tansu,
                       "embedded_broker": broker.kind if broker is not None else None},
        }
    finally:
        for worker in workers:
            await worker.close()
        if broker is not None:
            broker.stop()
        if not config.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            say(f"kept {root}")


async def _relay_chain(
    bootstrap: str, config: BenchConfig, tokens: list[int], tansu: bool, say: Progress,
) -> dict | None:
    """The latency yardstick (alphapanda.bench.relay_chain) at the paced phase's rate and shape."""
    seconds = config.chain_run_seconds
    if seconds <= 0:
        return None
    settle()  # as before the paced phase
    say(f"raw relay chain: {config.rate:,.0f} ticks/s for {seconds:,.0f} s")
    shape = ChainShape(
        fetch_max_wait_ms=TANSU_FETCH_MAX_WAIT_MS if tansu else FAUST_FETCH_MAX_WAIT_MS,
        max_batch_size=FAUST_MAX_BATCH_BYTES,
        tick_batch_ms=config.tick_batch_ms,
    )
    # The paced phase's tick sequence, so both chains carry the same signalling ticks.
    source = TickSource(tokens, signal_every=config.signal_every, seed=11)
    run, latencies = await relay_chain_latency(bootstrap, source, rate=config.rate, seconds=seconds, shape=shape)
    summary = summarize(latencies)
    say(f"raw relay chain: tick -> fill p50 {summary['p50']:.1f} ms, p99 {summary['p99']:.1f} ms")
    return {**summary, "expected": run.signalling, "received": len(latencies), "seconds": seconds}


async def _measure_drain(workers: list[BenchWorker], backlog: int, timeout: float = 600.0) -> dict:
    """The strategy stage's rate from its first progress until ``backlog`` ticks are handled.

    Timed by the workers' own clock of their last batch (a gauge next to the counter), so the
    polling interval does not blur the result and polling stays rare.
    """
    deadline = time.monotonic() + timeout
    started = time.time()  # the workers' stamps are wall-clock times
    first: tuple[int, float] | None = None
    rss_start: list[float | None] = [None] * len(workers)
    while time.monotonic() < deadline:
        for worker in workers:
            worker.check_alive()
        samples = await asyncio.gather(*(_count(w) for w in workers))
        done = sum(count for count, _ in samples)
        stamps = [stamp for _, stamp in samples if stamp is not None]
        if first is None and done > 0 and stamps:
            first = (done, max(stamps))
            rss_start = [w.rss_mb() for w in workers]
        elif first is not None and done >= backlog:
            seconds = max(stamps) - first[1]
            if seconds > 0 and done > first[0]:
                return {"ticks": done, "seconds": seconds, "ticks_per_second": (done - first[0]) / seconds,
                        "rss_start": rss_start, "lower_bound": False}
            # Drained by the first look (a small backlog in a batch or two): no interval between
            # batches to time, so the whole time since the workers started, their start included.
            seconds = max(stamps) - started
            return {"ticks": done, "seconds": seconds, "ticks_per_second": done / seconds,
                    "rss_start": rss_start, "lower_bound": True}
        # Each look is a /metrics scrape, tens of ms of the worker's loop under load: rare once
        # the drain runs (the rate comes from the workers' own stamps, not from these looks).
        await asyncio.sleep(0.05 if first is None else DRAIN_POLL_SECONDS)
    raise TimeoutError(f"workers did not drain {backlog} ticks in {timeout:.0f} s")


async def _count(worker: BenchWorker) -> tuple[int, float | None]:
    try:
        return await worker.processed()
    except Exception:  # not serving yet
        return 0, None
