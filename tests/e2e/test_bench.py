"""``alphapanda bench`` end to end, small: its own broker and worker, one JSON object as the last line."""

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.pipeline import REPO


@pytest.mark.serial  # a benchmark: alone on the machine, as its figures assume
def test_a_small_bench_run_reports_every_figure_of_the_contract(tmp_path):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "alphapanda", "bench", "--json", "--ticks", "3000", "--instruments", "10",
         "--strategies", "2", "--rate", "200", "--duration-seconds", "6", "--signal-every", "20",
         "--chain-seconds", "2"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DATA_DIR": str(tmp_path / "var")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["ticks_per_second"] > 0 and report["relay_ticks_per_second"] > 0
    assert report["ratio"] == round(report["ticks_per_second"] / report["relay_ticks_per_second"], 3)
    # The second yardstick, the same relay on librdkafka, on the same bytes.
    assert report["confluent_relay_skipped"] is None and report["confluent_relay_ticks_per_second"] > 0
    assert report["confluent_ratio"] == round(report["ticks_per_second"] / report["confluent_relay_ticks_per_second"], 3)
    assert report["rate"] == 200
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"] <= report["latency_ms"]["p99"]
    assert report["fills"]["expected"] > 0 and report["fills"]["received"] == report["fills"]["expected"]
    # The yardstick: every signalling tick crosses the raw relay chain.
    chain = report["relay_chain"]
    assert chain["seconds"] == 2 and chain["expected"] > 0 and chain["received"] == chain["expected"]
    assert 0 < report["relay_latency_ms"]["p50"] <= report["relay_latency_ms"]["p99"]
    series = report["latency_series"]
    assert sum(window["n"] for window in series) == report["fills"]["received"]
    assert all(0 < window["p50"] <= window["p99"] <= report["latency_ms"]["max"] for window in series)
    assert report["rss_mb"]["start"] > 0 and report["rss_mb"]["end"] > 0
    # Memory samples say how much of it is RocksDB's (a bench worker uses rocksdb://), once the
    # worker has published that gauge (every 5 s, from its first table partitions on).
    last = report["rss_series"][-1]
    assert 0 < last["rocksdb_mb"][0] < last["rss_mb"][0]
    fetch = report["broker_tail_fetch_ms"]
    assert 0 < fetch["before_paced"] < 5000 and 0 < fetch["after_paced"] < 5000
    # A small run stays small (about 30 s alone).
    assert time.monotonic() - started < 60


def test_sigterm_stops_the_bench_with_its_workers_and_broker(tmp_path):
    log = tmp_path / "bench.log"
    with open(log, "w") as out:
        bench = subprocess.Popen(
            [sys.executable, "-m", "alphapanda", "bench", "--ticks", "2000", "--instruments", "10",
             "--strategies", "1", "--rate", "50", "--duration-seconds", "600", "--chain-seconds", "0"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DATA_DIR": str(tmp_path / "var")},
        )
    try:
        deadline = time.monotonic() + 90
        while "paced:" not in log.read_text() and time.monotonic() < deadline:
            assert bench.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        text = log.read_text()
        assert "paced:" in text, text[-3000:]
        worker_pid = int(re.search(r"pids (\d+)", text).group(1))
        host, port = re.search(r"embedded \w+ broker at ([\d.]+):(\d+)", text).groups()

        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=45) == 128 + signal.SIGTERM
    finally:
        if bench.poll() is None:
            bench.kill()
    assert "stopped by SIGTERM" in log.read_text()
    assert not Path(f"/proc/{worker_pid}").exists() or b"zombie" in Path(f"/proc/{worker_pid}/status").read_bytes().lower()
    with socket.socket() as probe:
        assert probe.connect_ex((host, int(port))) != 0, "the bench's broker still listens"
