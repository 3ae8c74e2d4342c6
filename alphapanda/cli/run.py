"""``alphapanda run``: the whole pipeline on one machine, and everything it started stopped again.

A plain process supervisor, deliberately outside Faust's command runner (which owns an event loop
and the signal handlers): ``alphapanda run`` replaces itself with ``python -m alphapanda.cli.run``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

from alphapanda.cli.topics import TopicSetupError, ensure_topics
from alphapanda.embedded_broker import BrokerError, EmbeddedBroker, embedded_broker, kafka_missing
from alphapanda.kafka_connection import KafkaConnection
from alphapanda.kafka_preflight import KafkaSetupError, check_sync
from alphapanda.kafka_probe import is_listening
from alphapanda.settings import Settings
from alphapanda.topic_policy import TopicPolicy
from alphapanda.topics import all_topics

__all__ = ["run_pipeline", "wipe_table_state"]

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def say(message: str) -> None:
    print(f"alphapanda run: {message}", flush=True)


def wipe_table_state(settings: Settings) -> None:
    """Local table state of a Tansu run belongs to one broker lifetime (Tansu keeps nothing)."""
    worker_dir = settings.data_dir / "worker"
    if worker_dir.exists():
        shutil.rmtree(worker_dir)


def run_pipeline(settings: Settings, *, worker_args: list[str] | None = None) -> int:
    host, port = settings.kafka_host_port
    broker: EmbeddedBroker | None = None
    if not is_listening(host, port):
        if host not in LOOPBACK:
            say(f"nothing answers at {settings.kafka_url}; start your Kafka cluster or point KAFKA_URL at it")
            return 2
        kind = settings.embedded_broker
        if kind == "kafka" and (missing := kafka_missing()):
            say(f"{missing}")
            say("falling back to the memory-only Tansu broker: nothing it holds survives a stop")
            kind = "tansu"
        password = settings.kafka.sasl_password
        try:
            # The cluster DATA_DIR holds, as it was made (nodes, security); one plaintext node when new.
            broker = embedded_broker(kind, host, port, settings.data_dir, heap_mb=settings.embedded_broker_heap_mb,
                                     sasl_username=settings.kafka.sasl_username,
                                     sasl_password=password.get_secret_value() if password else None)
            say(f"no Kafka at {host}:{port}: starting the embedded {kind} broker (log: {broker.log_file})")
            broker.start()
        except BrokerError as exc:
            say(str(exc))
            return 2
        if kind == "tansu":
            wipe_table_state(settings)

    worker: subprocess.Popen | None = None
    stopping = False

    def on_signal(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        connection = KafkaConnection.from_settings(settings)
        try:
            check_sync(connection)
            created = asyncio.run(ensure_topics(connection, all_topics(settings.active_brokers), settings.topic_partitions,
                                                policy=TopicPolicy.from_settings(settings)))
        except (KafkaSetupError, TopicSetupError) as exc:
            say(str(exc))
            return 2
        say(f"topics ready ({len(created)} created) for brokers: {', '.join(settings.active_brokers)}")
        env = dict(os.environ)
        env.setdefault("MARKET_FEED", "simulated")
        args = [sys.executable, "-m", "alphapanda", "worker", "-l", "info", *(worker_args or [])]
        if stopping:
            return 130
        # Its own session: Ctrl-C reaches only us, and we stop the worker in order.
        worker = subprocess.Popen(args, env=env, start_new_session=True)
        say(f"worker started (pid {worker.pid}), market feed: {env['MARKET_FEED']}")
        say(f"dashboard http://127.0.0.1:{settings.web_port}/  API http://127.0.0.1:{settings.web_port}/api/v1/health")
        say("press Ctrl-C to stop")
        while worker.poll() is None:
            time.sleep(0.2)
        code = worker.returncode
        if not stopping and code != 0:
            say(f"worker exited with {code}")
        return 0 if stopping else code
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if broker is not None:
            say("stopping the embedded broker")
            broker.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    from alphapanda.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"alphapanda: {exc}", file=sys.stderr)
        return 2
    return run_pipeline(settings, worker_args=list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
