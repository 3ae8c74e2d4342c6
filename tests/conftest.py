"""Fixtures shared by the end-to-end and browser tests: a real broker and real worker processes."""

import pytest

from tests.support.pipeline import Cluster, Worker


@pytest.fixture
def cluster(tmp_path):
    """A fresh embedded broker with every topic of paper and zerodha (4 partitions each)."""
    c = Cluster(tmp_path).start()
    yield c
    c.stop()


@pytest.fixture
def workers(cluster):
    """Start workers with ``workers(name=..., env=...)``; all are stopped after the test."""
    started: list[Worker] = []

    def start(name: str = "w1", env: dict | None = None, wait: bool = True) -> Worker:
        worker = Worker(cluster, name=name, env=env or {})
        started.append(worker)
        return worker.start(wait=wait)

    yield start
    for worker in started:
        worker.stop()
