"""The portfolio agent: each fill changes the account once, even when a crash split its writes."""

import copy

import pytest

from alphapanda.agents.portfolio import held_accounts, load_account, portfolio
from alphapanda.portfolio import fill_key, position_key
from alphapanda.tables import accounts, fill_ids, positions
from tests.agents.conftest import Delivery
from tests.support.pipeline import envelope


def fill(fill_id, *, side="BUY", quantity=10, price=100.0, commission=1.0, event_id=None,
         strategy="mom", token=408065):
    return envelope("order_filled", {
        "order_id": "o-" + fill_id, "signal_id": "s-" + fill_id, "strategy_id": strategy, "instrument_token": token,
        "side": side, "quantity": quantity, "fill_id": fill_id, "fill_price": price, "commission": commission,
    }, broker="paper", event_id=event_id or "e-" + fill_id)


def state():
    account = load_account("paper")
    p = account.position("mom", 408065)
    return account.cash, account.fills_applied, p.quantity, p.average_price, p.realized_pnl


async def deliver_fills(agent, *fills):
    deliver = Delivery(agent)
    for f in fills:
        await deliver("paper.orders.filled", f)
    return deliver


async def test_fills_update_cash_position_and_snapshot(sent):
    async with portfolio.test_context() as agent:
        await deliver_fills(agent, fill("f1"), fill("f2", side="SELL", quantity=4, price=110.0))
    cash, fills, quantity, average, realized = state()
    assert (fills, quantity, average) == (2, 6, 100.0)
    assert cash == pytest.approx(1_000_000 - 1000 - 1 + 440 - 1)
    assert realized == pytest.approx(40 - 2)
    assert [s["data"]["fills"] for s in sent.to("paper.pnl.snapshots")] == [1, 2]


async def test_a_fill_reported_again_under_a_new_event_id_is_applied_once(sent):
    async with portfolio.test_context() as agent:
        await deliver_fills(agent, fill("f1"), fill("f1", event_id="other-message"))
    assert state()[1:3] == (1, 10)


@pytest.mark.parametrize("lost", ["book", "position", "fill_id", "book+fill_id", "position+fill_id"])
async def test_a_redelivered_fill_completes_exactly_the_writes_a_crash_lost(sent, lost):
    """Deliver f2, undo some of its writes (as a crash before they reached the changelog would),
    then deliver the same message (same offset) again: the account is as if f2 applied once."""
    async with portfolio.test_context() as agent:
        deliver = await deliver_fills(agent, fill("f1"))
        book_before = copy.deepcopy(accounts["paper"])
        position_before = copy.deepcopy(positions[position_key("paper", "mom", 408065)])
        await deliver("paper.orders.filled", fill("f2", side="SELL", quantity=4, price=110.0))
        expected = state()

        # Straight to the stores: what the table would hold had those changelog writes been lost.
        if "book" in lost:
            accounts.data["paper"] = book_before
        if "position" in lost:
            positions.data[position_key("paper", "mom", 408065)] = position_before
        if "fill_id" in lost:
            del fill_ids.data[fill_key("paper", "f2")]
        deliver.offset -= 1
        await deliver("paper.orders.filled", fill("f2", side="SELL", quantity=4, price=110.0))
    assert state() == expected
    assert fill_ids.get(fill_key("paper", "f2")) is not None


async def test_the_account_held_between_fills_is_the_one_its_records_hold(sent):
    async with portfolio.test_context() as agent:
        await deliver_fills(
            agent, fill("f1"), fill("f2", token=738561, price=2500.0), fill("f3", strategy="rev"),
            fill("f4", side="SELL", quantity=4, price=110.0), fill("f5", token=738561, side="SELL", price=2490.0),
        )
    held = held_accounts.get("paper", accounts["paper"])
    assert held is not None and held == load_account("paper")
    assert [s["data"]["fills"] for s in sent.to("paper.pnl.snapshots")] == [1, 2, 3, 4, 5]


async def test_records_another_worker_wrote_meanwhile_are_read_again(sent):
    """The held account is used only while the stored book is the one it was written with."""
    async with portfolio.test_context() as agent:
        deliver = await deliver_fills(agent, fill("f1"))
        book_after_f1, account_after_f1 = copy.deepcopy(accounts["paper"]), load_account("paper")
        await deliver("paper.orders.filled", fill("f2", token=738561, price=2500.0))
        # As if another worker had applied f2 while this one held the account as of f1.
        held_accounts.put("paper", book_after_f1, account_after_f1)
        await deliver("paper.orders.filled", fill("f3", side="SELL", quantity=4, price=110.0))
    account = load_account("paper")
    assert account.position("mom", 738561).quantity == 10
    assert account.fills_applied == 3
    last = sent.to("paper.pnl.snapshots")[-1]["data"]
    assert {p["instrument_token"] for p in last["positions"]} == {408065, 738561}
    assert held_accounts.get("paper", accounts["paper"]) == account


async def test_a_rebalance_forgets_the_held_accounts(sent):
    from alphapanda.agents.portfolio import _forget_held_accounts
    from alphapanda.app import app

    async with portfolio.test_context() as agent:
        await deliver_fills(agent, fill("f1"))
    assert held_accounts.get("paper", accounts["paper"]) is not None
    await _forget_held_accounts(app, set())
    assert held_accounts.get("paper", accounts["paper"]) is None
