"""Stage 4: ``{broker}.orders.filled`` -> positions and PnL -> ``{broker}.pnl.snapshots``.

An account is stored as records (alphapanda.portfolio.records): its book in ``accounts``, one
entry per (strategy, instrument) in ``positions``, one entry per applied fill in ``fill-ids``.
Every key starts with the account id and every write happens while a fill of that account is
handled, so all of an account's records live on the partition of its order flow.

Snapshots go out after every applied fill and, for accounts with open positions, once per
event-time interval (``PORTFOLIO__SNAPSHOT_INTERVAL_SECONDS``) of the market clock, on the
worker that owns the account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from alphapanda.agents.common import active_brokers, event_path, sender
from alphapanda.agents.market_view import market_view
from alphapanda.app import app, settings
from alphapanda.ids import derived_id
from alphapanda.models import Envelope, EventType, OrderFilled, PortfolioSummary
from alphapanda.models.wire import encode_event
from alphapanda.portfolio import (
    Account, SnapshotSchedule, account_from_records, book_record, changed_positions, fill_key,
    position_key, snapshot_id,
)
from alphapanda.reliability import Emit, SourceMessage
from alphapanda.tables import accounts, fill_ids, positions
from alphapanda.topics import BrokerTopics, account_of

__all__ = ["portfolio", "summary_of", "load_account", "opening_cash", "owns_account", "cash_reporters"]

log = logging.getLogger(__name__)

SERVICE = "portfolio"

_expected = {BrokerTopics(b).orders_filled: EventType.ORDER_FILLED for b in active_brokers}
fills_topic = app.topic(*_expected, key_serializer="raw", value_serializer="raw")
path = event_path(SERVICE, _expected)

#: Live venues may report the account's cash (e.g. Kite's margins); a reporter registered here
#: returns it, or None while unknown. Without one, an account opens with the paper figure.
cash_reporters: dict[str, Callable[[], float | None]] = {}


def opening_cash(broker: str) -> float:
    """The cash an account opens with: the venue's figure when it reports one, else
    ``TRADING__PAPER__STARTING_CASH``."""
    reporter = cash_reporters.get(broker)
    reported = reporter() if reporter is not None else None
    return float(reported) if reported is not None else settings.trading.paper.starting_cash


def load_account(broker: str) -> Account:
    account_id = account_of(broker)
    return account_from_records(
        accounts.get(account_id),
        lambda key: positions.get(position_key(account_id, *key)),
        starting_cash=opening_cash(broker),
    )


def marked(account: Account, *, stamped: bool = False) -> Account:
    """The account with every position marked at this worker's latest known price; with
    ``stamped``, each mark also advances the account's event time to its tick's time."""
    for token in account.instrument_tokens():
        tick = market_view.last_tick(token)
        if tick is not None:
            account = account.mark(token, tick.last_price, tick.timestamp if stamped else None)
    return account


def summary_of(broker: str) -> PortfolioSummary:
    return marked(load_account(broker)).summary(broker)


def save_fill(broker: str, before: Account, after: Account, fill_id: str, at: datetime) -> None:
    """Write what a fill changed; called only while that broker's fill event is handled."""
    account_id = account_of(broker)
    for (strategy_id, token), position in changed_positions(before, after):
        positions[position_key(account_id, strategy_id, token)] = position.to_dict()
    accounts[account_id] = book_record(after)
    fill_ids[fill_key(account_id, fill_id)] = at.timestamp()


async def handle_fill(event: Envelope, broker: str, message: SourceMessage) -> list[Emit]:
    fill: OrderFilled = event.data
    account_id = account_of(broker)
    if fill_ids.get(fill_key(account_id, fill.fill_id)) is not None:
        return []  # a fill re-reported under another event id: applied already
    before = load_account(broker)
    after, applied = before.apply_fill(
        fill_id=fill.fill_id, strategy_id=fill.strategy_id, instrument_token=fill.instrument_token,
        side=fill.side, quantity=fill.quantity, price=fill.fill_price, commission=fill.commission,
        timestamp=event.timestamp,
    )
    if not applied:
        return []
    save_fill(broker, before, after, fill.fill_id, event.timestamp)
    snapshot = event.caused(
        EventType.PNL_SNAPSHOT, marked(after).summary(broker), source=SERVICE, broker=broker,
        event_id=derived_id("snapshot", event.id),
    )
    return [Emit(BrokerTopics(broker).pnl_snapshots, account_id, snapshot)]


@app.agent(fills_topic, name=SERVICE)
async def portfolio(stream) -> None:
    async for event in stream.events():
        await path.process(SourceMessage.from_event(event), handle_fill)


# -- periodic snapshots ------------------------------------------------------------------------

_interval = settings.portfolio.snapshot_interval_seconds
schedule = SnapshotSchedule(timedelta(seconds=_interval)) if _interval > 0 else None

#: How often the worker looks at the market clock (wall time); what is due is event time.
CLOCK_POLL_SECONDS = 0.25


def owns_account(broker: str) -> bool:
    """Whether this worker holds the active partition of the broker's account."""
    try:
        url = app.router.key_store(accounts.name, account_of(broker))
    except KeyError:  # no assignment yet
        return False
    return app.router._urlident(url) == app.router._urlident(app.conf.canonical_url)


def periodic_snapshot(broker: str, due: datetime) -> Envelope | None:
    """The snapshot of ``broker`` for the interval starting ``due``; None without open positions."""
    account = load_account(broker)
    if all(p.is_flat for p in account.positions.values()):
        return None
    event_id = snapshot_id(account_of(broker), due)
    return Envelope[PortfolioSummary](
        id=event_id, type=EventType.PNL_SNAPSHOT, timestamp=due, correlation_id=event_id,
        source=SERVICE, broker=broker, data=marked(account, stamped=True).summary(broker),
    )


@app.timer(CLOCK_POLL_SECONDS, name="portfolio_periodic_snapshots")
async def periodic_snapshots() -> None:
    clock = market_view.updated_at
    if schedule is None or clock is None:
        return
    # Only from settled tables: during a start or rebalance they may be half opened.
    if not app.tables.recovery.completed.is_set() or app.rebalancing or getattr(app, "in_recovery", False):
        return
    for broker in active_brokers:
        due = schedule.due(account_of(broker), clock)
        if due is None or not owns_account(broker):
            continue
        try:
            snapshot = periodic_snapshot(broker, due)
            if snapshot is not None:
                await sender(BrokerTopics(broker).pnl_snapshots, account_of(broker).encode(), encode_event(snapshot))
        except Exception:  # the next poll retries; the worker must not stop for a snapshot
            log.exception("periodic snapshot of %s failed", broker, extra={"broker": broker})
            continue
        schedule.published(account_of(broker), due)
