"""Settling the heap: garbage collected first, the survivors frozen, on every completed recovery."""

from __future__ import annotations

import gc
import weakref

import pytest
from mode import Signal

from alphapanda import heap


@pytest.fixture(autouse=True)
def unfrozen():
    yield
    gc.unfreeze()


class _Node:
    pass


def test_settle_collects_cycles_before_it_freezes_the_survivors():
    cycle = _Node()
    cycle.me = cycle
    garbage = weakref.ref(cycle)
    del cycle
    survivor = _Node()
    frozen = heap.settle()
    assert garbage() is None  # collected, not frozen for good
    assert frozen == gc.get_freeze_count() > 0
    later = _Node()
    # The collector's generations no longer hold what lived at the settle; what comes later is in them.
    collected = gc.get_objects()
    assert not any(o is survivor for o in collected)
    assert any(o is later for o in collected)


async def test_every_completed_recovery_settles_the_heap(monkeypatch):
    settled = []
    monkeypatch.setattr(heap, "settle", lambda: settled.append(True) or 0)

    class App:
        on_rebalance_complete = Signal()

    app = App()
    app.on_rebalance_complete = App.on_rebalance_complete.with_default_sender(app)
    heap.settle_after_rebalances(app)
    await app.on_rebalance_complete.send()
    await app.on_rebalance_complete.send()
    assert settled == [True, True]
