"""Topic names per broker, and the prefix rule that routes every message."""

import pytest

from alphapanda.topics import MARKET_TICKS, BrokerTopics, UnknownBrokerTopic, all_topics, broker_of, dlq_of


def test_a_brokers_topics_carry_its_prefix():
    t = BrokerTopics("paper")
    assert (t.signals_raw, t.signals_validated, t.signals_rejected) == (
        "paper.signals.raw", "paper.signals.validated", "paper.signals.rejected")
    assert (t.orders_submitted, t.orders_filled, t.orders_failed, t.pnl_snapshots) == (
        "paper.orders.submitted", "paper.orders.filled", "paper.orders.failed", "paper.pnl.snapshots")
    assert all(name.startswith("paper.") for name in t.all())


@pytest.mark.parametrize("name", ["market", "Paper", "9lives", "all", ""])
def test_reserved_or_malformed_broker_names_are_refused(name):
    with pytest.raises(ValueError):
        BrokerTopics(name)


def test_the_broker_of_a_topic_is_its_prefix():
    assert broker_of("zerodha.orders.filled") == "zerodha"
    assert broker_of("paper.signals.raw.dlq") == "paper"


@pytest.mark.parametrize("topic", ["market.ticks", "nyse.signals.raw", "paper", "signals.raw"])
def test_topics_without_a_known_broker_prefix_are_rejected(topic):
    with pytest.raises(UnknownBrokerTopic):
        broker_of(topic)


def test_only_active_brokers_count_when_given():
    with pytest.raises(UnknownBrokerTopic):
        broker_of("zerodha.signals.raw", active=["paper"])


def test_all_topics_include_market_data_every_broker_and_every_dlq():
    names = all_topics(["paper", "zerodha"])
    assert MARKET_TICKS in names and dlq_of(MARKET_TICKS) in names
    for broker in ("paper", "zerodha"):
        for topic in BrokerTopics(broker).all():
            assert topic in names and dlq_of(topic) in names
    assert len(names) == len(set(names))
