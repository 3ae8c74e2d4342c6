"""Fixtures shared by the end-to-end and browser tests: a real broker and real worker processes."""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.pipeline import STARTED_WORKERS, Cluster, Worker, log_problems

WORKER_PROBLEMS = "warnings and errors of worker"
TOPIC_COUNTS = "messages per topic when the test failed"


class BrokerPool:
    """The next test's broker, started while the previous test tears down.

    A broker takes about 3 s to start (a JVM) and the same test's workers about 2 s to stop: doing
    both at once saves most of the start for each of the ~60 tests that take a fresh broker. Each
    test still gets a broker of its own, never used before, in a folder of its own.
    """

    def __init__(self, base: Path) -> None:
        self._base = base
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="broker-pool")
        self._next: Future | None = None

    def _fresh(self) -> Cluster:
        return Cluster(Path(tempfile.mkdtemp(prefix="cluster-", dir=self._base))).start()

    def take(self) -> Cluster:
        future, self._next = self._next, None
        if future is not None:
            try:
                return future.result()
            except Exception:  # started in the background: try once more in the foreground
                pass
        return self._fresh()

    def prepare(self) -> None:
        if self._next is None:
            self._next = self._executor.submit(self._fresh)

    def close(self) -> None:
        if self._next is not None:
            try:
                self._next.result().stop()
            except Exception:
                pass
        self._executor.shutdown(wait=True)


# The slowest files first (measured with --durations): `make test` runs the files on two
# processes (pytest-xdist, --dist loadfile), and the long ones started last would leave one
# process working alone at the end.
SLOWEST_FIRST = (
    "test_cluster_failover.py", "test_crash_equivalence.py", "test_broker_durability.py", "test_backtest.py",
    "test_risk.py", "test_scale_out.py", "test_bench.py", "test_run_command.py", "test_market_data.py",
    "test_execution.py", "test_secure_cluster.py", "test_portfolio_web.py", "test_dashboard.py",
)


def pytest_collection_modifyitems(items):
    def weight(item) -> int:
        name = item.path.name
        return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=weight)  # stable: the order within a file, and of the others, is kept


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._workers_before = len(STARTED_WORKERS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report shows the warnings and errors its workers logged (a worker's log
    lives in a temporary folder that CI does not keep)."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    before = getattr(item, "_workers_before", 0)
    # The test's own workers, and those of a module's fixture that are still running.
    shared = [w for w in STARTED_WORKERS[:before] if w.process is not None and w.process.poll() is None]
    for worker in shared + STARTED_WORKERS[before:]:
        try:
            text = worker.log_path.read_text(errors="replace")
        except OSError:
            continue
        problems = log_problems(text)
        if problems:
            report.sections.append((f"{WORKER_PROBLEMS} {worker.name} ({worker.log_path})", problems))
    cluster = item.funcargs.get("cluster") if call.when == "call" else None
    if isinstance(cluster, Cluster) and cluster.broker is not None:
        try:
            counts = cluster.message_counts()
        except Exception as exc:  # the broker is what failed, or the test stopped it
            counts = {"unavailable": repr(exc)}
        report.sections.append((TOPIC_COUNTS, json.dumps(counts)))


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter):
    """The gist of each failure's worker problems and topic counts, at the end of the output,
    which is the part of a long CI log that is kept."""
    failed = terminalreporter.stats.get("failed", [])
    lines = []
    for report in failed:
        gist = []
        for title, text in report.sections:
            if title.startswith(WORKER_PROBLEMS):
                gist += [f"  {title.split('(')[0].strip()}: {line[:200]}" for line in text.splitlines()[-6:]]
            elif title == TOPIC_COUNTS:
                gist.append(f"  topics: {text[:600]}")
        if gist:
            lines += [report.nodeid, *gist]
    if lines:
        terminalreporter.section("failures: workers' last problems and topic counts", sep="-")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def broker_pool(tmp_path_factory):
    pool = BrokerPool(tmp_path_factory.mktemp("clusters"))
    yield pool
    pool.close()


@pytest.fixture
def cluster(broker_pool):
    """A fresh embedded broker with every topic of paper and zerodha (4 partitions each)."""
    c = broker_pool.take()
    yield c
    broker_pool.prepare()
    c.stop()


@pytest.fixture
def workers(cluster):
    """Start workers with ``workers(name=..., env=...)``; all are killed after the test (the
    broker goes with them, so a graceful leave would only cost time; tests of stopping stop)."""
    started: list[Worker] = []

    def start(name: str = "w1", env: dict | None = None, wait: bool = True) -> Worker:
        worker = Worker(cluster, name=name, env=env or {})
        started.append(worker)
        return worker.start(wait=wait)

    yield start
    for worker in started:
        worker.kill()
