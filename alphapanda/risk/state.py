"""What the risk engine remembers about one broker account between events.

One :class:`AccountRisk` per broker/account lives in a Faust table as its JSON dict
(:meth:`AccountRisk.to_dict` / :meth:`AccountRisk.from_dict`). It is immutable: the engine returns
a new state for every event, and the agent assigns it back to the table (in-place changes would
never reach the changelog).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from alphapanda.models import TradingState
from alphapanda.risk.limits import RiskLimits

__all__ = ["AccountRisk", "RiskCounters"]


class RiskCounters(BaseModel):
    """How many events the account's risk engine has seen (for the dashboard and metrics)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    signals: int = 0
    approved: int = 0
    rejected: dict[str, int] = Field(default_factory=dict)  # by reason code
    fills: int = 0
    failures: int = 0


class AccountRisk(BaseModel):
    """The risk state of one account.

    Responsibilities:

    - the trading state (ACTIVE / HALTED / REDUCING) and why it is not ACTIVE;
    - the account's limits;
    - the *committed* signed position per instrument: filled quantity plus every approved order
      that has neither filled nor failed yet. Counting pending orders is what stops a burst of
      signals from jointly breaching a limit that each of them respects alone;
    - the exposure price per instrument (the last reference or fill price), for gross exposure;
    - the event times of recently approved orders, for the rate limit (at most as many as the
      limit, and none when there is no rate limit, so the state stays small);
    - the day's realized PnL and its UTC day, for the daily loss limit;
    - counters.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    trading_state: TradingState = TradingState.ACTIVE
    halted_reason: str | None = None  # why the account is HALTED or REDUCING
    limits: RiskLimits = Field(default_factory=RiskLimits)
    positions: dict[int, int] = Field(default_factory=dict)
    prices: dict[int, float] = Field(default_factory=dict)
    recent_orders: list[AwareDatetime] = Field(default_factory=list)
    realized_pnl_today: float = 0.0
    pnl_day: date | None = None
    counters: RiskCounters = Field(default_factory=RiskCounters)

    @model_validator(mode="after")
    def _every_position_has_a_price(self) -> "AccountRisk":
        if any(qty == 0 for qty in self.positions.values()):
            raise ValueError("positions must not hold zero quantities")
        missing = sorted(set(self.positions) - set(self.prices))
        if missing:
            raise ValueError(f"no exposure price for instruments {missing}")
        return self

    @classmethod
    def initial(cls, limits: RiskLimits | None = None) -> "AccountRisk":
        """A fresh ACTIVE account with no exposure, under ``limits`` (default: the paper defaults)."""
        return cls(limits=limits if limits is not None else RiskLimits())

    def position(self, instrument_token: int) -> int:
        """The committed signed position (filled + approved-but-unfilled) of one instrument."""
        return self.positions.get(instrument_token, 0)

    def gross_exposure(self) -> float:
        """Sum of |committed position| x exposure price over all instruments."""
        return sum(abs(qty) * self.prices[token] for token, qty in self.positions.items())

    def daily_loss_breached(self, day: date | None = None) -> bool:
        """Whether the realized PnL of ``day`` (default: the state's PnL day) is below the limit.

        A day other than the one the PnL was reported for has no realized PnL yet: not breached.
        """
        limit = self.limits.daily_loss_limit
        if limit is None or self.pnl_day is None:
            return False
        if day is not None and day != self.pnl_day:
            return False
        return self.realized_pnl_today < -limit

    def orders_since(self, since: datetime) -> int:
        """Approved orders remembered with an event time after ``since``."""
        return sum(1 for at in self.recent_orders if at > since)

    def exposure_view(self) -> dict[str, Any]:
        """The ``exposure`` object of ``GET /api/v1/risk/{broker}``."""
        return {
            "gross_exposure": self.gross_exposure(),
            "positions": {
                str(token): {"quantity": qty, "price": self.prices[token], "notional": abs(qty) * self.prices[token]}
                for token, qty in sorted(self.positions.items())
            },
            "realized_pnl_today": self.realized_pnl_today,
            "pnl_day": self.pnl_day.isoformat() if self.pnl_day else None,
            "halted_reason": self.halted_reason,
            "counters": self.counters.model_dump(mode="json"),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (instrument keys become strings; :meth:`from_dict` turns them back)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AccountRisk":
        return cls.model_validate(data)
