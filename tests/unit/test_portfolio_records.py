"""How an account is stored: a small book record, one record per position, keys per account."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alphapanda.models import Side
from alphapanda.portfolio import (
    Account, IncompleteAccount, account_from_records, book_record, changed_positions, fill_key, position_key,
    position_keys_of,
)

T0 = datetime(2026, 11, 21, 9, 15, tzinfo=UTC)
TOKEN, OTHER = 256265, 408065


def fill(account, fill_id, side, quantity, price, commission=0.0, *, strategy="momentum_v1", token=TOKEN):
    return account.apply_fill(fill_id, strategy, token, side, quantity, price, commission, T0)[0]


def stored(account: Account, account_id: str = "paper") -> tuple[dict, dict[str, dict]]:
    """The records the agent would write, through JSON like a table."""
    book = json.loads(json.dumps(book_record(account)))
    records = {position_key(account_id, s, t): json.loads(json.dumps(p.to_dict()))
               for (s, t), p in account.positions.items()}
    return book, records


def load(book, records, account_id="paper", starting_cash=1_000.0):
    return account_from_records(book, lambda key: records.get(position_key(account_id, *key)),
                                starting_cash=starting_cash)


def sample() -> Account:
    a = fill(Account.open(100_000.0), "f1", Side.BUY, 10, 100.0, 2.0)
    a = fill(a, "f2", Side.SELL, 4, 50.0, 1.0, token=OTHER)
    a = fill(a, "f3", Side.BUY, 3, 10.0, strategy="mean_rev")
    return a.mark(TOKEN, 104.5)


def test_keys_start_with_the_account_so_they_share_its_partition_owner():
    assert position_key("paper", "momentum_v1", TOKEN) == "paper|momentum_v1|256265"
    assert fill_key("zerodha", "f-9") == "zerodha|f-9"


def test_an_account_round_trips_through_its_records():
    account = sample()
    book, records = stored(account)
    loaded = load(book, records)
    assert loaded.positions == account.positions
    assert (loaded.cash, loaded.starting_cash, loaded.fills_applied) == (account.cash, account.starting_cash, 3)
    assert loaded.daily_realized == account.daily_realized and loaded.updated_at == account.updated_at
    assert loaded.summary("paper") == account.summary("paper")


def test_the_book_lists_position_keys_and_holds_no_positions_or_fill_ids():
    book, _ = stored(sample())
    assert position_keys_of(book) == [("mean_rev", TOKEN), ("momentum_v1", TOKEN), ("momentum_v1", OTHER)]
    assert "positions" not in book and "recent_fill_ids" not in book


def test_no_book_is_a_new_account_with_the_opening_cash():
    account = load(None, {}, starting_cash=250_000.0)
    assert account.cash == account.starting_cash == 250_000.0 and account.positions == {}


def test_a_position_listed_but_not_stored_is_an_error_not_a_silent_loss():
    book, records = stored(sample())
    del records["paper|momentum_v1|256265"]
    with pytest.raises(IncompleteAccount, match="momentum_v1"):
        load(book, records)


def test_records_of_one_account_are_not_read_for_another():
    book, records = stored(sample(), account_id="paper")
    with pytest.raises(IncompleteAccount):
        load(book, records, account_id="zerodha")


def test_the_earlier_one_value_layout_is_still_read():
    account = sample()
    legacy = json.loads(json.dumps(account.to_dict()))
    loaded = load(legacy, {})
    assert loaded.positions == account.positions and loaded.cash == account.cash
    assert loaded.has_applied("f1")
    assert position_keys_of(legacy) == sorted(account.positions)


def test_a_fill_changes_only_its_own_position_record():
    before = sample()
    after = fill(before, "f4", Side.SELL, 2, 101.0, strategy="mean_rev")
    changed = dict(changed_positions(before, after))
    assert list(changed) == [("mean_rev", TOKEN)] and changed[("mean_rev", TOKEN)].quantity == 1


def test_a_naive_stored_event_time_is_refused():
    book, records = stored(sample())
    book["updated_at"] = "2026-11-21T09:15:00"
    with pytest.raises(ValueError, match="timezone"):
        load(book, records)

fills = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([TOKEN, OTHER]),
                           st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 50),
                           st.integers(100, 100_000).map(lambda p: p / 100), st.sampled_from([0.0, 1.5])),
               min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(fills)
def test_storing_and_reloading_after_every_fill_changes_nothing(sequence):
    in_memory = Account.open(100_000.0)
    book, records = None, {}
    for i, (strategy, token, side, quantity, price_, commission) in enumerate(sequence):
        in_memory = fill(in_memory, f"f{i}", side, quantity, price_, commission, strategy=strategy, token=token)
        loaded = load(book, records, starting_cash=100_000.0)
        after = fill(loaded, f"f{i}", side, quantity, price_, commission, strategy=strategy, token=token)
        for (s, t), position in changed_positions(loaded, after):
            records[position_key("paper", s, t)] = json.loads(json.dumps(position.to_dict()))
        book = json.loads(json.dumps(book_record(after)))
    final = load(book, records, starting_cash=100_000.0)
    assert final.positions == in_memory.positions
    assert final.cash == in_memory.cash and final.fills_applied == in_memory.fills_applied
    assert final.summary("paper") == in_memory.summary("paper")
