"""Replication, retention and TLS/SASL settings, and what the app's Kafka clients make of them."""

from __future__ import annotations

import json

import faust
import pytest

from alphapanda.embedded_broker import BrokerError, KafkaBroker
from alphapanda.embedded_broker.tls import ensure_tls
from alphapanda.kafka_connection import KafkaConnection, KafkaSetupError, as_connection
from alphapanda.settings import SettingsError, load_settings
from alphapanda.topic_policy import TopicPolicy

SASL = dict(KAFKA__SECURITY_PROTOCOL="sasl_ssl", KAFKA__SASL_MECHANISM="scram-sha-512",
            KAFKA__SASL_USERNAME="trader", KAFKA__SASL_PASSWORD="hunter2-secret")


@pytest.fixture
def env(monkeypatch):
    def set_env(**values: str):
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return load_settings()

    return set_env


def test_min_insync_replicas_defaults_to_two_of_three_replicas(env):
    assert env().min_insync_replicas == 1
    assert env(TOPIC_REPLICATION_FACTOR="2").min_insync_replicas == 1
    assert env(TOPIC_REPLICATION_FACTOR="3").min_insync_replicas == 2
    assert env(TOPIC_REPLICATION_FACTOR="3", TOPIC_MIN_INSYNC_REPLICAS="3").min_insync_replicas == 3


@pytest.mark.parametrize("values, named", [
    ({"TOPIC_REPLICATION_FACTOR": "1", "TOPIC_MIN_INSYNC_REPLICAS": "2"}, "TOPIC_MIN_INSYNC_REPLICAS=2 is above TOPIC_REPLICATION_FACTOR=1"),
    ({"TOPIC_REPLICATION_FACTOR": "0"}, "TOPIC_REPLICATION_FACTOR"),
    ({"TOPIC_DLQ_RETENTION_HOURS": "0"}, "TOPIC_DLQ_RETENTION_HOURS"),
    ({"TOPIC_TICKS_RETENTION_HOURS": "-2"}, "TOPIC_TICKS_RETENTION_HOURS"),
    ({"KAFKA__SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA__SECURITY_PROTOCOL=SASL_SSL needs KAFKA__SASL_MECHANISM, KAFKA__SASL_USERNAME, KAFKA__SASL_PASSWORD"),
    ({**SASL, "KAFKA__SASL_PASSWORD": ""}, "needs KAFKA__SASL_PASSWORD"),
    ({"KAFKA__SECURITY_PROTOCOL": "TLS"}, "KAFKA__SECURITY_PROTOCOL"),
    ({**SASL, "KAFKA__SASL_MECHANISM": "GSSAPI"}, "KAFKA__SASL_MECHANISM"),
    ({"KAFKA__SSL_CAFILE": "/some/ca.pem"}, "KAFKA__SECURITY_PROTOCOL=PLAINTEXT does not use TLS"),
    ({"KAFKA__SECURITY_PROTOCOL": "SSL", "KAFKA__SSL_KEYFILE": "/k.pem"}, "KAFKA__SSL_KEYFILE needs KAFKA__SSL_CERTFILE"),
])
def test_invalid_kafka_settings_stop_startup_naming_the_variable(env, values, named):
    with pytest.raises(SettingsError, match=named.replace("(", r"\(")) as caught:
        env(**values)
    assert "hunter2-secret" not in str(caught.value)


def test_retention_applies_to_ticks_and_dead_letters_and_min_isr_to_every_topic():
    policy = TopicPolicy(replication_factor=3, min_insync_replicas=2, ticks_retention_hours=24, dlq_retention_hours=-1)
    assert policy.config_for("market.ticks") == {"min.insync.replicas": "2", "retention.ms": str(24 * 3_600_000)}
    assert policy.config_for("paper.signals.raw.dlq") == {"min.insync.replicas": "2", "retention.ms": "-1"}
    assert policy.config_for("paper.orders.filled") == {"min.insync.replicas": "2"}
    assert policy.common_config() == {"min.insync.replicas": "2"}
    policy.check_brokers(3)
    with pytest.raises(ValueError, match="TOPIC_REPLICATION_FACTOR=3, but the cluster has 2 live brokers"):
        policy.check_brokers(2)


def test_a_sasl_ssl_connection_gives_every_client_tls_and_scram_and_hides_the_password(env, tmp_path):
    tls = ensure_tls(tmp_path / "tls", ["127.0.0.1"])
    settings = env(**SASL, KAFKA__SSL_CAFILE=str(tls.ca), KAFKA_URL="kafka://a:9092;kafka://b:9093")
    connection = KafkaConnection.from_settings(settings)
    options = connection.options()
    assert options["bootstrap_servers"] == "a:9092,b:9093"
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "trader" and options["sasl_plain_password"] == "hunter2-secret"
    assert options["ssl_context"].verify_mode.name == "CERT_REQUIRED" and options["ssl_context"].check_hostname
    assert "hunter2-secret" not in repr(connection) and "hunter2-secret" not in json.dumps(settings.safe_dump())

    credentials = connection.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials) and credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512" and "hunter2-secret" not in repr(credentials)


def test_plaintext_needs_nothing_and_a_missing_pem_file_is_named_when_a_client_needs_it(env, tmp_path):
    assert as_connection("h:1").options() == {"bootstrap_servers": "h:1"}
    assert as_connection("h:1").faust_credentials() is None
    missing = KafkaConnection("h:1", security_protocol="SSL", ssl_cafile=tmp_path / "nope.pem")
    with pytest.raises(KafkaSetupError, match="KAFKA__SSL_CAFILE: .*nope.pem' is not a readable file"):
        missing.options()
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    with pytest.raises(KafkaSetupError, match="KAFKA__SSL_CAFILE: .* holds no PEM certificate"):
        KafkaConnection("h:1", security_protocol="SSL", ssl_cafile=not_pem).options()


def test_a_server_certificate_is_made_once_for_its_hosts_and_remade_for_new_ones(tmp_path):
    first = ensure_tls(tmp_path, ["127.0.0.1"])
    made = first.server.read_bytes()
    assert b"BEGIN PRIVATE KEY" in made and made.count(b"BEGIN CERTIFICATE") == 2
    assert oct(first.server.stat().st_mode & 0o777) == "0o600" and oct(first.ca_key.stat().st_mode & 0o777) == "0o600"
    ca = first.ca.read_bytes()
    assert ensure_tls(tmp_path, ["127.0.0.1"]).server.read_bytes() == made
    again = ensure_tls(tmp_path, ["broker.local"])
    assert again.server.read_bytes() != made and again.ca.read_bytes() == ca


def test_a_cluster_keeps_the_shape_it_was_made_with(tmp_path):
    (tmp_path / "broker").mkdir()
    (tmp_path / "broker" / "cluster.json").write_text(json.dumps({"nodes": 3, "security": "plaintext"}))
    cluster = KafkaBroker("127.0.0.1", 19092, tmp_path)
    assert cluster.nodes == 3 and [n.port for n in cluster.members] == [19092, 19093, 19094]
    assert cluster.status_lines() == [f"node {i} at 127.0.0.1:{19091 + i} stopped" for i in (1, 2, 3)]
    with pytest.raises(BrokerError, match="holds a 3-node plaintext cluster, not --nodes 1"):
        KafkaBroker("127.0.0.1", 19092, tmp_path, nodes=1)
    with pytest.raises(BrokerError, match="not --security sasl_ssl"):
        KafkaBroker("127.0.0.1", 19092, tmp_path, security="sasl_ssl")


def test_a_sasl_ssl_cluster_needs_its_user(tmp_path):
    cluster = KafkaBroker("127.0.0.1", 19092, tmp_path, security="sasl_ssl", sasl_username="trader")
    with pytest.raises(BrokerError, match="SCRAM user from KAFKA__SASL_PASSWORD"):
        cluster._require_credentials()


def test_kafkas_tools_get_the_apps_security_settings_in_a_client_config(tmp_path):
    from alphapanda.embedded_broker import install
    from alphapanda.embedded_broker.tools import client_properties, tool_command
    from tests.support.pipeline import KAFKA_MISSING

    assert client_properties(as_connection("h:1")) is None
    connection = KafkaConnection("h:1", security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                                 sasl_username="trader", sasl_password="hunter2-secret", ssl_cafile=tmp_path / "ca.pem")
    properties = client_properties(connection).splitlines()
    assert properties == [
        "security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512",
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
        'username="trader" password="hunter2-secret";',
        "ssl.truststore.type=PEM", f"ssl.truststore.location={tmp_path / 'ca.pem'}",
    ]
    if KAFKA_MISSING:
        return
    config = tmp_path / "client.properties"
    for tool, major, option in [("kafka-console-consumer", 4, "--command-config"), ("kafka-console-producer", 3, "--producer.config")]:
        version = install.KAFKA_VERSION if major == 4 else install.OTHER_MAJOR_VERSION
        if not install.is_installed(version):
            continue
        command = tool_command(tool, ["--topic", "t"], "h:1", tmp_path, version=version, client_config=config)
        assert command[-6:] == [option, str(config), "--bootstrap-server", "h:1", "--topic", "t"]
        own = tool_command(tool, ["--command-config", "mine"], "h:1", tmp_path, version=version, client_config=config)
        assert str(config) not in own
