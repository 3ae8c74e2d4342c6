"""Incremental fetch sessions (KIP-227) for aiokafka's fetcher.

aiokafka sends every fetch with every fetchable partition of the node and the broker answers
with every one of them, data or not. A worker holds ~45 partitions (ticks, each broker's order
flow, the changelogs it stands by for) and, at 1,000 ticks/s, fetches ~700 times a second: in
py-spy the consumer thread spent about a fifth of its time encoding those requests and decoding
answers for partitions that had nothing, holding the GIL the stages run under.

With a session the broker remembers the partitions and their offsets: a request names only the
partitions whose fetch offset changed (taken records, a seek) and those to drop, and the answer
carries only partitions with records or a changed high watermark, as the Java consumer does.

:class:`FetchSession` is the bookkeeping of one node's session (no I/O); :class:`SessionFetcher`
puts it on aiokafka's fetcher: its requests go out through :class:`SessionFetchRequest`, and the
client it sends with tells the session each answer (or failure). Any error, a broker that will
not open a session, or a protocol before v7 falls back to full fetches, which are what aiokafka
sends anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiokafka.consumer.fetcher import Fetcher
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.structs import TopicPartition

__all__ = ["FetchSession", "SessionFetchRequest", "SessionFetcher", "use_fetch_sessions", "SUPPORTED"]

log = logging.getLogger(__name__)

#: The epoch that asks the broker to open a new session (with a full request).
INITIAL_EPOCH = 0
#: Session id of "no session".
NO_SESSION = 0
#: Fetch v7 added sessions.
SESSION_API_VERSION = 7

#: (fetch offset, max bytes) of a partition, as a request states it.
Wanted = dict[TopicPartition, tuple[int, int]]


def next_epoch(epoch: int) -> int:
    """The epoch after ``epoch``: it wraps to 1, never to 0 (which would open a new session)."""
    return 1 if epoch >= 2**31 - 1 else epoch + 1


@dataclass
class SessionStep:
    """What one request sends: the partitions to name and those to drop, under ``session_id``
    and ``epoch``; ``full`` when it names every partition (opening a session)."""

    session_id: int
    epoch: int
    send: Wanted
    forget: list[TopicPartition]

    @property
    def full(self) -> bool:
        return self.epoch == INITIAL_EPOCH


@dataclass
class FetchSession:
    """One node's fetch session, as the broker holds it after our last request.

    ``partitions`` are what the broker fetches for us on every request, at the offsets we last
    named: a partition whose records we took must be named again with its new offset, or the
    broker would send the same records again; one we stop fetching (records not yet taken,
    paused, moved to another leader) must be dropped, or it would keep sending them.
    """

    session_id: int = NO_SESSION
    epoch: int = INITIAL_EPOCH
    partitions: Wanted = field(default_factory=dict)
    #: The request in flight, until its answer (or failure) arrives.
    pending: SessionStep | None = None

    def next_request(self, wanted: Wanted) -> SessionStep:
        """The request that leaves the broker fetching exactly ``wanted``."""
        if self.session_id == NO_SESSION or self.epoch == INITIAL_EPOCH:
            step = SessionStep(NO_SESSION, INITIAL_EPOCH, dict(wanted), [])
        else:
            held = self.partitions
            send = {tp: state for tp, state in wanted.items() if held.get(tp) != state}
            forget = [tp for tp in held if tp not in wanted]
            step = SessionStep(self.session_id, self.epoch, send, forget)
        self.partitions = dict(wanted)
        self.pending = step
        return step

    def answered(self, error_code: int, session_id: int) -> None:
        """The broker's answer to the pending request: its top-level error and session id."""
        step, self.pending = self.pending, None
        if step is None or error_code != 0:
            self.reset()  # an unknown or stale session: the next request opens a new one
        elif step.full:
            if session_id == NO_SESSION:
                self.reset()  # the broker keeps no session (its cache is full): full fetches
            else:
                self.session_id, self.epoch = session_id, 1
        else:
            self.epoch = next_epoch(self.epoch)

    def reset(self) -> None:
        """Forget the session; the next request is full and opens a new one."""
        self.session_id, self.epoch, self.partitions, self.pending = NO_SESSION, INITIAL_EPOCH, {}, None


class SessionFetchRequest(FetchRequest):
    """A fetch request in a session: :attr:`topics` is every partition the answer may carry
    (what aiokafka checks the answer's offsets against); the wire request names only
    ``step.send`` and drops ``step.forget``."""

    def __init__(self, plain: FetchRequest, session: FetchSession, step: SessionStep) -> None:
        super().__init__(plain._max_wait_ms, plain._min_bytes, plain._max_bytes, plain._isolation_level,
                         plain._topics, rack_id=plain._rack_id)
        self.session = session
        self.step = step

    def build(self, request_struct_class):
        if request_struct_class.API_VERSION < SESSION_API_VERSION:
            self.session.reset()  # no sessions in this protocol: the full request of old
            return super().build(request_struct_class)
        # aiokafka's build lays partitions out per protocol version: let it lay out ours.
        full_topics, self._topics = self._topics, _by_topic(self.step.send)
        try:
            struct = super().build(request_struct_class)
        finally:
            self._topics = full_topics
        struct.session_id = self.step.session_id
        struct.session_epoch = self.step.epoch
        struct.forgotten_topics_data = [(topic, [tp.partition for tp in tps]) for topic, tps in _group(self.step.forget).items()]
        return struct


class _SessionClient:
    """The fetcher's client: tells each session how its request ended."""

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    async def send(self, node_id, request, *args, **kwargs):
        if not isinstance(request, SessionFetchRequest):
            return await self._client.send(node_id, request, *args, **kwargs)
        try:
            response = await self._client.send(node_id, request, *args, **kwargs)
        except BaseException:
            request.session.reset()  # lost or cancelled: what the broker holds is unknown
            raise
        if request.session.pending is request.step:
            request.session.answered(getattr(response, "error_code", 0), getattr(response, "session_id", NO_SESSION))
        return response


class SessionFetcher(Fetcher):
    """aiokafka's fetcher with a fetch session per node (see the module's docstring)."""

    _sessions: dict

    @classmethod
    def adopt(cls, fetcher: Fetcher) -> "SessionFetcher":
        """Turn a started consumer's fetcher into a session fetcher, in place: aiokafka builds
        its fetcher inside ``AIOKafkaConsumer.start`` and its fetch loop looks each step up on
        the instance, so the next request is the first of a session."""
        fetcher.__class__ = cls
        fetcher._sessions = {}
        fetcher._client = _SessionClient(fetcher._client)
        return fetcher

    def _get_actions_per_node(self, assignment):
        fetch_requests, *rest = super()._get_actions_per_node(assignment)
        in_session = []
        for node_id, request in fetch_requests:
            session = self._sessions.setdefault(node_id, FetchSession())
            wanted = {TopicPartition(topic, partition): (offset, max_bytes)
                      for topic, partitions in request.topics for partition, offset, max_bytes in partitions}
            in_session.append((node_id, SessionFetchRequest(request, session, session.next_request(wanted))))
        return (in_session, *rest)


def _supported() -> bool:
    """The aiokafka internals this module builds on (0.14's) are there."""
    probe = FetchRequest(0, 1, 1, 0, [])
    return (all(hasattr(probe, name) for name in ("_max_wait_ms", "_min_bytes", "_max_bytes", "_isolation_level",
                                                  "_topics", "_rack_id"))
            and all(callable(getattr(Fetcher, name, None)) for name in ("_get_actions_per_node", "_proc_fetch_request")))


#: False on an aiokafka whose fetcher this module does not know: its consumers fetch as they are.
SUPPORTED = _supported()


def use_fetch_sessions(consumer) -> bool:
    """Give a started ``AIOKafkaConsumer`` fetch sessions; False when it keeps full fetches."""
    fetcher = getattr(consumer, "_fetcher", None)
    if not SUPPORTED:
        log.warning("fetch sessions are off: this aiokafka's fetcher is not the one they were made for")
        return False
    if isinstance(fetcher, Fetcher) and not isinstance(fetcher, SessionFetcher):
        SessionFetcher.adopt(fetcher)
    return isinstance(fetcher, SessionFetcher)


def _group(tps) -> dict[str, list[TopicPartition]]:
    grouped: dict[str, list[TopicPartition]] = {}
    for tp in tps:
        grouped.setdefault(tp.topic, []).append(tp)
    return grouped


def _by_topic(wanted: Wanted) -> list[tuple[str, list[tuple[int, int, int]]]]:
    """``wanted`` in the shape of aiokafka's ``FetchRequest`` topics."""
    return [(topic, [(tp.partition, *wanted[tp]) for tp in tps]) for topic, tps in _group(wanted).items()]
