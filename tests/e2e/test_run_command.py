"""`alphapanda run` as a new user runs it: broker, topics, worker, simulated fills; Ctrl-C stops all;
the next run starts from what the last one left."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from alphapanda.kafka_probe import is_listening
from tests.support.pipeline import BROKER_KIND, free_port, wait_for


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def run_until_positions(tmp_path, env, web_port, name):
    """One `alphapanda run` until the paper summary shows positions, then Ctrl-C.

    Returns the first summary with positions and the last one before Ctrl-C.
    """
    log_path = tmp_path / f"{name}.log"
    log = open(log_path, "wb")
    started = time.monotonic()
    run = subprocess.Popen([sys.executable, "-m", "alphapanda", "run"], env=env, cwd=tmp_path,
                           stdout=log, stderr=subprocess.STDOUT)
    first = None
    try:
        def summary():
            try:
                return get(f"http://127.0.0.1:{web_port}/api/v1/portfolios/paper/summary")
            except OSError:
                return None

        first = wait_for(lambda: (s := summary()) and s["positions"] and s, timeout=90,
                         message="paper positions from simulated fills")
        up_after = time.monotonic() - started
        assert up_after < 60, f"pipeline took {up_after:.0f} s to show positions"
        last = summary()
        output = log_path.read_text()
        assert f"http://127.0.0.1:{web_port}/" in output and f"embedded {BROKER_KIND} broker" in output

        worker_pid = int(re.search(r"worker started \(pid (\d+)\)", output).group(1))
        run.send_signal(signal.SIGINT)
        assert run.wait(45) == 0
    finally:
        if run.poll() is None:  # a failed run: leave no worker or broker of ours behind either
            run.kill()
            for pid in re.findall(r"worker started \(pid (\d+)\)", log_path.read_text()):
                subprocess.run(["kill", "-9", pid], capture_output=True)
            subprocess.run([sys.executable, "-m", "alphapanda", "broker", "stop"], env=env, cwd=tmp_path,
                           capture_output=True, timeout=60)
    kafka_port = int(env["KAFKA_URL"].rsplit(":", 1)[1])
    assert not is_listening("127.0.0.1", kafka_port), "the embedded broker is still running"
    assert not is_listening("127.0.0.1", web_port), "the worker's web server is still running"
    assert not os.path.exists(f"/proc/{worker_pid}"), "the worker process is still there"
    return first, last


def test_run_brings_the_pipeline_up_ctrl_c_leaves_nothing_behind_and_the_next_run_goes_on(tmp_path):
    kafka_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MARKET_FEED", "ACTIVE_BROKERS")}
    env.update(KAFKA_URL=f"kafka://127.0.0.1:{kafka_port}", WEB_PORT=str(web_port), DATA_DIR=str(tmp_path / "var"),
               TOPIC_PARTITIONS="4", PYTHONUNBUFFERED="1", EMBEDDED_BROKER=BROKER_KIND)
    _, ended = run_until_positions(tmp_path, env, web_port, "run1")
    if BROKER_KIND != "kafka":
        return  # Tansu keeps nothing across runs
    started, _ = run_until_positions(tmp_path, env, web_port, "run2")
    # The second run's first positions already hold the first run's fills: broker and tables kept
    # them (a wiped run would show its own first fill or two).
    assert started["fills"] >= ended["fills"] > 0


def test_run_without_the_kafka_install_says_so_and_falls_back_to_tansu(tmp_path):
    kafka_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MARKET_FEED", "ACTIVE_BROKERS", "EMBEDDED_BROKER")}
    env.update(KAFKA_URL=f"kafka://127.0.0.1:{kafka_port}", WEB_PORT=str(web_port), DATA_DIR=str(tmp_path / "var"),
               TOPIC_PARTITIONS="2", PYTHONUNBUFFERED="1", ALPHAPANDA_KAFKA_HOME=str(tmp_path / "no-kafka-here"))
    log_path = tmp_path / "run.log"
    run = subprocess.Popen([sys.executable, "-m", "alphapanda", "run"], env=env, cwd=tmp_path,
                           stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "worker started" in log_path.read_text(), timeout=60, message="the worker started")
        output = log_path.read_text()
        assert "is not installed" in output and "make install" in output
        assert "falling back to the memory-only Tansu broker" in output and "embedded tansu broker" in output
        health = wait_for(lambda: _health(web_port), timeout=60, message="the worker's health")
        assert health["worker"]["tansu_workarounds"] is True
        run.send_signal(signal.SIGINT)
        assert run.wait(45) == 0
    finally:
        if run.poll() is None:
            run.kill()
            subprocess.run([sys.executable, "-m", "alphapanda", "broker", "stop"], env={**env, "EMBEDDED_BROKER": "tansu"},
                           cwd=tmp_path, capture_output=True, timeout=60)
    assert not is_listening("127.0.0.1", kafka_port), "the fallback broker is still running"


def _health(web_port):
    """The health answer, 200 or 503, once the web server answers."""
    try:
        return get(f"http://127.0.0.1:{web_port}/api/v1/health")
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())
    except OSError:
        return None
