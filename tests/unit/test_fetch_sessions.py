"""The bookkeeping of a fetch session: what each request names, drops, and what an answer does."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.protocol.fetch import FetchRequest, FetchRequest_v4, FetchRequest_v11
from aiokafka.structs import TopicPartition

from alphapanda.fetch_sessions import (
    INITIAL_EPOCH, FetchSession, SessionFetchRequest, _SessionClient, next_epoch,
)

A, B, C = (TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("u", 0))
FETCH_SESSION_ID_NOT_FOUND = 70


def opened(wanted, session_id=7) -> FetchSession:
    session = FetchSession()
    session.next_request(wanted)
    session.answered(0, session_id)
    return session


def test_the_first_request_is_full_and_opens_a_session():
    session = FetchSession()
    step = session.next_request({A: (5, 100), B: (0, 100)})
    assert step.full and (step.session_id, step.epoch) == (0, INITIAL_EPOCH)
    assert step.send == {A: (5, 100), B: (0, 100)} and step.forget == []
    session.answered(0, 42)
    assert (session.session_id, session.epoch) == (42, 1)


def test_an_incremental_request_names_only_what_moved_and_drops_what_left():
    session = opened({A: (5, 100), B: (0, 100)})
    idle = session.next_request({A: (5, 100), B: (0, 100)})
    assert not idle.full and idle.send == {} and idle.forget == [] and idle.epoch == 1
    session.answered(0, 7)
    moved = session.next_request({A: (9, 100), C: (3, 100)})  # A taken, B buffered, C new
    assert moved.send == {A: (9, 100), C: (3, 100)} and moved.forget == [B] and moved.epoch == 2
    session.answered(0, 7)
    back = session.next_request({A: (9, 100), B: (4, 100), C: (3, 100)})
    assert back.send == {B: (4, 100)} and back.forget == []


@pytest.mark.parametrize("error", [FETCH_SESSION_ID_NOT_FOUND, 71, 1])
def test_an_error_falls_back_to_a_full_request(error):
    session = opened({A: (5, 100)})
    session.next_request({A: (6, 100)})
    session.answered(error, 0)
    step = session.next_request({A: (6, 100), B: (0, 100)})
    assert step.full and step.send == {A: (6, 100), B: (0, 100)}


def test_a_broker_that_keeps_no_session_gets_full_requests():
    session = FetchSession()
    session.next_request({A: (5, 100)})
    session.answered(0, 0)
    assert session.next_request({A: (5, 100)}).full


def test_an_answer_to_no_pending_request_resets():
    session = opened({A: (5, 100)})
    session.answered(0, 7)  # nothing was pending: we no longer know what the broker holds
    assert session.next_request({A: (5, 100)}).full


def test_the_epoch_wraps_past_zero():
    assert next_epoch(1) == 2
    assert next_epoch(2**31 - 1) == 1


def _plain(topics) -> FetchRequest:
    return FetchRequest(20, 1, 50_000_000, 0, topics)


def test_the_wire_request_names_the_step_and_keeps_every_partition_for_the_answer():
    session = opened({A: (5, 100), B: (0, 100)})
    plain = _plain([("t", [(0, 5, 100), (1, 2, 100)])])
    step = session.next_request({A: (5, 100), B: (2, 100)})
    request = SessionFetchRequest(plain, session, step)
    struct = request.build(FetchRequest_v11)
    assert (struct.session_id, struct.session_epoch) == (7, 1)
    assert struct.topics == [("t", [(1, -1, 2, -1, 100)])]
    assert struct.forgotten_topics_data == []
    assert request.topics == plain.topics  # aiokafka matches the answer's offsets against these


def test_a_protocol_without_sessions_sends_everything_and_resets():
    session = opened({A: (5, 100), B: (0, 100)})
    plain = _plain([("t", [(0, 5, 100), (1, 2, 100)])])
    request = SessionFetchRequest(plain, session, session.next_request({A: (5, 100), B: (2, 100)}))
    struct = request.build(FetchRequest_v4)
    assert struct.topics == [("t", [(0, 5, 100), (1, 2, 100)])]
    assert session.next_request({A: (5, 100), B: (2, 100)}).full


class _Client:
    def __init__(self, outcome) -> None:
        self.outcome = outcome

    async def send(self, node_id, request):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


class _Answer:
    def __init__(self, error_code=0, session_id=7) -> None:
        self.error_code, self.session_id = error_code, session_id


async def test_the_client_tells_the_session_how_each_request_ended():
    session = opened({A: (5, 100)})
    plain = _plain([("t", [(0, 6, 100)])])
    request = SessionFetchRequest(plain, session, session.next_request({A: (6, 100)}))
    await _SessionClient(_Client(_Answer())).send(1, request)
    assert session.epoch == 2

    request = SessionFetchRequest(plain, session, session.next_request({A: (6, 100)}))
    with pytest.raises(asyncio.CancelledError):
        await _SessionClient(_Client(asyncio.CancelledError())).send(1, request)
    assert session.next_request({A: (6, 100)}).full  # what the broker holds is unknown now
