"""``alphapanda backtest``: a tape through the real pipeline on a fresh embedded broker.

The same worker a live run starts (strategies, risk checks, paper fills, portfolio), on an
embedded broker on a free port in a temporary folder that is removed afterwards. The tape is
published as fast as it goes; the run is over when the strategy stage has every tick and no
stage has moved for :data:`QUIET_SECONDS` with nothing left to read. The statistics come from the
fills on ``{broker}.orders.filled`` and the tape's prices (:mod:`alphapanda.backtest.metrics`);
the brokers' summaries are the worker's own portfolio answers.

Only paper-filled brokers take part: a backtest never sends an order to a live venue.
"""

from __future__ import annotations

import asyncio
import heapq
import io
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from aiokafka import AIOKafkaConsumer

from alphapanda.backtest.metrics import ANNUALIZATION, BAR_SECONDS, BacktestBooks, FillRecord
from alphapanda.bench.worker import BenchWorker, free_port, processed_from_metrics
from alphapanda.cli.replay import ProgressBar, replay_tape
from alphapanda.cli.topics import ensure_topics
from alphapanda.embedded_broker import EmbeddedBroker, embedded_broker, kafka_missing
from alphapanda.end_offsets import end_offsets
from alphapanda.execution.registry import live_brokers
from alphapanda.kafka_connection import KafkaConnection
from alphapanda.kafka_io import topic_partitions
from alphapanda.market.feeds import ReplayProgress
from alphapanda.market.tape import TapeTick, read_tape
from alphapanda.models import EventType
from alphapanda.models.wire import decode_event
from alphapanda.topics import BrokerTopics, all_topics

__all__ = ["BacktestError", "BacktestConfig", "run_backtest", "DEFINITIONS"]

#: One partition per topic: the worker then reads the ticks in the tape's order, and every later
#: stage its input in the order that made it. With more, the interleaving of partitions (which
#: instrument's signal reaches the risk checks first, and so the rate and exposure limits) would
#: differ from run to run, and so would the report.
PARTITIONS = 1
#: The run is over once nothing moved for this long with nothing left to read.
QUIET_SECONDS = 1.5
POLL_SECONDS = 0.25

DEFINITIONS = {
    "trades": "fills that closed all or part of a position",
    "win_rate": "share of trades whose realized PnL (after their commission) is above zero",
    "equity": "realized plus unrealized PnL, marked at every tick of a held instrument (event time)",
    "max_drawdown": "largest fall of equity from its running peak, in money",
    "sharpe": (f"mean / standard deviation of the equity change per {BAR_SECONDS // 60}-minute event-time bar, "
               f"as a return on the broker's starting cash, times sqrt(252 x 375) = {ANNUALIZATION:.1f} "
               "(NSE's 375 trading minutes, 252 sessions a year); bars with at least one tick; no "
               "risk-free rate; null with fewer than two returns"),
    "exposure_time": "share of the tape's event time with an open position",
    "max_gross_exposure": "largest gross notional held, at the marks",
    "commissions": "paid on every fill, already inside realized PnL",
}


class BacktestError(RuntimeError):
    """The backtest could not run; the message says why."""


@dataclass(frozen=True)
class BacktestConfig:
    tape: Path
    strategies_dir: Path
    brokers: tuple[str, ...]
    settings: object  # alphapanda.settings.Settings: broker kind, heap, starting cash
    keep: bool = False


def _say(message: str) -> None:
    print(f"backtest: {message}", file=sys.stderr, flush=True)


def pipeline_settings_env(settings) -> dict[str, str]:
    """The user's settings that shape the fills, as the worker's variables.

    The worker starts in the temporary folder (no ``.env`` there) with ``TRADING__*`` taken out of
    its environment, so what the command loaded (environment and ``.env``) is handed on: the paper
    fill model and starting cash, the risk limits, the snapshot interval and the venue plugins.
    """
    env = {f"TRADING__PAPER__{name.upper()}": str(value)
           for name, value in settings.trading.paper.model_dump().items()}
    for broker, limits in settings.risk.items():
        for limit, value in limits.items():
            env[f"RISK__{broker.upper()}__{limit.upper()}"] = json.dumps(value)
    env["PORTFOLIO__SNAPSHOT_INTERVAL_SECONDS"] = str(settings.portfolio.snapshot_interval_seconds)
    if settings.venue_plugins:
        env["VENUE_PLUGINS"] = ",".join(settings.venue_plugins)
        # The plugins import from where the command was started, not the temporary folder.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH", "")) if p)
    return env


def paper_brokers(active: tuple[str, ...]) -> tuple[str, ...]:
    live = live_brokers()
    return tuple(b for b in active if b not in live)


async def run_backtest(config: BacktestConfig, *, progress_stream: TextIO = sys.stderr,
                       say: Callable[[str], None] = _say) -> dict:
    """Run the tape and return the report (CONTRACTS.md "Backtest report" keys and more)."""
    if not config.tape.is_file():
        raise BacktestError(f"{config.tape}: no such tape file")
    if not config.brokers:
        raise BacktestError("no paper broker in ACTIVE_BROKERS: a backtest fills only paper brokers")
    settings = config.settings
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="alphapanda-backtest-"))
    broker: EmbeddedBroker | None = None
    worker: BenchWorker | None = None
    try:
        kind = settings.embedded_broker
        if kind == "kafka" and (missing := kafka_missing()):
            say(f"{missing}; using the memory-only Tansu broker")
            kind = "tansu"
        broker = embedded_broker(kind, "127.0.0.1", free_port(), root / "cluster", heap_mb=settings.embedded_broker_heap_mb)
        broker.start()
        connection = KafkaConnection(bootstrap=broker.address)
        await ensure_topics(connection, all_topics(config.brokers), PARTITIONS)
        say(f"embedded {broker.kind} broker at {broker.address}; brokers: {', '.join(config.brokers)}")
        worker = BenchWorker("backtest", root, {
            "ACTIVE_BROKERS": ",".join(config.brokers), "KAFKA_URL": f"kafka://{broker.address}",
            "TOPIC_PARTITIONS": str(PARTITIONS), "TOPIC_REPLICATION_FACTOR": "1",
            "STRATEGIES_DIR": str(config.strategies_dir), "STORE_URL": "rocksdb://",
            "KAFKA__SECURITY_PROTOCOL": "PLAINTEXT", "KAFKA__SSL_CAFILE": "", "KAFKA__SSL_CERTFILE": "",
            "KAFKA__SSL_KEYFILE": "", "TRACING__ENABLED": "false", **pipeline_settings_env(settings),
        })
        worker.start()
        await worker.wait_ready()
        # Not a terminal, so the replay's own bar stays off: ours counts handled ticks instead.
        replayed = await replay_tape(config.tape, connection, speed=0, progress_stream=io.StringIO())
        say(f"published {replayed.published:,} ticks ({replayed.invalid} invalid lines) in {replayed.seconds:.1f} s")
        await _wait_until_done(worker, replayed.published, progress_stream)
        fills = await _read_fills(connection, config.brokers)
        summaries = {}
        for name in config.brokers:
            status, body = await worker.get_json(f"/api/v1/portfolios/{name}/summary")
            if status != 200:
                raise BacktestError(f"the worker answered {status} for the {name} portfolio: {body}")
            summaries[name] = body
        wall = time.monotonic() - started
    except BacktestError:
        raise
    except Exception as exc:
        tail = f"\n{worker.tail()}" if worker is not None else ""
        raise BacktestError(f"{type(exc).__name__}: {exc}{tail}") from exc
    finally:
        if worker is not None:
            await worker.close()
        if broker is not None:
            broker.stop()
        if config.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return build_report(config, replayed.published, replayed.invalid, fills, summaries, wall)


async def _wait_until_done(worker: BenchWorker, ticks: int, stream: TextIO) -> None:
    bar = ProgressBar(ticks, stream, label="backtest")
    began = time.monotonic()
    quiet_since, last_total = None, None
    while True:
        worker.check_alive()
        text = await worker.metrics_text()
        processed, _ = processed_from_metrics(text)
        bar.update(ReplayProgress(lines=processed, published=processed, invalid=0,
                                  elapsed=time.monotonic() - began, done=False))
        total = _all_processed(text)
        if processed >= ticks and await _nothing_to_read(worker):
            if total == last_total:
                if quiet_since is not None and time.monotonic() - quiet_since >= QUIET_SECONDS:
                    break
                quiet_since = quiet_since or time.monotonic()
            else:
                quiet_since = None
        else:
            quiet_since = None
        last_total = total
        await asyncio.sleep(POLL_SECONDS)
    bar.update(ReplayProgress(lines=ticks, published=ticks, invalid=0, elapsed=time.monotonic() - began, done=True))


def _all_processed(text: str) -> float:
    """Events every stage handled or dead-lettered: unchanged while the pipeline is idle."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(("trading_events_processed_total{", "trading_dlq_messages_total{")))


async def _nothing_to_read(worker: BenchWorker) -> bool:
    status, health = await worker.get_json("/api/v1/health")
    if not health:
        return False
    lags = [health.get("market", {}).get("consumer_lag", 0)]
    for entry in health.get("brokers", {}).values():
        lags.extend(entry.get("consumer_lag", {}).values())
    return all(lag == 0 for lag in lags)


async def _read_fills(connection: KafkaConnection, brokers: tuple[str, ...]) -> list[FillRecord]:
    consumer = AIOKafkaConsumer(**connection.options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    fills: list[FillRecord] = []
    try:
        for broker in brokers:
            tps = await topic_partitions(consumer, BrokerTopics(broker).orders_filled)
            ends = await end_offsets(consumer, tps)
            wanted = {tp: end for tp, end in ends.items() if end > 0}
            if not wanted:
                continue
            consumer.assign(list(wanted))
            await consumer.seek_to_beginning(*wanted)
            while not await _reached(consumer, wanted):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        event = decode_event(record.value, EventType.ORDER_FILLED)
                        f = event.data
                        fills.append(FillRecord(
                            broker=broker, strategy_id=f.strategy_id, instrument_token=f.instrument_token,
                            side=str(f.side), quantity=f.quantity, price=f.fill_price, commission=f.commission,
                            at=f.filled_at or event.timestamp, fill_id=f.fill_id,
                        ))
    finally:
        await consumer.stop()
    # Once per fill id (a redelivered order re-sends the same fill). A broker's fills are in the
    # order its portfolio applied them (one partition per account: the topic's order), which
    # decides average prices; brokers are merged by fill time.
    per_broker: dict[str, dict[str, FillRecord]] = {}
    for f in fills:
        per_broker.setdefault(f.broker, {}).setdefault(f.fill_id, f)
    return list(heapq.merge(*(list(b.values()) for b in per_broker.values()), key=lambda f: f.at))


async def _reached(consumer: AIOKafkaConsumer, ends: dict) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


def build_report(config: BacktestConfig, ticks: int, invalid: int, fills: list[FillRecord],
                 summaries: dict, wall_seconds: float) -> dict:
    """The report: fills and the tape's prices merged in event time into the books."""
    cash = config.settings.trading.paper.starting_cash
    books = BacktestBooks({broker: cash for broker in config.brokers})
    pending = iter(fills)
    next_fill = next(pending, None)
    first_at = last_at = None
    for line in read_tape(config.tape):
        if not isinstance(line, TapeTick):
            continue
        tick = line.tick
        # A fill happens at its tick: fills up to this tick's time first, then the tick's mark.
        while next_fill is not None and next_fill.at <= tick.timestamp:
            books.on_fill(next_fill)
            next_fill = next(pending, None)
        books.on_tick(tick.instrument_token, tick.last_price, tick.timestamp)
        first_at = first_at or tick.timestamp
        last_at = tick.timestamp
    while next_fill is not None:
        books.on_fill(next_fill)
        next_fill = next(pending, None)

    def stamp(moment):
        return moment.isoformat().replace("+00:00", "Z") if moment else None

    return {
        "tape": config.tape.name,
        "ticks": ticks,
        "invalid_lines": invalid,
        "fills": len(fills),
        "first_tick_at": stamp(first_at),
        "last_tick_at": stamp(last_at),
        "event_hours": round(books.span_seconds / 3600, 6),
        "starting_cash": cash,
        "brokers": summaries,
        "broker_stats": books.brokers(),
        "strategies": books.strategies(),
        "definitions": DEFINITIONS,
        "curves": books.curves(),
        "wall_seconds": round(wall_seconds, 2),
    }


def report_json(report: dict) -> str:
    """The ``--json`` line: the report without the chart curves."""
    return json.dumps({k: v for k, v in report.items() if k != "curves"}, sort_keys=True)
