"""How an :class:`Account` is stored: one book record per account, one record per position.

The portfolio agent keeps three tables, all partitioned by account (every entry is written while
the agent handles a fill of that account, so it lands on the account's partition):

- ``accounts``: account id -> the *book*: cash, fill count, realized PnL per day, event time and
  the keys of the account's positions (the index that makes "all positions of an account" one
  lookup per position, never a scan);
- ``positions``: ``"account|strategy|token"`` -> one :class:`Position` (the per
  (broker, strategy, instrument) record of the issue: a fill rewrites only its own position);
- ``fill-ids``: ``"account|fill_id"`` -> event time of the fill: idempotency for all time, at the
  cost of one small record per fill, instead of a bounded id window inside one big value.

Accounts stored by an earlier version as one value (``Account.to_dict``, positions inline) are
still read; the next fill rewrites them in this layout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from alphapanda.portfolio.account import Account, PositionKey
from alphapanda.portfolio.position import Position

__all__ = [
    "position_key",
    "fill_key",
    "book_record",
    "position_keys_of",
    "account_from_records",
    "changed_positions",
    "IncompleteAccount",
    "PREVIOUS",
    "position_before_fill",
    "position_record",
    "book_with_position",
]

_SEPARATOR = "|"


class IncompleteAccount(LookupError):
    """The book lists a position whose record is missing: the store is not (yet) consistent,
    e.g. a worker still opening or recovering its table partitions."""


def position_key(account_id: str, strategy_id: str, instrument_token: int) -> str:
    """Key of a position record; starts with the account id, like every portfolio key."""
    return f"{account_id}{_SEPARATOR}{strategy_id}{_SEPARATOR}{instrument_token}"


def fill_key(account_id: str, fill_id: str) -> str:
    """Key of a fill-id record: a fill id is unique within its account."""
    return f"{account_id}{_SEPARATOR}{fill_id}"


def book_record(account: Account) -> dict[str, Any]:
    """The account without its positions and fill-id window: small, rewritten on every fill."""
    return {
        "starting_cash": account.starting_cash,
        "cash": account.cash,
        "fills_applied": account.fills_applied,
        "daily_realized": dict(account.daily_realized),
        "updated_at": None if account.updated_at is None else account.updated_at.isoformat(),
        "position_keys": [[strategy, token] for strategy, token in sorted(account.positions)],
    }


def position_keys_of(book: Mapping[str, Any] | None) -> list[PositionKey]:
    """The (strategy, instrument) keys a stored book lists (none for a missing book)."""
    if not book:
        return []
    if "position_keys" in book:
        return [(str(strategy), int(token)) for strategy, token in book["position_keys"]]
    # The earlier one-value layout: positions inline.
    return [(str(p["strategy_id"]), int(p["instrument_token"])) for p in book.get("positions", ())]


def account_from_records(
    book: Mapping[str, Any] | None,
    position_record: Callable[[PositionKey], Mapping[str, Any] | None],
    *,
    starting_cash: float,
) -> Account:
    """The account held by ``book`` and the position records it lists.

    ``position_record`` looks a position up by its (strategy, instrument) key. A missing book is
    a new account with ``starting_cash``. A position the book lists but the store lacks is an
    inconsistency that would silently lose money, so it raises :class:`IncompleteAccount`.
    """
    if not book:
        return Account.open(starting_cash)
    if "position_keys" not in book:
        return Account.from_dict(book)  # the earlier one-value layout, fill ids included
    positions: dict[PositionKey, Position] = {}
    for key in position_keys_of(book):
        record = position_record(key)
        if record is None:
            raise IncompleteAccount(f"position {key!r} is listed by the account book but not stored")
        positions[key] = Position.from_dict({k: v for k, v in record.items() if not k.startswith("_")})
    updated_at = book.get("updated_at")
    return Account(
        starting_cash=float(book["starting_cash"]),
        cash=float(book["cash"]),
        positions=positions,
        fills_applied=int(book.get("fills_applied", 0)),
        daily_realized={str(k): float(v) for k, v in book.get("daily_realized", {}).items()},
        updated_at=None if updated_at is None else _aware(datetime.fromisoformat(updated_at)),
    )


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"stored event time {moment.isoformat()} has no timezone")
    return moment


def changed_positions(before: Account, after: Account) -> Iterable[tuple[PositionKey, Position]]:
    """The positions ``after`` holds that differ from ``before`` (what a fill must rewrite)."""
    for key, position in after.positions.items():
        if before.positions.get(key) != position:
            yield key, position


# -- applying a fill to the records, once per record ---------------------------------------------

#: Kept in a position record: the position before the last fill applied to it, so that a book
#: that missed that fill (a crash between the two writes) can be brought up to date exactly.
PREVIOUS = "_previous"


def position_before_fill(record: Mapping[str, Any] | None, already_applied: bool,
                         strategy_id: str, instrument_token: int) -> Position:
    """The position as it was before the fill being applied.

    ``already_applied``: the record was written by this very fill (a redelivery), so the
    position before it is the one the record kept in :data:`PREVIOUS`.
    """
    if record and already_applied:
        previous = record.get(PREVIOUS)
        return Position.from_dict(dict(previous)) if previous else Position(strategy_id, instrument_token)
    if record:
        return Position.from_dict({k: v for k, v in record.items() if not k.startswith("_")})
    return Position(strategy_id, instrument_token)


def position_record(after: Position, before: Position) -> dict[str, Any]:
    """What a position record holds after a fill: the position and the one before it."""
    return {**after.to_dict(), PREVIOUS: before.to_dict()}


def book_with_position(book: Mapping[str, Any], account: Account, key: PositionKey) -> dict[str, Any]:
    """``account``'s book listing ``key`` besides every position ``book`` already listed."""
    keys = {tuple(k) for k in position_keys_of(book)} | {key}
    record = book_record(account)
    record["position_keys"] = [[s, t] for s, t in sorted(keys)]
    return record
