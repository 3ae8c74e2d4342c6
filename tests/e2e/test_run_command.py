"""`alphapanda run` as a new user runs it: broker, topics, worker, simulated fills; Ctrl-C stops all."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from alphapanda.kafka_probe import is_listening
from tests.support.pipeline import free_port, wait_for


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_run_brings_the_pipeline_up_and_ctrl_c_leaves_nothing_behind(tmp_path):
    kafka_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MARKET_FEED", "ACTIVE_BROKERS")}
    env.update(KAFKA_URL=f"kafka://127.0.0.1:{kafka_port}", WEB_PORT=str(web_port), DATA_DIR=str(tmp_path / "var"),
               TOPIC_PARTITIONS="4", PYTHONUNBUFFERED="1")
    log = open(tmp_path / "run.log", "wb")
    started = time.monotonic()
    run = subprocess.Popen([sys.executable, "-m", "alphapanda", "run"], env=env, cwd=tmp_path,
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        def positions():
            try:
                return get(f"http://127.0.0.1:{web_port}/api/v1/portfolios/paper/summary")["positions"]
            except OSError:
                return None

        wait_for(positions, timeout=90, message="paper positions from simulated fills")
        up_after = time.monotonic() - started
        assert up_after < 60, f"pipeline took {up_after:.0f} s to show positions"
        output = (tmp_path / "run.log").read_text()
        assert f"http://127.0.0.1:{web_port}/" in output and "embedded broker" in output

        worker_pid = int(re.search(r"worker started \(pid (\d+)\)", output).group(1))
        run.send_signal(signal.SIGINT)
        assert run.wait(45) == 0
    finally:
        if run.poll() is None:  # a failed run: leave no worker or broker of ours behind either
            run.kill()
            for pid in re.findall(r"worker started \(pid (\d+)\)", (tmp_path / "run.log").read_text()):
                subprocess.run(["kill", "-9", pid], capture_output=True)
            subprocess.run([sys.executable, "-m", "alphapanda", "broker", "stop"], env=env, cwd=tmp_path,
                           capture_output=True, timeout=30)
    assert not is_listening("127.0.0.1", kafka_port), "the embedded broker is still running"
    assert not is_listening("127.0.0.1", web_port), "the worker's web server is still running"
    assert not os.path.exists(f"/proc/{worker_pid}"), "the worker process is still there"
