"""Market feeds: simulated schedule and determinism, replay with dead letters, the feed runner's state."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
from datetime import datetime, timedelta, timezone

import pytest

from alphapanda.cli.replay import ProgressBar, ReplaySummary, count_lines
from alphapanda.market.feeds import (
    FeedConfigError,
    FeedRunner,
    FeedState,
    KiteFeed,
    ReplayFeed,
    ReplayProgress,
    SimulatedFeed,
    build_feed,
    kite_tokens,
    simulated_instruments,
    tape_event_id,
)
from alphapanda.market.hours import MarketHours
from alphapanda.market.instruments import load_instrument_master
from alphapanda.market.simulated import SimulatedMarket, default_instruments
from alphapanda.market.tape import read_tape
from alphapanda.models import Envelope, EventType, MarketTick
from alphapanda.models.wire import decode_event, encode_event
from alphapanda.settings import Settings
from alphapanda.topics import MARKET_TICKS

START = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)  # 09:30 IST on a Monday
SUNDAY = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
MASTER = load_instrument_master()


class RecordingSink:
    """A TickSink that keeps (topic, key, value) as the broker would receive them."""

    def __init__(self, *, fail_on_start: bool = False) -> None:
        self.messages: list[tuple[str, bytes | None, bytes]] = []
        self.started = self.stopped = False
        self.fail_on_start = fail_on_start

    async def start(self) -> None:
        if self.fail_on_start:
            raise ConnectionError("no broker")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def publish(self, events, *, wait: bool = True) -> int:
        events = list(events)
        for event in events:
            self.messages.append((MARKET_TICKS, str(event.data.instrument_token).encode(), encode_event(event)))
        return len(events)

    async def publish_raw(self, key, value, topic=None):
        self.messages.append((topic or MARKET_TICKS, key, value))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def on(self, topic: str) -> list[tuple[bytes | None, dict]]:
        return [(key, json.loads(value)) for t, key, value in self.messages if t == topic]

    def ticks(self) -> list[MarketTick]:
        return [decode_event(v, EventType.MARKET_TICK).data for t, _, v in self.messages if t == MARKET_TICKS]


async def run_for(feed, seconds: float, sink=None, state=None):
    sink = sink or RecordingSink()
    state = state or FeedState(kind="test")
    task = asyncio.create_task(feed.run(sink, state))
    await asyncio.sleep(seconds)
    await feed.stop()
    await asyncio.wait_for(task, 2.0)
    return sink, state


def settings(**overrides) -> Settings:
    return Settings(_env_file=None, **overrides)


# --- simulated ---------------------------------------------------------------------------------


async def test_the_simulated_feed_publishes_the_seeded_market_on_its_event_time_schedule():
    feed = SimulatedFeed(SimulatedMarket(default_instruments(), seed=11), 500.0, start=START)
    sink, state = await run_for(feed, 0.3)
    published = sink.ticks()
    expected = list(itertools.islice(SimulatedMarket(default_instruments(), seed=11).ticks(START, 500.0),
                                     len(published)))
    assert len(published) > 50
    assert [t.model_dump_json() for t in published] == [t.model_dump_json() for t in expected]
    assert state.schedule_start == START and state.published == len(published)


@pytest.mark.serial  # counts ticks published in wall-clock time
async def test_the_same_seed_and_start_give_the_same_ticks_in_two_runs():
    runs = []
    for _ in range(2):
        feed = SimulatedFeed(SimulatedMarket(default_instruments(), seed=3), 400.0, start=START)
        sink, _ = await run_for(feed, 0.2)
        runs.append([t.model_dump_json() for t in sink.ticks()])
    shorter = min(len(r) for r in runs)
    assert shorter > 20 and runs[0][:shorter] == runs[1][:shorter]


async def test_the_simulated_feed_keeps_its_rate():
    feed = SimulatedFeed(SimulatedMarket(default_instruments(), seed=1), 200.0)
    sink, _ = await run_for(feed, 1.0)
    assert 170 <= len(sink.ticks()) <= 230


async def test_ticks_are_keyed_by_their_instrument_token():
    feed = SimulatedFeed(SimulatedMarket(default_instruments(), seed=1), 300.0)
    sink, _ = await run_for(feed, 0.2)
    assert all(key == str(json.loads(value)["data"]["instrument_token"]).encode()
               for _, key, value in sink.messages)


async def test_with_market_hours_nothing_is_published_while_the_market_is_closed():
    feed = SimulatedFeed(SimulatedMarket(default_instruments(), seed=1), 500.0,
                         hours=MarketHours(), clock=lambda: SUNDAY)
    sink, state = await run_for(feed, 0.2)
    assert sink.messages == [] and state.market_open is False


def test_depth_is_on_at_low_rates_and_off_at_high_rates_unless_configured():
    def depth_of(**simulation) -> bool:
        feed = build_feed("simulated", settings(simulation=simulation))
        ticks = list(itertools.islice(feed.market.ticks(START, 10.0), 6))
        return any(t.depth is not None for t in ticks)

    assert depth_of(ticks_per_second=20) is True
    assert depth_of(ticks_per_second=5000) is False
    assert depth_of(ticks_per_second=5000, depth=True) is True


def test_simulated_instruments_default_to_the_bundled_set():
    assert simulated_instruments((), MASTER) == default_instruments()


def test_simulated_instruments_take_tokens_symbols_and_start_prices():
    specs = simulated_instruments(("408065", "NSE:TCS@3600", "SBIN@800.5"), MASTER)
    assert [(s.instrument_token, s.tradingsymbol, s.start_price) for s in specs] == [
        (408065, "INFY", 1500.0), (2953217, "TCS", 3600.0), (779521, "SBIN", 800.5),
    ]


@pytest.mark.parametrize("entries, message", [
    (("SBIN",), "needs a start price"),
    (("NSE:NOPE@10",), "not in the instrument master"),
    (("408065@-3",), "start price must be a number > 0"),
    (("408065", "INFY"), "listed twice"),
])
def test_bad_simulated_instruments_name_the_variable(entries, message):
    with pytest.raises(FeedConfigError, match=f"SIMULATION__INSTRUMENTS: .*{message}"):
        simulated_instruments(entries, MASTER)


# --- replay ------------------------------------------------------------------------------------


def tick_line(token: int, price, second: float, **extra) -> str:
    return json.dumps({"instrument_token": token, "last_price": price,
                       "timestamp": (START + timedelta(seconds=second)).isoformat(), **extra})


def envelope_line(token: int, price: float, event_id: str) -> str:
    tick = MarketTick(instrument_token=token, last_price=price, timestamp=START)
    return encode_event(Envelope[MarketTick](id=event_id, type=EventType.MARKET_TICK,
                                             correlation_id=event_id, source="recorder", data=tick)).decode()


@pytest.fixture
def tape(tmp_path):
    path = tmp_path / "tape.jsonl"
    path.write_text("\n".join([
        tick_line(408065, 1500.0, 0),
        envelope_line(738561, 1300.0, "recorded-1"),
        tick_line(408065, 0, 1),                                          # price <= 0
        '{"instrument_token": 2953217, "last_price": NaN, "timestamp": "2026-11-23T04:00:00Z"}',
        json.dumps({"last_price": 10.0, "timestamp": START.isoformat()}),  # no token
        "{not json",
        tick_line(408065, 1501.0, 2),
    ]) + "\n")
    return path


async def replay(path, **options):
    sink, state = RecordingSink(), FeedState(kind="replay")
    feed = ReplayFeed(path, **options)
    await feed.run(sink, state)
    return sink, state, feed


async def test_replay_publishes_every_valid_line_keyed_by_token_in_tape_order(tape):
    sink, state, _ = await replay(tape, speed=0)
    ticks = sink.on(MARKET_TICKS)
    assert [(key, e["data"]["last_price"]) for key, e in ticks] == [
        (b"408065", 1500.0), (b"738561", 1300.0), (b"408065", 1501.0),
    ]
    assert state.published == 3 and state.last_tick_at == START + timedelta(seconds=2)


async def test_replay_keeps_an_envelopes_id_and_derives_stable_ids_for_payload_lines(tape):
    first, _, _ = await replay(tape, speed=0)
    second, _, _ = await replay(tape, speed=0)
    ids = [e["id"] for _, e in first.on(MARKET_TICKS)]
    assert ids[1] == "recorded-1"
    assert ids == [e["id"] for _, e in second.on(MARKET_TICKS)] and len(set(ids)) == 3
    assert all(e["source"] == "replay" and e["correlation_id"] == e["id"] for _, e in first.on(MARKET_TICKS))


async def test_invalid_lines_become_dead_letters_with_their_reason_and_the_rest_goes_through(tape):
    sink, state, _ = await replay(tape, speed=0)
    letters = sink.on(MARKET_TICKS + ".dlq")
    assert state.invalid == 4 and len(letters) == 4
    by_line = {int(e["data"]["error"].split(":")[0].removeprefix("line ")): (key, e) for key, e in letters}
    assert sorted(by_line) == [3, 4, 5, 6]
    key, price_zero = by_line[3]
    assert key == b"408065" and price_zero["type"] == "dead_letter"
    data = price_zero["data"]
    assert data["original_topic"] == MARKET_TICKS and data["partition"] is None and data["offset"] is None
    assert data["error_type"] == "ValidationError" and "last_price" in data["error"]
    assert data["service"] == "replay" and data["value"] == tape.read_text().splitlines()[2]
    assert by_line[4][0] == b"2953217" and "last_price" in by_line[4][1]["data"]["error"]
    assert by_line[5][0] is None and "instrument_token" in by_line[5][1]["data"]["error"]
    assert by_line[6][1]["data"]["error_type"] == "DecodeError"
    assert len({e["id"] for _, e in letters}) == 4


async def test_replay_at_speed_one_follows_the_tick_timestamps(tmp_path):
    path = tmp_path / "paced.jsonl"
    path.write_text("\n".join(tick_line(408065, 1500.0 + i, i * 0.15) for i in range(3)) + "\n")
    loop = asyncio.get_running_loop()
    started = loop.time()
    sink, _, _ = await replay(path, speed=1)
    elapsed = loop.time() - started
    assert len(sink.on(MARKET_TICKS)) == 3 and 0.28 <= elapsed < 0.6


async def test_replay_at_speed_zero_does_not_wait(tmp_path):
    path = tmp_path / "hours.jsonl"
    path.write_text("\n".join(tick_line(408065, 1500.0, i * 3600) for i in range(3)) + "\n")
    sink, _, _ = await asyncio.wait_for(replay(path, speed=0), 1.0)
    assert len(sink.on(MARKET_TICKS)) == 3


async def test_stopping_a_replay_ends_it_during_a_wait(tmp_path):
    path = tmp_path / "slow.jsonl"
    path.write_text("\n".join(tick_line(408065, 1500.0, i * 60) for i in range(3)) + "\n")
    feed = ReplayFeed(path, speed=1)
    sink, _ = await run_for(feed, 0.1)
    assert len(sink.on(MARKET_TICKS)) == 1


async def test_replay_reports_progress_and_a_final_count(tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(tick_line(408065, 1000.0 + i, i) for i in range(250)) + "\n")
    seen = []
    _, _, feed = await replay(path, speed=0, on_progress=seen.append, progress_every=100, window=64)
    assert [p.lines for p in seen] == [100, 200, 250] and seen[-1].done
    assert feed.last_progress.published == 250 and feed.last_progress.invalid == 0


def test_tape_ids_differ_by_line_even_for_identical_text(tmp_path):
    path = tmp_path / "same.jsonl"
    path.write_text(tick_line(408065, 1500.0, 0) + "\n" + tick_line(408065, 1500.0, 0) + "\n")
    first, second = read_tape(path)
    assert tape_event_id(first) != tape_event_id(second)


def test_a_replay_feed_needs_an_existing_tape(tmp_path):
    with pytest.raises(FeedConfigError, match="does not exist"):
        build_feed(f"replay:{tmp_path / 'missing.jsonl'}", settings())


def test_the_replay_feed_takes_its_speed_from_the_settings(tape):
    feed = build_feed(f"replay:{tape}", settings(replay={"speed": 0, "max_wait": 5}))
    assert isinstance(feed, ReplayFeed) and feed.speed == 0 and feed.max_wait == 5


# --- kite settings -----------------------------------------------------------------------------


def test_the_kite_feed_needs_credentials_and_names_the_missing_ones():
    with pytest.raises(FeedConfigError, match="ZERODHA__API_KEY, ZERODHA__ACCESS_TOKEN"):
        build_feed("kite", settings())


def test_the_kite_feed_subscribes_the_strategies_instruments_by_default():
    feed = build_feed("kite", settings(zerodha={"api_key": "k", "access_token": "t"}))
    assert isinstance(feed, KiteFeed)
    assert set(feed.tokens) >= {256265, 408065, 738561} and len(feed.tokens) == len(set(feed.tokens))


def test_the_kite_feed_uses_configured_tokens_mode_and_hours():
    feed = build_feed("kite", settings(
        zerodha={"api_key": "k", "access_token": "t"}, active_brokers="paper,zerodha",
        kite={"tokens": "NSE:INFY,738561", "mode": "full"}, market_hours={"holidays": "2026-11-24"},
    ))
    assert feed.tokens == [408065, 738561] and feed.mode == "full"
    assert feed.hours is not None and not feed.hours.is_open(datetime(2026, 11, 24, 5, 0, tzinfo=timezone.utc))
    assert feed.order_updates_topic == "zerodha.orders.updates"


def test_market_hours_can_be_switched_off_for_kite_and_on_for_simulated():
    base = dict(zerodha={"api_key": "k", "access_token": "t"}, market_hours={"enforce": False})
    assert build_feed("kite", settings(**base)).hours is None
    assert build_feed("simulated", settings()).hours is None
    assert build_feed("simulated", settings(market_hours={"enforce": True})).hours is not None


def test_order_updates_are_not_published_when_zerodha_is_not_active():
    feed = build_feed("kite", settings(zerodha={"api_key": "k", "access_token": "t"}, active_brokers="paper"))
    assert feed.order_updates_topic is None


def test_the_kite_feed_never_shows_its_credentials():
    feed = build_feed("kite", settings(zerodha={"api_key": "apikey123", "access_token": "tok456"}))
    assert "apikey123" not in repr(feed) and "tok456" not in repr(feed)


def test_kite_tokens_reject_unknown_symbols():
    with pytest.raises(FeedConfigError, match="KITE__TOKENS: 'NSE:NOPE'"):
        kite_tokens(("NSE:NOPE",), MASTER)


# --- the runner --------------------------------------------------------------------------------


class ScriptedFeed:
    """A feed that publishes nothing and ends as told: on stop, by finishing, or by failing."""

    def __init__(self, *, finish_after: float | None = None, fail_with: Exception | None = None,
                 ignore_stop: bool = False) -> None:
        self.finish_after, self.fail_with, self.ignore_stop = finish_after, fail_with, ignore_stop
        self.stopping = False
        self._stopped = asyncio.Event()

    async def run(self, sink, state) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if self.ignore_stop:
            await asyncio.sleep(3600)
        try:
            await asyncio.wait_for(self._stopped.wait(), self.finish_after)
        except asyncio.TimeoutError:
            pass

    async def stop(self) -> None:
        self.stopping = True
        self._stopped.set()


def runner_for(feed, sink=None, **options) -> tuple[FeedRunner, FeedState, RecordingSink]:
    state, sink = FeedState(kind="test", worker="host:1"), sink or RecordingSink()
    return FeedRunner(lambda: feed, lambda: sink, state, **options), state, sink


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_state_is_running_from_start_and_cleared_on_stop_with_the_reason():
    runner, state, sink = runner_for(ScriptedFeed())
    before = asyncio.all_tasks()
    runner.start()
    await settle()
    assert state.running and state.started_at is not None and runner.active and sink.started
    await runner.stop("lost leadership")
    assert not state.running and state.stopped_reason == "lost leadership" and state.error is None
    assert sink.stopped and not runner.active and asyncio.all_tasks() == before


async def test_a_feed_that_gives_up_leaves_the_state_failed_with_its_error():
    runner, state, sink = runner_for(ScriptedFeed(fail_with=RuntimeError("gave up after 51 attempts")))
    runner.start()
    await settle()
    assert not state.running and state.stopped_reason == "failed"
    assert state.error == "RuntimeError: gave up after 51 attempts" and sink.stopped
    assert runner.active  # not restarted while this worker stays leader


async def test_stopping_a_failed_feed_clears_its_error():
    runner, state, _ = runner_for(ScriptedFeed(fail_with=RuntimeError("boom")))
    runner.start()
    await settle()
    await runner.stop("lost leadership")
    assert state.error is None and state.stopped_reason == "lost leadership" and not runner.active


async def test_a_feed_that_ends_is_finished_without_error():
    runner, state, _ = runner_for(ScriptedFeed(finish_after=0.01))
    runner.start()
    await asyncio.sleep(0.05)
    assert not state.running and state.stopped_reason == "finished" and state.error is None


async def test_a_new_start_clears_the_previous_error():
    failing = ScriptedFeed(fail_with=RuntimeError("boom"))
    runner, state, _ = runner_for(failing)
    runner.start()
    await settle()
    await runner.stop("lost leadership")
    failing.fail_with = None
    runner.start()
    await settle()
    assert state.running and state.error is None
    await runner.stop("worker stopping")


async def test_a_feed_that_ignores_stop_is_cancelled_after_the_timeout():
    runner, state, sink = runner_for(ScriptedFeed(ignore_stop=True), stop_timeout=0.05)
    runner.start()
    await settle()
    await asyncio.wait_for(runner.stop("worker stopping"), 1.0)
    assert not state.running and state.stopped_reason == "worker stopping" and sink.stopped


async def test_a_sink_that_cannot_start_fails_the_feed():
    runner, state, _ = runner_for(ScriptedFeed(), sink=RecordingSink(fail_on_start=True))
    runner.start()
    await settle()
    assert not state.running and "no broker" in state.error


async def test_the_runner_reports_every_change():
    changes = []
    runner, _, _ = runner_for(ScriptedFeed(), on_change=lambda s: changes.append(s.running))
    runner.start()
    await settle()
    await runner.stop("worker stopping")
    assert changes[0] is True and changes[-1] is False


def test_the_feed_state_shows_the_worker_and_counters():
    state = FeedState(kind="simulated", worker="host:42")
    state.record_ticks(3, START)
    shown = state.as_dict()
    assert shown["worker"] == "host:42" and shown["published"] == 3
    assert shown["last_tick_at"] == START.isoformat() and shown["running"] is False


# --- the replay command's terminal output -------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_redraws_one_line_on_a_terminal():
    stream = Terminal()
    bar = ProgressBar(200, stream, label="tape.jsonl", hz=1e9)
    bar.update(ReplayProgress(lines=100, published=99, invalid=1, elapsed=0.5))
    bar.update(ReplayProgress(lines=200, published=198, invalid=2, elapsed=1.0, done=True))
    first, second = stream.getvalue().split("\r")[1:]
    assert first.startswith("tape.jsonl [" + "#" * 15 + "-" * 15 + "]  50% 100/200 lines 198 ticks/s")
    assert "100% 200/200 lines" in second and second.endswith("\n")


def test_the_progress_bar_is_silent_when_not_a_terminal():
    stream = io.StringIO()
    ProgressBar(10, stream).update(ReplayProgress(lines=10, published=10, invalid=0, elapsed=1.0, done=True))
    assert stream.getvalue() == ""


def test_count_lines_counts_a_last_line_without_newline(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"a\nb\nc")
    assert count_lines(path) == 3
    path.write_bytes(b"a\nb\n")
    assert count_lines(path) == 2


def test_the_summary_line_says_what_was_published_and_how_fast():
    assert ReplaySummary(published=10_000, invalid=3, seconds=0.5).line() == (
        "published 10000 ticks, 3 invalid lines to market.ticks.dlq in 0.50 s (20,000 ticks/s)"
    )
