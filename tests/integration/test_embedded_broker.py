"""The embedded brokers stop when asked, also when their pid file is gone."""

from __future__ import annotations

import socket

import pytest

from alphapanda.embedded_broker import BrokerError, MissingTool, install, kafka_missing
from alphapanda.kafka_probe import is_listening
from tests.support.pipeline import KAFKA_MISSING, free_port, new_broker


@pytest.mark.parametrize("kind", ["kafka", "tansu"])
def test_a_broker_stops_without_its_pid_file(tmp_path, kind):
    if kind == "kafka" and KAFKA_MISSING:
        pytest.skip(KAFKA_MISSING)
    broker = new_broker(tmp_path, free_port(), kind=kind)
    broker.start()
    try:
        assert is_listening(broker.host, broker.port)
        broker.pid_file.unlink()  # e.g. the temporary data dir was removed under a running bench
        assert broker.stop() is True
        assert not is_listening(broker.host, broker.port)
    finally:
        broker.stop()


kafka_only = pytest.mark.skipif(bool(KAFKA_MISSING), reason=KAFKA_MISSING or "")


@kafka_only
def test_a_start_on_a_running_kafka_changes_nothing(tmp_path):
    broker = new_broker(tmp_path, free_port(), kind="kafka")
    try:
        pid = broker.start()
        assert broker.start() == pid and broker.status_lines() == [f"node 1 at {broker.address} pid {pid} running"]
    finally:
        broker.stop()
    assert broker.status_lines() == [f"node 1 at {broker.address} stopped"]


@kafka_only
def test_a_port_held_by_another_program_is_a_clear_error(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        broker = new_broker(tmp_path, port, kind="kafka")
        with pytest.raises(BrokerError, match=f"127.0.0.1:{port} is in use by another program"):
            broker.start()
        assert broker.pid() is None


def test_a_missing_kafka_install_names_the_command_that_installs_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHAPANDA_KAFKA_HOME", str(tmp_path / "nothing-here"))
    with pytest.raises(MissingTool, match=r"make install.*EMBEDDED_BROKER=tansu"):
        install.require()
    assert "not installed" in kafka_missing()
