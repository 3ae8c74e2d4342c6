"""Market data end to end: the replay command, one feed per cluster, fills at the latest tick."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from alphapanda.market.simulated import SimulatedMarket, default_instruments
from tests.support.pipeline import Worker, envelope, wait_for

START = datetime(2026, 11, 23, 3, 45, tzinfo=timezone.utc)
SUMMARY = re.compile(
    r"published (\d+) ticks, (\d+) invalid lines to market\.ticks\.dlq in ([\d.]+) s \(([\d,]+) ticks/s\)"
)


def tick_lines(count: int, seed: int = 5) -> list[str]:
    market = SimulatedMarket(default_instruments(), seed=seed, order="random")
    return [json.dumps(t.model_dump(mode="json", exclude_none=True))
            for t in itertools.islice(market.ticks(START, 1000.0), count)]


def run_replay(cluster, tape, *args: str) -> subprocess.CompletedProcess:
    env = Worker(cluster, name="replay").environment()
    return subprocess.run(
        [sys.executable, "-m", "alphapanda", "replay", str(tape), *args],
        env=env, capture_output=True, text=True, timeout=180, cwd=cluster.root,
    )


def health(worker) -> dict:
    return worker.get("/api/v1/health")[1]


def test_replay_of_10000_ticks_puts_every_tick_on_market_ticks_in_order_per_instrument(cluster, tmp_path):
    valid = tick_lines(10_000)
    invalid = [
        json.dumps({"instrument_token": 408065, "last_price": 0, "timestamp": START.isoformat()}),
        '{"instrument_token": 738561, "last_price": NaN, "timestamp": "2026-11-23T03:45:00Z"}',
        json.dumps({"last_price": 1500.0, "timestamp": START.isoformat()}),
    ]
    lines = valid[:3000] + invalid[:1] + valid[3000:6000] + invalid[1:2] + valid[6000:] + invalid[2:]
    tape = tmp_path / "tape.jsonl"
    tape.write_text("\n".join(lines) + "\n")

    result = run_replay(cluster, tape, "--speed", "0")

    assert result.returncode == 0, result.stderr[-3000:]
    summary = SUMMARY.search(result.stdout.strip().splitlines()[-1])
    assert summary and summary.group(1) == "10000" and summary.group(2) == "3", result.stdout
    print(f"\nreplay rate: {summary.group(4)} ticks/s ({summary.group(3)} s for 10,000 ticks)")

    records = cluster.consume("market.ticks", expect=10_000, timeout=60)
    assert len(records) == 10_000
    events = [(r, json.loads(r["value"])) for r in records]
    assert all(r["key"] == str(e["data"]["instrument_token"]) for r, e in events)
    assert len({e["id"] for _, e in events}) == 10_000

    # Per instrument: one partition, and in offset order the tape's own order of prices and times.
    published: dict[str, list] = defaultdict(list)
    for record, event in sorted(events, key=lambda pair: (pair[0]["partition"], pair[0]["offset"])):
        published[record["key"]].append((record["partition"], event["data"]["timestamp"], event["data"]["last_price"]))
    expected: dict[str, list] = defaultdict(list)
    for line in valid:
        tick = json.loads(line)
        expected[str(tick["instrument_token"])].append(tick["last_price"])
    assert set(published) == set(expected)
    for token, rows in published.items():
        assert len({partition for partition, _, _ in rows}) == 1
        timestamps = [datetime.fromisoformat(ts) for _, ts, _ in rows]
        assert timestamps == sorted(timestamps)
        assert [price for _, _, price in rows] == expected[token]

    letters = [json.loads(r["value"]) for r in cluster.consume("market.ticks.dlq", expect=3, timeout=30)]
    reasons = {letter["data"]["value"]: letter["data"] for letter in letters}
    assert set(reasons) == set(invalid)
    assert "greater than 0" in reasons[invalid[0]]["error"] and "last_price" in reasons[invalid[0]]["error"]
    assert "last_price" in reasons[invalid[1]]["error"] and "finite" in reasons[invalid[1]]["error"]
    assert "instrument_token" in reasons[invalid[2]]["error"]
    assert all(d["service"] == "replay" and d["original_topic"] == "market.ticks" for d in reasons.values())


def test_a_paper_fill_is_priced_at_the_latest_replayed_tick_not_the_signal_reference(cluster, workers, tmp_path):
    tick_time = datetime.now(timezone.utc).replace(microsecond=0)
    tape = tmp_path / "one-tick.jsonl"
    tape.write_text(json.dumps({"instrument_token": 408065, "last_price": 1234.5,
                                "timestamp": tick_time.isoformat()}) + "\n")
    worker = workers(env={"MARKET_FEED": f"replay:{tape}", "REPLAY__SPEED": "0"})
    wait_for(lambda: health(worker)["feed"]["stopped_reason"] == "finished", message="the tape replayed")
    feed = health(worker)["feed"]
    assert feed["published"] == 1 and feed["running"] is False and feed["error"] is None

    # A signal of that instant whose reference price disagrees with the market: the market wins.
    signal = envelope("trading_signal", {
        "strategy_id": "manual", "instrument_token": 408065, "signal_type": "BUY", "quantity": 3,
        "price": 1500.0, "timestamp": tick_time.isoformat(),
    }, broker="paper", event_id="sig-latest-tick")
    cluster.produce("paper.signals.raw", [(b"paper", signal)])

    def fill():
        fills = cluster.events("paper.orders.filled", expect=1, timeout=2)
        return [f for f in fills if f["data"]["signal_id"] == "sig-latest-tick"]

    price = wait_for(fill, message="the fill")[0]["data"]["fill_price"]
    assert 1234.5 < price <= 1234.5 * 1.0005 + 0.05  # the tick's price plus 5 bps slippage, on the grid

    def marked_position():
        positions = worker.get("/api/v1/portfolios/paper/summary")[1]["positions"]
        return [p for p in positions if p["instrument_token"] == 408065 and p["last_price"] == 1234.5]

    wait_for(marked_position, message="the position marked at the latest tick")


def test_exactly_one_worker_publishes_the_feed_and_another_takes_over_when_it_stops(cluster, workers):
    env = {"MARKET_FEED": "simulated", "SIMULATION__TICKS_PER_SECOND": "20"}
    w1 = workers("w1", env=env)
    w2 = workers("w2", env=env)

    def publishers() -> list:
        return [w for w in (w1, w2) if health(w)["feed"]["running"]]

    wait_for(lambda: len(publishers()) == 1, message="one worker running the feed")
    for _ in range(8):  # never two at once, sampled over a few seconds
        assert len(publishers()) == 1
        time.sleep(0.5)
    leader = publishers()[0]
    other = w2 if leader is w1 else w1
    seen = cluster.consume("market.ticks", expect=1, timeout=10)
    feeds = {w.name: health(w)["feed"] for w in (w1, w2)}
    assert feeds[leader.name]["worker"] != feeds[other.name]["worker"]
    # Every tick on the topic is counted by one of the two feeds: nothing else publishes.
    assert 0 < len(seen) <= feeds[w1.name]["published"] + feeds[w2.name]["published"]

    stopped_at = datetime.now(timezone.utc)
    assert leader.stop() == 0
    wait_for(lambda: health(other)["feed"]["running"], timeout=30, message="the other worker takes the feed over")

    def new_ticks():
        events = cluster.events("market.ticks", expect=len(seen) + 1, timeout=3)
        return [e for e in events if datetime.fromisoformat(e["data"]["timestamp"]) > stopped_at]

    wait_for(new_ticks, timeout=15, message="ticks from the new leader")
    assert health(other)["feed"]["published"] > 0
