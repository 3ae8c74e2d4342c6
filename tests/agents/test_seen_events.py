"""The seen-event marks: remembered for their window and the next, then expired, in bounded memory."""

from __future__ import annotations

from alphapanda.tables import SEEN_WINDOW, seen_events

WINDOW = SEEN_WINDOW.total_seconds()


def _key(name: str, window: int) -> tuple[str, tuple[float, float]]:
    start = window * WINDOW
    return name, (start, start + WINDOW - 0.1)


async def test_the_expiry_index_holds_each_window_once_and_expires_every_key_of_it():
    table = seen_events.table
    partition = 5
    for i in range(500):  # 500 marks in one window, 3 in the next (epoch 1970: long stale)
        key = _key(f"risk_manager:paper:e{i}", 1)
        table.data[key] = 1.0
        table._maybe_set_key_ttl(key, partition)
    for i in range(3):
        key = _key(f"portfolio:paper:f{i}", 2)
        table.data[key] = 1.0
        table._maybe_set_key_ttl(key, partition)

    assert sorted(table._partition_timestamps[partition]) == [_key("", 1)[1][1], _key("", 2)[1][1]]
    assert len(table._partition_timestamp_keys[(partition, _key("", 1)[1][1])]) == 500

    await table._del_old_keys()
    assert table._partition_timestamps[partition] == []
    assert not any(p == partition for p, _ in table._partition_timestamp_keys)
    assert _key("risk_manager:paper:e7", 1) not in table.data and _key("portfolio:paper:f0", 2) not in table.data


async def test_a_window_written_again_after_it_expired_is_expired_again():
    table = seen_events.table
    key = _key("execution:paper:late", 3)
    for _ in range(2):
        table.data[key] = 1.0
        table._maybe_set_key_ttl(key, 6)
        assert table._partition_timestamps[6] == [key[1][1]]
        await table._del_old_keys()
        assert key not in table.data and table._partition_timestamps[6] == []



async def test_a_mark_costs_the_expiry_index_its_name_only():
    import tracemalloc

    table = seen_events.table
    partition = 7
    names = [f"risk_manager:paper:{i:032x}" for i in range(10_000)]  # the names exist anyway
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for name in names:
            table._maybe_set_key_ttl(_key(name, 4), partition)  # a fresh (name, range) per mark, as Faust makes
        per_mark = (tracemalloc.get_traced_memory()[0] - before) / len(names)
    finally:
        tracemalloc.stop()
    window = table._partition_timestamp_keys[(partition, _key("", 4)[1][1])]
    assert len(window) == len(names) and _key(names[3], 4) in window
    assert sorted(window) == sorted(_key(name, 4) for name in names)  # Faust deletes what it iterates
    # The set's slot and nothing else: keeping Faust's (name, (start, end)) costs about 200 bytes.
    assert per_mark < 100, per_mark
    await table._del_old_keys()
    assert not any(p == partition for p, _ in table._partition_timestamp_keys)
