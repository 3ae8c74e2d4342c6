"""Two workers of one app: they split the partitions, either answers for everything, and a SIGKILL
moves the dead worker's partitions and tables to the survivor without losing or repeating a fill.

Which worker owns the paper account's partition is Faust's choice, so the crash test kills each
worker once (restarting the first in between): whichever owned the account, it died with work in
flight and the other took its tables over.
"""

from datetime import datetime, timedelta, timezone

from tests.support.pipeline import trading_signal, wait_for

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
ENDPOINTS = (
    "/api/v1/portfolios/paper/summary",
    "/api/v1/portfolios/paper/positions",
    "/api/v1/portfolios/all/summary",
    "/api/v1/orders/paper",
    "/api/v1/risk/paper",
)


def assigned(worker) -> int:
    try:
        return worker.get("/api/v1/health")[1].get("worker", {}).get("assigned_partitions", 0)
    except (OSError, ValueError):
        return 0


def two_workers(workers):
    first = workers("w1")
    solo = assigned(first)
    second = workers("w2")
    wait_for(lambda: 0 < assigned(first) < solo and assigned(second) > 0, timeout=90,
             message="the partitions split between both workers")
    return first, second


def signals(cluster, first: int, count: int) -> int:
    """Publish BUY signals ``first``..``first+count-1`` with quantity i+1; returns their total."""
    batch = [(b"paper", trading_signal("paper", quantity=i + 1, event_id=f"so-{i}", at=T0 + timedelta(seconds=i)))
             for i in range(first, first + count)]
    cluster.produce("paper.signals.raw", batch)
    return sum(i + 1 for i in range(first, first + count))


def settled(worker, fills: int, quantity: int) -> bool:
    try:
        status, summary = worker.get("/api/v1/portfolios/paper/summary")
    except (OSError, ValueError):
        return False
    return (status == 200 and summary["fills"] == fills
            and [p["quantity"] for p in summary["positions"]] == [quantity])


def test_two_workers_split_the_partitions_and_either_answers_every_endpoint(cluster, workers):
    first, second = two_workers(workers)
    total = signals(cluster, 0, 5)
    wait_for(lambda: settled(first, 5, total), timeout=60, message="five fills in the paper summary")

    answers = {}
    for path in ENDPOINTS:
        (s1, a1), (s2, a2) = first.get(path), second.get(path)
        assert s1 == s2 == 200, (path, s1, s2)
        assert a1 == a2, path
        answers[path] = a1
    summary = answers["/api/v1/portfolios/paper/summary"]
    assert summary["fills"] == 5 and summary["positions"][0]["quantity"] == total
    assert [p["quantity"] for p in answers["/api/v1/portfolios/paper/positions"]["positions"]] == [total]
    assert answers["/api/v1/portfolios/all/summary"]["brokers"]["paper"]["fills"] == 5
    assert len(answers["/api/v1/orders/paper"]["orders"]) == 5
    assert answers["/api/v1/risk/paper"]["exposure"]["positions"]["408065"]["quantity"] == total


# Signals arrive while the killed worker's partitions are being moved, so the survivor fetches
# records during its table recovery: before alphapanda/recovery.py and transport.seek_to_committed
# it sometimes fetched them and handed them to no agent (a stall, 5 of 8 runs on a loaded machine).
def test_a_killed_worker_hands_its_partitions_and_tables_over_without_losing_or_repeating_a_fill(cluster, workers):
    first, second = two_workers(workers)
    total = signals(cluster, 0, 4)
    wait_for(lambda: settled(first, 4, total), timeout=60, message="the first fills")

    # Kill one with signals in flight; the rest arrive while its partitions are being moved.
    total += signals(cluster, 4, 3)
    second.kill()
    total += signals(cluster, 7, 3)
    wait_for(lambda: assigned(first) > 0 and settled(first, 10, total), timeout=90,
             message="the survivor applying every fill once")

    # The other way round: the first worker dies, the restarted second takes everything over.
    second.start()
    wait_for(lambda: assigned(second) > 0 and settled(second, 10, total), timeout=90,
             message="the restarted worker serving the books")
    total += signals(cluster, 10, 3)
    first.kill()
    total += signals(cluster, 13, 3)
    wait_for(lambda: settled(second, 16, total), timeout=90, message="every fill applied once after the second kill")

    fills = cluster.events("paper.orders.filled", expect=16, timeout=10)
    assert {f["data"]["signal_id"] for f in fills} == {f"so-{i}" for i in range(16)}
    status, summary = second.get("/api/v1/portfolios/paper/summary")
    assert status == 200 and summary["fills"] == 16
    assert summary["positions"][0]["quantity"] == total == sum(range(1, 17))
    _, risk = second.get("/api/v1/risk/paper")
    assert risk["exposure"]["positions"]["408065"]["quantity"] == total
