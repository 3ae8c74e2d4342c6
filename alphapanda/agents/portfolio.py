"""Stage 4: ``{broker}.orders.filled`` -> positions and PnL -> ``{broker}.pnl.snapshots``.

Each broker's account (cash, positions per strategy and instrument) is one entry of the
``accounts`` table, keyed by account, so a fill and the account it changes are on one partition.
"""

from __future__ import annotations

from alphapanda.agents.common import active_brokers, event_path
from alphapanda.agents.market_view import market_view
from alphapanda.app import app, settings
from alphapanda.ids import derived_id
from alphapanda.models import Envelope, EventType, OrderFilled, PortfolioSummary
from alphapanda.portfolio.account import Account
from alphapanda.reliability import Emit, SourceMessage
from alphapanda.tables import accounts
from alphapanda.topics import BrokerTopics, account_of

SERVICE = "portfolio"

_expected = {BrokerTopics(b).orders_filled: EventType.ORDER_FILLED for b in active_brokers}
fills_topic = app.topic(*_expected, key_serializer="raw", value_serializer="raw")
path = event_path(SERVICE, _expected)


def starting_cash(broker: str) -> float:
    # Live accounts take cash from the venue once it reports it; until then the paper figure.
    return settings.trading.paper.starting_cash


def load_account(broker: str) -> Account:
    raw = accounts.get(account_of(broker))
    return Account.from_dict(raw) if raw else Account.open(starting_cash(broker))


def marked(account: Account) -> Account:
    """The account with every position marked at this worker's latest known price."""
    for token in account.instrument_tokens():
        price = market_view.last_price(token)
        if price is not None:
            account = account.mark(token, price)
    return account


def summary_of(broker: str) -> PortfolioSummary:
    return marked(load_account(broker)).summary(broker)


async def handle_fill(event: Envelope, broker: str, message: SourceMessage) -> list[Emit]:
    fill: OrderFilled = event.data
    account, applied = load_account(broker).apply_fill(
        fill_id=fill.fill_id, strategy_id=fill.strategy_id, instrument_token=fill.instrument_token,
        side=fill.side, quantity=fill.quantity, price=fill.fill_price, commission=fill.commission,
        timestamp=event.timestamp,
    )
    if not applied:
        return []
    accounts[account_of(broker)] = account.to_dict()
    snapshot = event.caused(
        EventType.PNL_SNAPSHOT, marked(account).summary(broker), source=SERVICE, broker=broker,
        event_id=derived_id("snapshot", event.id),
    )
    return [Emit(BrokerTopics(broker).pnl_snapshots, account_of(broker), snapshot)]


@app.agent(fills_topic, name=SERVICE)
async def portfolio(stream) -> None:
    async for event in stream.events():
        await path.process(SourceMessage.from_event(event), handle_fill)
