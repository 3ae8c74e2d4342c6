"""The app over SASL_SSL for real: `broker start --security sasl_ssl`, then every client of the app
with TLS and SCRAM-SHA-512 (the worker, `topics create`, `send`, `replay`, `dlq-replay`, the tail readers,
Kafka's console tools through `broker tool`);
settings Kafka refuses stop the worker at startup with the setting named, and the password is never
in a log, an error or an answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from alphapanda.embedded_broker.tls import make_ca
from tests.support.pipeline import (
    BROKER_KIND, KAFKA_MISSING, TEST_SASL_PASSWORD, Cluster, Worker, trading_signal, wait_for,
)

pytestmark = pytest.mark.skipif(BROKER_KIND != "kafka", reason=KAFKA_MISSING or "the tests run on Tansu")


def alphapanda(cluster: Cluster, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA__")}
    full.update(cluster.env(), DATA_DIR=str(cluster.root / "cluster"), ACTIVE_BROKERS="paper", **(env or {}))
    return subprocess.run([sys.executable, "-m", "alphapanda", *args], env=full, capture_output=True, text=True,
                          timeout=timeout, cwd=cluster.root)


def refused_at_startup(cluster: Cluster, name: str, **env: str) -> str:
    """A worker with ``env`` over the cluster's settings: it must exit by itself, soon; its output."""
    worker = Worker(cluster, name=name, env=env).start(wait=False)
    try:
        code = worker.process.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise AssertionError(f"worker {name} kept running with {sorted(env)}:\n{worker.tail()}") from None
    assert code != 0
    return worker.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("secure"), brokers=("paper",), security="sasl_ssl")
    started = alphapanda(cluster, "broker", "start", "--security", "sasl_ssl")
    assert started.returncode == 0, started.stderr
    assert f"clients trust {cluster.broker.tls.ca}" in started.stdout
    yield cluster
    cluster.stop()


def test_signal_to_fill_over_sasl_ssl_with_every_client_of_the_app(secure, tmp_path):
    created = alphapanda(secure, "topics", "create")
    assert created.returncode == 0 and "topics ready" in created.stdout, created.stderr
    worker = Worker(secure, name="secure")
    worker.start()
    try:
        # `alphapanda send` (Faust's own command, the app's producer) sends the signal.
        sent = alphapanda(secure, "send", "paper.signals.raw", trading_signal("paper", quantity=4, event_id="over-tls").decode(),
                          "--key", "paper")
        assert sent.returncode == 0, sent.stderr
        secure.produce("paper.signals.raw", [(b"paper", b"{not json")])
        wait_for(lambda: any(e["data"]["signal_id"] == "over-tls"
                             for e in secure.events("paper.orders.filled", expect=1, timeout=2)), message="the fill")

        # replay publishes ticks over SASL_SSL; the worker's group-less tick tail reads them.
        tape = tmp_path / "tape.jsonl"
        tape.write_text(json.dumps({"instrument_token": 408065, "last_price": 1501.5,
                                    "timestamp": "2026-12-01T09:15:00Z"}) + "\n")
        replayed = alphapanda(secure, "replay", str(tape), "--speed", "0")
        assert replayed.returncode == 0, replayed.stderr
        wait_for(lambda: worker.get("/api/v1/health")[1]["market"]["instruments"] >= 1, message="the tick tail")
        dry = alphapanda(secure, "dlq-replay", "--dlq", "paper.signals.raw.dlq", "--dry-run")
        assert dry.returncode == 0 and "read 1 dead letters, would replay 1" in dry.stdout, dry.stdout + dry.stderr

        # Kafka's console tools get the same TLS and SASL settings (a client config of their own).
        read = alphapanda(secure, "broker", "tool", "kafka-console-consumer", "--topic", "paper.orders.filled",
                          "--from-beginning", "--max-messages", "1", "--timeout-ms", "30000")
        assert read.returncode == 0 and json.loads(read.stdout)["data"]["signal_id"] == "over-tls", read.stderr
        assert list((secure.root / "cluster" / "broker" / "tools").glob("client-*")) == []

        status, health = worker.get("/api/v1/health")
        assert status == 200 and health["kafka"]["reachable"] is True
        assert TEST_SASL_PASSWORD not in json.dumps(health)
    finally:
        worker.stop()
    outputs = [worker.log_path.read_text(errors="replace"), created.stdout + created.stderr, sent.stdout + sent.stderr,
               replayed.stdout + replayed.stderr, dry.stdout + dry.stderr, read.stdout + read.stderr]
    assert not [text for text in outputs if TEST_SASL_PASSWORD in text]


def test_a_wrong_password_stops_the_worker_at_startup_naming_the_setting(secure):
    output = refused_at_startup(secure, "wrong-password", KAFKA__SASL_PASSWORD="not-the-password")
    assert "KAFKA__SASL_PASSWORD" in output and "refused the credentials of user 'alphapanda-test'" in output
    assert "not-the-password" not in output and TEST_SASL_PASSWORD not in output
    # The CLI says the same and exits 1.
    topics = alphapanda(secure, "topics", "create", env={"KAFKA__SASL_PASSWORD": "not-the-password"})
    assert topics.returncode == 1 and topics.stderr.startswith("alphapanda: KAFKA__SASL_USERNAME / KAFKA__SASL_PASSWORD")


def test_an_untrusted_ca_stops_the_worker_at_startup_naming_the_setting(secure, tmp_path):
    other = make_ca(tmp_path / "other-ca", "some other CA")
    output = refused_at_startup(secure, "untrusted", KAFKA__SSL_CAFILE=str(other.ca))
    assert f"KAFKA__SSL_CAFILE: the certificate of {secure.bootstrap} is not trusted by the CA in {other.ca}" in output
    assert TEST_SASL_PASSWORD not in output
