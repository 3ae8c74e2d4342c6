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
from dataclasses import replace
from datetime import datetime, timedelta

from alphapanda.agents.common import active_brokers, event_path, sender
from alphapanda.agents.market_view import market_view
from alphapanda.app import app, settings
from alphapanda.ids import derived_id
from alphapanda.models import Envelope, EventType, OrderFilled, PortfolioSummary
from alphapanda.models.wire import encode_event
from alphapanda.portfolio import Account, SnapshotSchedule, account_from_records, fill_key, position_key, snapshot_id
from alphapanda.portfolio.records import book_with_position, position_before_fill, position_record
from alphapanda.reliability import Emit, Outcome, SourceMessage, applied, stamped
from alphapanda.reliability.idempotency import APPLIED
from alphapanda.tables import accounts, fill_ids, positions
from alphapanda.topics import BrokerTopics, account_of

__all__ = [
    "portfolio", "summary_of", "load_account", "opening_cash", "owns_account", "cash_reporters", "held_accounts",
]

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


def load_account(broker: str, *, position_overrides: dict | None = None) -> Account:
    """The broker's account from its records; ``position_overrides`` replace (or add) positions."""
    account_id = account_of(broker)
    account = account_from_records(
        accounts.get(account_id),
        lambda key: positions.get(position_key(account_id, *key)),
        starting_cash=opening_cash(broker),
    )
    if position_overrides:
        account = replace(account, positions={**account.positions, **position_overrides})
    return account


def marked(account: Account, *, stamped: bool = False) -> Account:
    """The account with every position marked at this worker's latest known price; with
    ``stamped``, each mark also advances the account's event time to its tick's time."""
    marks = {}
    for token in account.instrument_tokens():
        tick = market_view.last_tick(token)
        if tick is not None:
            marks[token] = (tick.last_price, tick.timestamp if stamped else None)
    return account.mark_all(marks)


class HeldAccounts:
    """The accounts as this worker's portfolio agent last wrote them, so a fill reads three
    records instead of every position of its account.

    Valid only while the worker keeps the account's partition without a break, when nothing but
    this agent writes its records: every rebalance clears it (another worker may have written
    them meanwhile, even half a fill). Each entry also remembers the stamp of the book it was
    written with, and is used only while the stored book still carries that stamp.
    """

    def __init__(self) -> None:
        self._held: dict[str, tuple[dict | None, Account]] = {}

    def get(self, broker: str, book: dict | None) -> Account | None:
        entry = self._held.get(broker)
        if entry is None or book is None or entry[0] != book.get(APPLIED):
            return None
        return entry[1]

    def put(self, broker: str, book: dict, account: Account) -> None:
        # Without the fill-id window, like an account read from its records (the fill-ids
        # table decides repeats).
        self._held[broker] = (book.get(APPLIED), replace(account, recent_fill_ids=(), _fill_id_set=None))

    def clear(self) -> None:
        self._held.clear()


held_accounts = HeldAccounts()


@app.on_partitions_revoked.connect
async def _forget_held_accounts(app, revoked, **kwargs) -> None:
    held_accounts.clear()


def _account_before_fill(broker: str, book: dict | None, key, before_position) -> Account:
    account = held_accounts.get(broker, book)
    if account is None:
        return load_account(broker, position_overrides={key: before_position})
    return replace(account, positions={**account.positions, key: before_position})


def summary_of(broker: str) -> PortfolioSummary:
    return marked(load_account(broker)).summary(broker)


def fill_effects(broker: str, fill: OrderFilled, at: datetime, message: SourceMessage):
    """The records a fill changes, each written at most once per fill (see reliability.idempotency).

    A crash can leave any subset of a fill's writes in the changelogs. Each record remembers the
    message that last changed it, and a position record also the position before that fill, so a
    redelivered fill completes exactly the records that missed it. Returns the account after the
    fill and a commit that makes the missing writes, or None when nothing is left to do.
    """
    account_id = account_of(broker)
    key = (fill.strategy_id, fill.instrument_token)
    pkey = position_key(account_id, *key)
    fid = fill_key(account_id, fill.fill_id)
    fill_record, position_rec, book = fill_ids.get(fid), positions.get(pkey), accounts.get(account_id)
    if fill_record is not None and not applied(fill_record, message):
        return None  # the same fill reported again by another message: applied already
    position_done, book_done = applied(position_rec, message), applied(book, message)
    if fill_record is not None and position_done and book_done:
        return None

    before_position = position_before_fill(position_rec, position_done, *key)
    current = _account_before_fill(broker, book, key, before_position)
    after, _ = current.apply_fill(
        fill_id=fill.fill_id, strategy_id=fill.strategy_id, instrument_token=fill.instrument_token,
        side=fill.side, quantity=fill.quantity, price=fill.fill_price, commission=fill.commission,
        timestamp=at,
    )
    new_position = None if position_done else stamped(position_record(after.positions[key], before_position), message)
    new_book = None if book_done else stamped(book_with_position(book or {}, after, key), message)
    if book_done:  # the book has this fill already: the account is the stored book plus the position
        after = load_account(broker, position_overrides={key: after.positions[key]})

    def commit() -> None:
        if new_position is not None:
            positions[pkey] = new_position
        if new_book is not None:
            accounts[account_id] = new_book
        if fill_record is None:
            fill_ids[fid] = stamped({"at": at.timestamp()}, message)
        held_accounts.put(broker, new_book if new_book is not None else book, after)

    return after, commit


async def handle_fill(event: Envelope, broker: str, message: SourceMessage) -> Outcome:
    fill: OrderFilled = event.data
    # The fill's market time books it (daily realized PnL, the account's updated_at): a replayed
    # tape's fills belong to the tape's days, not to the day it was replayed.
    effects = fill_effects(broker, fill, fill.filled_at or event.timestamp, message)
    if effects is None:
        return Outcome()
    after, commit = effects
    snapshot = event.caused(
        EventType.PNL_SNAPSHOT, marked(after).summary(broker), source=SERVICE, broker=broker,
        event_id=derived_id("snapshot", event.id),
    )
    return Outcome([Emit(BrokerTopics(broker).pnl_snapshots, account_of(broker), snapshot)], commit)


@app.agent(fills_topic, name=SERVICE)
async def portfolio(stream):
    async for event in stream.events():
        yield await path.process(SourceMessage.from_event(event), handle_fill)


# -- periodic snapshots ------------------------------------------------------------------------

_interval = settings.portfolio.snapshot_interval_seconds
schedule = SnapshotSchedule(timedelta(seconds=_interval)) if _interval > 0 else None

#: How often the worker looks at the market clock (wall time); what is due is event time.
CLOCK_POLL_SECONDS = 0.25


def owns_account(broker: str) -> bool:
    """Whether this worker holds the active partition of the broker's account."""
    try:
        url = app.router.key_store(accounts.name, account_of(broker))
    except KeyError:  # no assignment yet, or the producer's metadata does not list the changelog yet
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
