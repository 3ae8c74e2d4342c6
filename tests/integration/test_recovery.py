"""After a rebalance, no record a worker fetched for its streams is thrown away unhandled."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.tables.recovery import Recovery as FaustRecovery
from faust.types import TP
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from alphapanda.recovery import Recovery

SIGNALS = TP("paper.signals.raw", 1)
CHANGELOG = TP("alphapanda-orders-changelog", 1)
GENERATION = 3


class _Fetcher:
    """The consumer as the recovery sees it; its fetcher hands the next record of every resumed
    stream partition to the stream's queue whenever the recovery waits, as the real one does."""

    def __init__(self, queue: FlowControlQueue) -> None:
        self.queue = queue
        self.resumed: set[TP] = set()
        self.handed: list[tuple[TP, int]] = []

    def assignment(self) -> set[TP]:
        return {SIGNALS, CHANGELOG}

    def resume_partitions(self, tps) -> None:
        self.resumed |= set(tps)

    def resume_flow(self) -> None:
        pass

    async def perform_seek(self) -> None:
        await asyncio.sleep(0)
        self.fetch()

    def fetch(self) -> None:
        for tp in sorted(self.resumed):
            record = (tp, len(self.handed))
            self.queue.put_nowait(record)
            self.handed.append(record)


async def _noop(*args, **kwargs) -> None:
    return None


def _ignore(*args, **kwargs) -> None:
    return None


def _recovery(consumer: _Fetcher, flow_control: FlowControlEvent) -> SimpleNamespace:
    """What ``on_recovery_completed`` uses of a recovery with no tables left to recover."""
    app = SimpleNamespace(
        consumer=consumer,
        consumer_generation_id=GENERATION,
        conf=SimpleNamespace(broker_request_timeout=5.0),
        flow_control=flow_control,
        on_rebalance_complete=SimpleNamespace(send=_noop),
        _fetcher=SimpleNamespace(maybe_start=_noop),
        assignor=SimpleNamespace(assigned_standbys=set),
        on_rebalance_end=lambda: None,
    )

    async def wait(coro, timeout=None):
        await coro

    return SimpleNamespace(
        app=app,
        log=SimpleNamespace(info=_ignore, warning=_ignore, dev=_ignore),
        tables=SimpleNamespace(values=list, on_actives_ready=lambda: None, on_standbys_ready=lambda: None),
        _set_recovery_ended=lambda: None,
        _wait=wait,
        _is_changelog_tp=lambda tp: tp.topic.endswith("-changelog"),
        completed=asyncio.Event(),
    )


async def _complete_recovery(on_recovery_completed) -> _Fetcher:
    flow_control = FlowControlEvent()
    flow_control.resume()  # resumed earlier to read the changelogs
    queue = FlowControlQueue(maxsize=100, flow_control=flow_control, clear_on_resume=True)
    consumer = _Fetcher(queue)
    recovery = _recovery(consumer, flow_control)
    await on_recovery_completed(recovery, GENERATION)
    consumer.fetch()  # the fetcher goes on after the recovery
    assert recovery.completed.is_set()
    return consumer


async def test_every_record_fetched_for_a_stream_after_recovery_stays_in_its_queue():
    consumer = await _complete_recovery(Recovery.on_recovery_completed)
    assert consumer.resumed == {SIGNALS}  # never the changelog: the tables read it
    assert consumer.handed and list(consumer.queue._queue) == consumer.handed


async def test_faust_own_order_still_throws_records_away():
    # Faust resumes the partitions before its seek and clears the queues after it. When this fails,
    # Faust fixed the race and alphapanda.recovery can go.
    consumer = await _complete_recovery(FaustRecovery.on_recovery_completed)
    assert consumer.handed[0] not in consumer.queue._queue


async def test_a_newer_rebalance_leaves_the_partitions_paused():
    flow_control = FlowControlEvent()
    consumer = _Fetcher(FlowControlQueue(maxsize=100, flow_control=flow_control, clear_on_resume=True))
    recovery = _recovery(consumer, flow_control)
    recovery.app.consumer_generation_id = GENERATION + 1
    await Recovery.on_recovery_completed(recovery, GENERATION)
    assert not consumer.resumed and not recovery.completed.is_set()


async def test_a_rebalance_during_the_seek_leaves_the_partitions_paused():
    flow_control = FlowControlEvent()
    consumer = _Fetcher(FlowControlQueue(maxsize=100, flow_control=flow_control, clear_on_resume=True))
    recovery = _recovery(consumer, flow_control)

    async def seek_while_the_group_rebalances() -> None:
        await asyncio.sleep(0)
        recovery.app.consumer_generation_id = GENERATION + 1

    consumer.perform_seek = seek_while_the_group_rebalances
    await Recovery.on_recovery_completed(recovery, GENERATION)
    assert not consumer.resumed and not recovery.completed.is_set() and not flow_control.is_active()
