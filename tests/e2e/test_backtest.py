"""``alphapanda backtest`` and ``alphapanda record`` as a user runs them, through the real pipeline."""

import json
import os
import pty
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from itertools import islice
from pathlib import Path

from alphapanda.market.publisher import tick_envelope
from alphapanda.market.simulated import SimulatedMarket, default_instruments
from alphapanda.market.tape import TapeTick, read_tape
from alphapanda.models.wire import encode_event
from tests.support.pipeline import envelope, wait_for

START = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
#: Twenty rising ticks for each of six instruments: enough for momentum_v1 (a lookback of ten) to buy.
RECORDED_TICKS = 120


def write_tape(path: Path, ticks: int = 2400) -> Path:
    market = SimulatedMarket(default_instruments(), seed=11)
    lines = [encode_event(tick_envelope(t, source="tape", event_id=f"tick-{i:05d}")).decode()
             for i, t in enumerate(islice(market.ticks(START, rate_per_s=4.0), ticks))]
    lines[100:100] = ["not json", '{"instrument_token": 408065, "last_price": -1, "timestamp": "2026-11-23T04:00:30Z"}']
    path.write_text("\n".join(lines) + "\n")
    return path


def alphapanda(tmp_path: Path, *args: str, tty: bool = False) -> tuple[int, str, str]:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "ACTIVE_BROKERS": "paper,zerodha"}
    command = [sys.executable, "-m", "alphapanda", *args]
    if not tty:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        return done.returncode, done.stdout, done.stderr
    # stderr on a terminal (the progress bar), stdout to a pipe.
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=follower, cwd=tmp_path, text=True)
    os.close(follower)
    terminal = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        terminal += chunk
    out = process.stdout.read()
    process.wait(timeout=300)
    os.close(leader)
    return process.returncode, out, terminal.decode(errors="replace")


def without_wall_time(value):
    if isinstance(value, dict):
        return {k: without_wall_time(v) for k, v in value.items() if not (k.endswith("_seconds") or k.startswith("wall_"))}
    return value


def test_a_backtest_reports_per_strategy_the_same_every_time(tmp_path):
    tape = write_tape(tmp_path / "day.jsonl")
    # On a terminal (stderr): the progress bar; the JSON report on stdout, the page beside it.
    code, out, terminal = alphapanda(tmp_path, "backtest", str(tape), "--json", "--report", str(tmp_path / "report.html"),
                                     tty=True)
    assert code == 0, terminal[-3000:]
    assert "backtest [" in terminal and "100%" in terminal
    first = json.loads(out.strip().splitlines()[-1])
    assert (first["ticks"], first["invalid_lines"]) == (2400, 2)
    assert first["fills"] > 20 and set(first["brokers"]) == {"paper"}, "zerodha is live: never in a backtest"
    assert set(first["strategies"]) == {"momentum_v1", "mean_reversion_v1"}
    for stats in first["strategies"].values():
        assert {"trades", "realized_pnl", "unrealized_pnl", "total_pnl", "commissions", "win_rate",
                "max_drawdown", "sharpe", "exposure_time", "max_gross_exposure"} <= set(stats)
        assert stats["trades"] > 0 and stats["commissions"] > 0 and stats["max_drawdown"] >= 0
    # The strategies add up to the worker's own portfolio accounting.
    paper = first["brokers"]["paper"]
    assert abs(sum(s["realized_pnl"] for s in first["strategies"].values()) - paper["realized_pnl"]) < 1e-4
    assert abs(sum(s["unrealized_pnl"] for s in first["strategies"].values()) - paper["unrealized_pnl"]) < 1e-4
    assert paper["fills"] == first["fills"] and paper["updated_at"].startswith("2026-11-23T04:")
    assert "sqrt(252 x 375)" in first["definitions"]["sharpe"]

    # One self-contained page: inline SVG charts, nothing loaded from anywhere.
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") == 4 and "Drawdown" in page and "momentum_v1" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page

    # Again: the very same report, field for field, but for wall time.
    code, out, err = alphapanda(tmp_path, "backtest", str(tape), "--json")
    assert code == 0, err[-3000:]
    assert without_wall_time(json.loads(out.strip().splitlines()[-1])) == without_wall_time(first)


def test_a_backtest_refuses_a_missing_tape_and_bad_strategies(tmp_path):
    code, _, err = alphapanda(tmp_path, "backtest", str(tmp_path / "none.jsonl"))
    assert code == 1 and "no such tape file" in err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.yaml").write_text("id: x\nkind: nothing\n")
    code, _, err = alphapanda(tmp_path, "backtest", str(write_tape(tmp_path / "t.jsonl", 10)), "--strategies", str(bad))
    assert code == 1 and "invalid strategy files" in err


def test_record_writes_a_tape_in_time_order_that_replay_and_backtest_read(cluster, tmp_path):
    env = {**os.environ, **cluster.env(), "DATA_DIR": str(tmp_path / "data")}
    # Ticks of six instruments over four partitions: each partition in order, not across them.
    at = START
    messages = []
    for i in range(RECORDED_TICKS):
        token = default_instruments()[i % 6].instrument_token
        data = {"instrument_token": token, "last_price": 100.0 + i, "timestamp": (at + timedelta(seconds=i)).isoformat()}
        messages.append((str(token).encode(), envelope("market_tick", data, broker=None)))
    cluster.produce("market.ticks", messages + [(b"1", b"not a tick")])
    path = tmp_path / "recorded.jsonl"
    done = subprocess.run([sys.executable, "-m", "alphapanda", "record", str(path), "--from-beginning", "--seconds", "0"],
                          env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"recorded {RECORDED_TICKS} ticks" in done.stdout and "skipped 1 message(s) that are not valid ticks" in done.stdout
    lines = list(read_tape(path))
    assert all(isinstance(line, TapeTick) for line in lines) and len(lines) == RECORDED_TICKS
    stamps = [line.tick.timestamp for line in lines]
    assert stamps == sorted(stamps) and [line.tick.last_price for line in lines] == [100.0 + i for i in range(RECORDED_TICKS)]

    # Live: from the end, until --max-ticks.
    live = tmp_path / "live.jsonl"
    recorder = subprocess.Popen([sys.executable, "-m", "alphapanda", "record", str(live), "--max-ticks", "3"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    wait_for(lambda: live.exists(), timeout=60, message="the recorder started")
    import time
    time.sleep(2)  # its consumer is at the end of every partition
    cluster.produce("market.ticks", messages[:5])
    out, err = recorder.communicate(timeout=60)
    assert recorder.returncode == 0 and "recorded 3 ticks" in out, err[-2000:]
    assert len(list(read_tape(live))) == 3

    # replay reads the recorded tape back.
    replayed = subprocess.run([sys.executable, "-m", "alphapanda", "replay", str(path), "--speed", "0"],
                              env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert replayed.returncode == 0 and f"published {RECORDED_TICKS} ticks, 0 invalid lines" in replayed.stdout, replayed.stderr[-2000:]

    # backtest reads it too, with the fill model and starting cash of the .env where it is run.
    (tmp_path / ".env").write_text("TRADING__PAPER__COMMISSION=none\nTRADING__PAPER__STARTING_CASH=250000\n")
    code, out, err = alphapanda(tmp_path, "backtest", str(path), "--json")
    assert code == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert (report["ticks"], report["invalid_lines"], report["starting_cash"]) == (RECORDED_TICKS, 0, 250000.0)
    paper = report["brokers"]["paper"]
    # The worker's own account opened with the .env's cash, and charged no commission.
    assert abs(paper["equity"] - (250000.0 + paper["total_pnl"])) < 1e-3, paper
    assert report["fills"] > 0 and paper["fills"] == report["fills"]
    assert all(s["commissions"] == 0 for s in report["strategies"].values())
