"""The embedded brokers stop when asked, also when their pid file is gone."""

from __future__ import annotations

import pytest

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
