"""The embedded broker stops when asked, also when its pid file is gone."""

from __future__ import annotations

from alphapanda.bench.worker import free_port
from alphapanda.embedded_broker import EmbeddedBroker
from alphapanda.kafka_probe import is_listening


def test_a_broker_stops_without_its_pid_file(tmp_path):
    broker = EmbeddedBroker("127.0.0.1", free_port(), tmp_path)
    broker.start()
    try:
        assert is_listening(broker.host, broker.port)
        broker.pid_file.unlink()  # e.g. the temporary data dir was removed under a running bench
        assert broker.stop() is True
        assert not is_listening(broker.host, broker.port)
    finally:
        broker.stop()
