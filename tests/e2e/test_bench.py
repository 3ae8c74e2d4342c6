"""``alphapanda bench`` end to end, small: its own broker and worker, one JSON object as the last line."""

import json
import subprocess
import sys
import time

from tests.support.pipeline import REPO


def test_a_small_bench_run_reports_every_figure_of_the_contract(tmp_path):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "alphapanda", "bench", "--json", "--ticks", "3000", "--instruments", "10",
         "--strategies", "2", "--rate", "200", "--duration-seconds", "3", "--signal-every", "20"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DATA_DIR": str(tmp_path / "var")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["ticks_per_second"] > 0 and report["relay_ticks_per_second"] > 0
    assert report["ratio"] == round(report["ticks_per_second"] / report["relay_ticks_per_second"], 3)
    assert report["rate"] == 200
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"] <= report["latency_ms"]["p99"]
    assert report["fills"]["expected"] > 0 and report["fills"]["received"] == report["fills"]["expected"]
    assert report["rss_mb"]["start"] > 0 and report["rss_mb"]["end"] > 0
    fetch = report["broker_tail_fetch_ms"]
    assert 0 < fetch["before_paced"] < 5000 and 0 < fetch["after_paced"] < 5000
    assert time.monotonic() - started < 60
