"""Real processes for end-to-end tests: the embedded broker, worker processes, a Kafka client.

Tests talk to the pipeline only through Kafka topics and HTTP, as users and other programs do.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from alphapanda.embedded_broker import EmbeddedBroker, KafkaBroker, TansuBroker, kafka_missing
from alphapanda.embedded_broker.install import KAFKA_VERSION
from alphapanda.kafka_connection import KafkaConnection
from alphapanda.kafka_io import topic_partitions
from alphapanda.topics import all_topics

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports (a local cluster's nodes take port + i)."""
    if count == 1:
        return free_port()
    for _ in range(200):
        first = free_port()
        if first + count > 65535:
            continue
        taken = False
        for port in range(first + 1, first + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    taken = True
                    break
        if not taken:
            return first
    raise RuntimeError(f"no {count} consecutive free ports")


def run_async(coro):
    return asyncio.run(coro)


#: What the tests run on: ``EMBEDDED_BROKER`` (default kafka, as users get it); Tansu when asked,
#: or when Kafka cannot run here (no Java, jars not installed: ``make install`` says why).
KAFKA_MISSING = kafka_missing()
BROKER_KIND = os.environ.get("EMBEDDED_BROKER", "tansu" if KAFKA_MISSING else "kafka")

#: One formatted, never started Kafka log dir that every test broker starts from (a copy takes
#: milliseconds, StorageTool a JVM start).
_FORMAT_TEMPLATES = Path(tempfile.mkdtemp(prefix="alphapanda-kafka-format-"))
atexit.register(shutil.rmtree, _FORMAT_TEMPLATES, True)


#: The SCRAM user of the tests' SASL_SSL clusters (a test secret, not a real one).
TEST_SASL_USER, TEST_SASL_PASSWORD = "alphapanda-test", "Tr4d3-s3cret-pw"


def new_broker(root: Path, port: int, *, kind: str = BROKER_KIND, version: str = KAFKA_VERSION,
               nodes: int = 1, security: str = "plaintext") -> EmbeddedBroker:
    if kind == "tansu":
        return TansuBroker("127.0.0.1", port, root)
    template = _FORMAT_TEMPLATES / f"{version}-{nodes}-{security}"
    return KafkaBroker("127.0.0.1", port, root, version=version, format_template=template, nodes=nodes,
                       security=security, sasl_username=TEST_SASL_USER, sasl_password=TEST_SASL_PASSWORD)


@dataclass
class Cluster:
    """A fresh embedded broker (on free ports) with the pipeline's topics.

    ``nodes`` > 1 makes a local Kafka cluster (node I on ``port`` + I - 1) whose topics get
    ``replication`` replicas; ``security="sasl_ssl"`` makes its listeners SASL_SSL, and every
    client here (and every Worker's environment) connects with TLS and SCRAM.
    """

    root: Path
    brokers: tuple[str, ...] = ("paper", "zerodha")
    partitions: int = 4
    port: int | None = None
    kind: str = BROKER_KIND
    version: str = KAFKA_VERSION
    nodes: int = 1
    security: str = "plaintext"
    replication: int = 1

    def __post_init__(self) -> None:
        if self.port is None:
            self.port = free_ports(self.nodes)
        self.broker = new_broker(self.root / "cluster", self.port, kind=self.kind, version=self.version,
                                 nodes=self.nodes, security=self.security)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.port + i}" for i in range(self.nodes))

    @property
    def kafka_url(self) -> str:
        return ";".join(f"kafka://{server}" for server in self.bootstrap.split(","))

    def security_env(self) -> dict[str, str]:
        """The KAFKA__* settings a client of this cluster needs."""
        if self.security == "plaintext":
            return {}
        return {
            "KAFKA__SECURITY_PROTOCOL": "SASL_SSL", "KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA__SASL_USERNAME": TEST_SASL_USER, "KAFKA__SASL_PASSWORD": TEST_SASL_PASSWORD,
            "KAFKA__SSL_CAFILE": str(self.broker.tls.ca),
        }

    def env(self) -> dict[str, str]:
        """What a process of the app needs to use this cluster (KAFKA_URL, TOPIC_*, KAFKA__*)."""
        return {"KAFKA_URL": self.kafka_url, "TOPIC_PARTITIONS": str(self.partitions),
                "TOPIC_REPLICATION_FACTOR": str(self.replication), **self.security_env()}

    @property
    def connection(self) -> KafkaConnection:
        env = self.security_env()
        if not env:
            return KafkaConnection(self.bootstrap)
        return KafkaConnection(self.bootstrap, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                               sasl_username=TEST_SASL_USER, sasl_password=TEST_SASL_PASSWORD,
                               ssl_cafile=self.broker.tls.ca)

    def start(self) -> "Cluster":
        from alphapanda.cli.topics import ensure_topics
        from alphapanda.topic_policy import TopicPolicy

        self.broker.start()
        policy = TopicPolicy(replication_factor=self.replication, min_insync_replicas=2 if self.replication >= 3 else 1)
        run_async(ensure_topics(self.connection, all_topics(self.brokers), self.partitions, policy=policy))
        return self

    def stop(self) -> None:
        self.broker.stop()

    def restart_broker(self, *, kill: bool = False, down_for: float = 0.0) -> None:
        """Stop the broker (SIGTERM, or SIGKILL as a crash), stay down ``down_for`` s, start it again."""
        self.broker.kill() if kill else self.broker.stop()
        time.sleep(down_for)
        self.broker.start()

    # Kafka client helpers -----------------------------------------------------------------

    def produce(self, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
        async def go():
            producer = AIOKafkaProducer(**self.connection.options(), linger_ms=5, acks="all")
            await producer.start()
            try:
                for key, value in messages:
                    await producer.send_and_wait(topic, key=key, value=value)
            finally:
                await producer.stop()

        run_async(go())

    def consume(self, topic: str, *, expect: int = 1, timeout: float = 30.0) -> list[dict]:
        """Every message on ``topic`` (from the start), waiting until at least ``expect`` arrived."""

        async def go():
            consumer = AIOKafkaConsumer(**self.connection.options(), group_id=None, enable_auto_commit=False)
            await consumer.start()
            try:
                tps = await topic_partitions(consumer, topic)
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                out: list[dict] = []
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    batch = await consumer.getmany(timeout_ms=200)
                    for records in batch.values():
                        for r in records:
                            out.append(_record(r))
                    if len(out) >= expect:
                        # Drain what is already there, then stop.
                        more = await consumer.getmany(timeout_ms=300)
                        for records in more.values():
                            for r in records:
                                out.append(_record(r))
                        if not more:
                            break
                return out
            finally:
                await consumer.stop()

        return run_async(go())

    def message_counts(self) -> dict[str, int]:
        """How many messages each non-empty topic holds (end minus start offsets): where a
        failing test's flow stopped."""

        async def go():
            consumer = AIOKafkaConsumer(**self.connection.options(), group_id=None, request_timeout_ms=5000)
            await consumer.start()
            try:
                tps = [tp for topic in sorted(await consumer.topics()) for tp in await topic_partitions(consumer, topic)]
                ends = await consumer.end_offsets(tps)
                starts = await consumer.beginning_offsets(tps)
            finally:
                await consumer.stop()
            counts: dict[str, int] = {}
            for tp in tps:
                counts[tp.topic] = counts.get(tp.topic, 0) + ends[tp] - starts[tp]
            return {topic: n for topic, n in counts.items() if n}

        return run_async(asyncio.wait_for(go(), 15))

    def events(self, topic: str, *, expect: int = 1, timeout: float = 30.0) -> list[dict]:
        return [json.loads(m["value"]) for m in self.consume(topic, expect=expect, timeout=timeout)]


def _record(r) -> dict:
    return {"key": r.key.decode() if r.key else None, "value": r.value, "partition": r.partition,
            "offset": r.offset, "headers": dict(r.headers or ())}


#: Every Worker started in this test process, so that a failing test's report can show what its
#: workers logged (tests/conftest.py); the logs themselves stay in the test's temporary folder.
STARTED_WORKERS: list["Worker"] = []


def log_problems(text: str, limit: int = 80) -> str:
    """The warnings, errors and tracebacks of a worker log, the last ``limit`` lines of them."""
    picked: list[str] = []
    in_traceback = False
    for line in text.splitlines():
        if line.startswith("Traceback"):
            in_traceback = True
        elif line.startswith("[20"):  # a new log record ends a traceback
            in_traceback = False
        if in_traceback or "[ERROR]" in line or "[WARNING]" in line or "[CRITICAL]" in line:
            picked.append(line)
    return "\n".join(picked[-limit:])


@dataclass
class Worker:
    """One ``alphapanda worker`` process with its own data dir and web port."""

    cluster: Cluster
    name: str = "w1"
    env: dict[str, str] = field(default_factory=dict)
    web_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    #: What ``python -m`` runs: the app's command line, or a test launcher around it.
    module: str = "alphapanda"

    @property
    def data_dir(self) -> Path:
        return self.cluster.root / self.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def log_path(self) -> Path:
        return self.cluster.root / f"{self.name}.log"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZERODHA__", "TRADING__", "WEB__"))}
        env = {k: v for k, v in env.items() if not k.startswith(("KAFKA__", "TOPIC_"))}
        env.update(
            ACTIVE_BROKERS=",".join(self.cluster.brokers),
            WEB_PORT=str(self.web_port),
            DATA_DIR=str(self.data_dir),
            **self.cluster.env(),
            STORE_URL="rocksdb://",
            MARKET_FEED="none",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env)
        return env

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> "Worker":
        STARTED_WORKERS.append(self)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, "worker", "-l", "info", "--web-host", "127.0.0.1"],
            env=self.environment(), stdout=log, stderr=subprocess.STDOUT, cwd=str(self.cluster.root),
        )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                status, body = self.get("/api/v1/health")
                answered_by = body.get("worker", {}).get("pid")
                if answered_by is not None and answered_by != self.process.pid:
                    raise RuntimeError(f"port {self.web_port} of worker {self.name} is answered by another "
                                       f"worker (pid {answered_by}, not {self.process.pid}): a port taken twice")
                if body.get("worker", {}).get("assigned_partitions", 0) > 0:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        raise TimeoutError(f"worker {self.name} not ready in {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                return exc.code, json.loads(payload or b"null")
            except ValueError:
                return exc.code, {"raw": payload.decode(errors="replace")}

    def get(self, path: str) -> tuple[int, dict]:
        return self.request("GET", path)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def envelope(event_type: str, data: dict, *, broker: str | None, event_id: str | None = None) -> bytes:
    event_id = event_id or uuid.uuid4().hex
    return json.dumps({
        "id": event_id, "type": event_type,
        "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "correlation_id": event_id, "causation_id": None, "source": "test", "version": 1,
        "broker": broker, "data": data,
    }).encode()


def trading_signal(broker: str, *, token: int = 408065, side: str = "BUY", quantity: int = 10,
                   price: float = 1500.0, strategy_id: str = "manual", event_id: str | None = None,
                   at: datetime | None = None) -> bytes:
    """A trading_signal envelope; ``at`` fixes its event time (default: now)."""
    stamp = (at or datetime.now(timezone.utc)).isoformat().replace("+00:00", "Z")
    return envelope("trading_signal", {
        "strategy_id": strategy_id, "instrument_token": token, "signal_type": side,
        "quantity": quantity, "price": price, "timestamp": stamp,
    }, broker=broker, event_id=event_id)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.25, message: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"{message} not met within {timeout} s (last: {last!r})")
