"""One broker account's books: cash, positions per (strategy, instrument), fill idempotency.

The portfolio agent keeps one :class:`Account` per broker account in a Faust table (partitioned
by account, like all order flow), as the plain JSON of :meth:`Account.to_dict`. Every change
returns a new ``Account``; the agent assigns it back to the table, which is what reaches the
changelog.

Idempotency: delivery is at-least-once, so the same fill can arrive twice (redelivery after a
crash or rebalance, a venue re-reporting a fill). The account remembers the ids of the most
recent ``fill_id_window`` fills (default 1_000) and the count of all fills applied; a fill whose
id is remembered is a no-op. The window is a bound, not a guarantee for all time: a duplicate
older than the last ``fill_id_window`` fills would be applied again. Redeliveries replay only the
uncommitted tail of the fills topic (Faust commits every few seconds), well inside the window,
and the execution stage checks order ids and cumulative fill quantities before it emits fills,
so the two checks together cover both sources of duplicates. The window is not larger because
the whole account is one table value: every fill writes it, ids included, to the changelog
(~40 bytes per id), so 10_000 ids would make every changelog record ~400 KB.

Realized PnL is also booked per UTC day of the fill's event time (``realized_pnl_today``), so the
risk engine's daily loss limit replays the same way. The last ``DAILY_HISTORY_DAYS`` days are kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

from alphapanda.models import PortfolioSummary, Side
from alphapanda.portfolio.position import Position, round_money, validate_fill

__all__ = ["Account", "PositionKey", "DEFAULT_FILL_ID_WINDOW", "DAILY_HISTORY_DAYS"]

PositionKey = tuple[str, int]  # (strategy_id, instrument_token)

DEFAULT_FILL_ID_WINDOW = 1_000
DAILY_HISTORY_DAYS = 31


def _utc_day(moment: date | datetime) -> date:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("naive datetime: event times must be timezone-aware")
        return moment.astimezone(UTC).date()
    return moment


def _require_aware(timestamp: datetime) -> datetime:
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("naive datetime: event times must be timezone-aware")
    return timestamp.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Account:
    """The books of one broker account.

    Responsibilities: apply each fill exactly once (cash, position, daily realized PnL), mark
    positions to market prices, and produce the portfolio summary of CONTRACTS.md. Treat the
    mappings as read-only; they are wrapped so that an accidental in-place write fails loudly.
    """

    starting_cash: float
    cash: float
    positions: Mapping[PositionKey, Position] = field(default_factory=dict)
    recent_fill_ids: tuple[str, ...] = ()  # oldest first, at most fill_id_window
    fill_id_window: int = DEFAULT_FILL_ID_WINDOW
    fills_applied: int = 0
    daily_realized: Mapping[str, float] = field(default_factory=dict)  # ISO UTC day -> PnL
    updated_at: datetime | None = None  # latest event time of a fill or mark
    # Derived from recent_fill_ids, for O(1) membership tests; never serialised.
    _fill_id_set: frozenset[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not math.isfinite(self.starting_cash) or not math.isfinite(self.cash):
            raise ValueError("cash must be finite")
        if self.fill_id_window < 1:
            raise ValueError("fill_id_window must be >= 1")
        if len(self.recent_fill_ids) > self.fill_id_window:  # the window was made smaller
            object.__setattr__(self, "recent_fill_ids",
                               tuple(self.recent_fill_ids[-self.fill_id_window:]))
            object.__setattr__(self, "_fill_id_set", None)
        if not isinstance(self.positions, MappingProxyType):
            object.__setattr__(self, "positions", MappingProxyType(dict(self.positions)))
        if not isinstance(self.daily_realized, MappingProxyType):
            object.__setattr__(self, "daily_realized",
                               MappingProxyType(dict(self.daily_realized)))
        if self._fill_id_set is None:
            object.__setattr__(self, "_fill_id_set", frozenset(self.recent_fill_ids))

    @classmethod
    def open(cls, starting_cash: float, *,
             fill_id_window: int = DEFAULT_FILL_ID_WINDOW) -> Account:
        """A new account holding only ``starting_cash``."""
        return cls(starting_cash=float(starting_cash), cash=float(starting_cash),
                   fill_id_window=fill_id_window)

    # -- queries ------------------------------------------------------------------------------

    def has_applied(self, fill_id: str) -> bool:
        """Whether ``fill_id`` is among the remembered (most recent) fills."""
        assert self._fill_id_set is not None
        return fill_id in self._fill_id_set

    def position(self, strategy_id: str, instrument_token: int) -> Position | None:
        return self.positions.get((strategy_id, instrument_token))

    def instrument_tokens(self) -> list[int]:
        """Every instrument the account has a position in (flat ones included), sorted."""
        return sorted({token for _, token in self.positions})

    @property
    def realized_pnl(self) -> float:
        return math.fsum(p.realized_pnl for p in self.positions.values())

    @property
    def unrealized_pnl(self) -> float:
        return math.fsum(p.unrealized_pnl for p in self.positions.values())

    @property
    def total_pnl(self) -> float:
        return self.realized_pnl + self.unrealized_pnl

    @property
    def equity(self) -> float:
        """Cash plus the signed market value of every open position."""
        return self.cash + math.fsum(p.market_value for p in self.positions.values())

    def realized_pnl_today(self, day: date | datetime) -> float:
        """Realized PnL (net of commissions) of the fills whose event time falls on ``day``
        (UTC; a datetime is converted to its UTC day). 0 for a day without fills."""
        return self.daily_realized.get(_utc_day(day).isoformat(), 0.0)

    # -- changes ------------------------------------------------------------------------------

    def apply_fill(self, fill_id: str, strategy_id: str, instrument_token: int,
                   side: Side | str, quantity: int, price: float, commission: float,
                   timestamp: datetime) -> tuple[Account, bool]:
        """The account after a fill, and whether it was applied (False: a known duplicate,
        the account is returned unchanged)."""
        if self.has_applied(fill_id):
            return self, False
        validate_fill(quantity, price, commission)
        when = _require_aware(timestamp)
        side = Side(side)

        key = (strategy_id, instrument_token)
        before = self.positions.get(key) or Position(strategy_id, instrument_token)
        after = before.apply_fill(side, quantity, price, commission)

        positions = dict(self.positions)
        positions[key] = after
        cash = self.cash - side.sign * quantity * price - commission

        return replace(
            self,
            cash=cash,
            positions=positions,
            daily_realized=self._book_realized(when, after.realized_pnl - before.realized_pnl),
            updated_at=when if self.updated_at is None else max(self.updated_at, when),
            **self._remember(fill_id),
        ), True

    def mark(self, instrument_token: int, price: float,
             timestamp: datetime | None = None) -> Account:
        """The account with every position in ``instrument_token`` valued at ``price``.

        Returns ``self`` when nothing changes (no position in that instrument, same price), so
        a caller can skip a table write with ``if new is not old``.
        """
        positions = dict(self.positions)
        changed = False
        for key, position in self.positions.items():
            if key[1] == instrument_token:
                marked = position.mark(price)
                if marked is not position:
                    positions[key] = marked
                    changed = True
        if not changed:
            return self
        updated_at = self.updated_at
        if timestamp is not None:
            when = _require_aware(timestamp)
            updated_at = when if updated_at is None else max(updated_at, when)
        return replace(self, positions=positions, updated_at=updated_at)

    def mark_all(self, marks: Mapping[int, tuple[float, datetime | None]]) -> Account:
        """The account with each instrument of ``marks`` valued at its price, in one pass.

        ``marks``: instrument token -> (price, event time of that price or None). Gives what
        :meth:`mark` called once per instrument gives (the event time advances only for marks
        that changed a position), without a new account per instrument.
        """
        positions = dict(self.positions)
        updated_at = self.updated_at
        changed = False
        for key, position in self.positions.items():
            mark = marks.get(key[1])
            if mark is None:
                continue
            price, timestamp = mark
            marked = position.mark(price)
            if marked is position:
                continue
            positions[key] = marked
            changed = True
            if timestamp is not None:
                when = _require_aware(timestamp)
                updated_at = when if updated_at is None else max(updated_at, when)
        if not changed:
            return self
        return replace(self, positions=positions, updated_at=updated_at)

    def _remember(self, fill_id: str) -> dict[str, Any]:
        ids = self.recent_fill_ids + (fill_id,)
        assert self._fill_id_set is not None
        id_set = self._fill_id_set | {fill_id}
        if len(ids) > self.fill_id_window:
            evicted, ids = ids[:-self.fill_id_window], ids[-self.fill_id_window:]
            id_set = id_set.difference(evicted)
        return {"recent_fill_ids": ids, "_fill_id_set": id_set,
                "fills_applied": self.fills_applied + 1}

    def _book_realized(self, when: datetime, amount: float) -> dict[str, float]:
        daily = dict(self.daily_realized)
        day = when.date().isoformat()
        daily[day] = daily.get(day, 0.0) + amount
        if len(daily) > DAILY_HISTORY_DAYS:
            # ISO dates sort chronologically: keep the most recent days.
            daily = {d: daily[d] for d in sorted(daily)[-DAILY_HISTORY_DAYS:]}
        return daily

    # -- outputs ------------------------------------------------------------------------------

    def summary(self, broker: str) -> PortfolioSummary:
        """The portfolio summary of CONTRACTS.md; money rounded to 1e-6.

        ``realized_pnl_today`` is the realized PnL of the UTC day of ``updated_at`` (None before
        the first event), for the risk engine's daily loss limit.
        """
        positions = [self.positions[k] for k in sorted(self.positions)]
        realized = self.realized_pnl
        unrealized = self.unrealized_pnl
        return PortfolioSummary(
            broker=broker,
            positions=[p.view() for p in positions],
            realized_pnl=round_money(realized),
            unrealized_pnl=round_money(unrealized),
            total_pnl=round_money(realized + unrealized),
            fills=self.fills_applied,
            cash=round_money(self.cash),
            equity=round_money(self.equity),
            realized_pnl_today=(None if self.updated_at is None
                                else round_money(self.realized_pnl_today(self.updated_at))),
            updated_at=self.updated_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state for a Faust table, full precision."""
        return {
            "starting_cash": self.starting_cash,
            "cash": self.cash,
            "positions": [self.positions[k].to_dict() for k in sorted(self.positions)],
            "recent_fill_ids": list(self.recent_fill_ids),
            "fill_id_window": self.fill_id_window,
            "fills_applied": self.fills_applied,
            "daily_realized": dict(self.daily_realized),
            "updated_at": None if self.updated_at is None else self.updated_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, fill_id_window: int | None = None) -> Account:
        """The account stored by :meth:`to_dict`; ``fill_id_window`` overrides the stored bound
        (a smaller window keeps the most recent ids)."""
        positions: Iterable[Position] = (Position.from_dict(p) for p in data.get("positions", ()))
        updated_at = data.get("updated_at")
        return cls(
            starting_cash=float(data["starting_cash"]),
            cash=float(data["cash"]),
            positions={(p.strategy_id, p.instrument_token): p for p in positions},
            recent_fill_ids=tuple(str(i) for i in data.get("recent_fill_ids", ())),
            fill_id_window=(fill_id_window if fill_id_window is not None
                            else int(data.get("fill_id_window", DEFAULT_FILL_ID_WINDOW))),
            fills_applied=int(data.get("fills_applied", 0)),
            daily_realized={str(k): float(v) for k, v in data.get("daily_realized", {}).items()},
            updated_at=None if updated_at is None else _require_aware(
                datetime.fromisoformat(updated_at)),
        )
