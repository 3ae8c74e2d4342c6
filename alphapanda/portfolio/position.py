"""One strategy's position in one instrument: signed quantity, average open price, PnL.

Accounting rules (the contract of CONTRACTS.md "Portfolio summary"):

- ``quantity`` is signed: positive long, negative short, zero flat.
- ``average_price`` is the weighted average cost of the *open* quantity. Adding to a position
  moves it; reducing a position leaves it unchanged; a position that crosses zero (long 10, sell
  15) closes the old side and opens the rest (short 5) at the fill price; flat means 0.0.
- ``realized_pnl`` accrues on the closed part only: ``(fill - average) * closed`` for a long,
  the negative of that for a short. Commissions are subtracted from ``realized_pnl`` when they
  are paid, on every fill, opening fills included, so a position opened and not yet closed shows
  its entry commission as a realized loss. This keeps ``realized + unrealized`` equal to the
  mark-to-market of the fills at every moment.
- ``unrealized_pnl`` is ``(last_price - average_price) * quantity``; 0 when flat or unpriced.
- A fill marks the position at the fill price: it is the latest price we actually traded at.

Instances are immutable: every change returns a new object, because state is kept in Faust
tables, which only see a change when a new value is assigned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from alphapanda.models import PositionView, Side

__all__ = ["Position", "validate_fill", "round_money"]

_MONEY_DECIMALS = 6


def round_money(value: float) -> float:
    """Money as shown to the outside world: 1e-6 resolution; inside, full float precision."""
    rounded = round(value, _MONEY_DECIMALS)
    return 0.0 if rounded == 0 else rounded  # no "-0.0" on the wire


def validate_fill(quantity: int, price: float, commission: float) -> None:
    """Refuse a fill that would corrupt the books (the wire models check it too; this is the
    last line of defence for callers that build fills themselves)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ValueError(f"fill quantity must be a positive int, got {quantity!r}")
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"fill price must be finite and > 0, got {price!r}")
    if not math.isfinite(commission) or commission < 0:
        raise ValueError(f"commission must be finite and >= 0, got {commission!r}")


@dataclass(frozen=True, slots=True)
class Position:
    """A position of ``strategy_id`` in ``instrument_token`` (within one broker account).

    Responsibilities: apply fills (open, add, reduce, close, flip), mark to a price, report
    realized and unrealized PnL, and round-trip through plain JSON for table storage.
    """

    strategy_id: str
    instrument_token: int
    quantity: int = 0
    average_price: float = 0.0
    realized_pnl: float = 0.0  # net of every commission paid
    commissions: float = 0.0  # total paid, for transparency; already inside realized_pnl
    fills: int = 0
    last_price: float | None = None
    # The wire view, made once per instance (instances never change): an account's snapshot
    # after a fill re-uses the views of the positions neither that fill nor a new price touched.
    _view: PositionView | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    @property
    def unrealized_pnl(self) -> float:
        if self.quantity == 0 or self.last_price is None:
            return 0.0
        return (self.last_price - self.average_price) * self.quantity

    @property
    def total_pnl(self) -> float:
        return self.realized_pnl + self.unrealized_pnl

    @property
    def market_value(self) -> float:
        """Signed value of the open quantity at ``last_price`` (0 when unpriced)."""
        if self.last_price is None:
            return 0.0
        return self.quantity * self.last_price

    def apply_fill(self, side: Side | str, quantity: int, price: float,
                   commission: float = 0.0) -> Position:
        """The position after a fill of ``quantity`` (> 0) at ``price`` on ``side``."""
        validate_fill(quantity, price, commission)
        signed = Side(side).sign * quantity
        old = self.quantity
        new = old + signed
        realized = self.realized_pnl - commission

        if old == 0 or (old > 0) == (signed > 0):
            # Opening or adding: the average is the cost-weighted mean of the open quantity.
            average = (self.average_price * abs(old) + price * quantity) / abs(new)
        else:
            # Reducing, closing or flipping: realize on the closed part only.
            closed = min(abs(old), quantity)
            direction = 1 if old > 0 else -1
            realized += (price - self.average_price) * closed * direction
            if new == 0:
                average = 0.0
            elif (new > 0) == (old > 0):
                average = self.average_price
            else:
                average = price  # the remainder opens the other side at the fill price

        return replace(
            self,
            quantity=new,
            average_price=average,
            realized_pnl=realized,
            commissions=self.commissions + commission,
            fills=self.fills + 1,
            last_price=price,
        )

    def mark(self, price: float) -> Position:
        """The position valued at ``price`` (a newer market price)."""
        if not math.isfinite(price) or price <= 0:
            raise ValueError(f"mark price must be finite and > 0, got {price!r}")
        if price == self.last_price:
            return self
        # Positionally rather than by dataclasses.replace, a third of its cost: a snapshot marks
        # every position of the account.
        return Position(self.strategy_id, self.instrument_token, self.quantity, self.average_price,
                        self.realized_pnl, self.commissions, self.fills, price)

    def view(self) -> PositionView:
        """The wire shape of CONTRACTS.md, money rounded to 1e-6."""
        view = self._view
        if view is None:
            view = self._make_view()
            object.__setattr__(self, "_view", view)
        return view

    def _make_view(self) -> PositionView:
        return PositionView(
            strategy_id=self.strategy_id,
            instrument_token=self.instrument_token,
            quantity=self.quantity,
            average_price=round_money(self.average_price),
            last_price=self.last_price,
            realized_pnl=round_money(self.realized_pnl),
            unrealized_pnl=round_money(self.unrealized_pnl),
            fills=self.fills,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state, full precision (floats round-trip exactly through JSON)."""
        return {
            "strategy_id": self.strategy_id,
            "instrument_token": self.instrument_token,
            "quantity": self.quantity,
            "average_price": self.average_price,
            "realized_pnl": self.realized_pnl,
            "commissions": self.commissions,
            "fills": self.fills,
            "last_price": self.last_price,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Position:
        last_price = data.get("last_price")
        return cls(
            strategy_id=str(data["strategy_id"]),
            instrument_token=int(data["instrument_token"]),
            quantity=int(data.get("quantity", 0)),
            average_price=float(data.get("average_price", 0.0)),
            realized_pnl=float(data.get("realized_pnl", 0.0)),
            commissions=float(data.get("commissions", 0.0)),
            fills=int(data.get("fills", 0)),
            last_price=None if last_price is None else float(last_price),
        )
