"""How a simulated order fills against the market: price, slippage, liquidity, latency, fees.

The model is a pure function of the working order and one tick: no wall clock, no randomness,
no state. Replaying the same ticks gives the same fills, fill ids included, in any process.
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass
from datetime import timedelta

from alphapanda.execution.paper.commissions import CommissionModel
from alphapanda.execution.venue import Fill, OrderRequest, WorkingOrder
from alphapanda.models import DepthLevel, MarketTick, OrderType, Side

__all__ = ["FillModel", "DEFAULT_TICK_SIZE", "fill_id"]

#: NSE equity tick size, used when the instrument's own is not known.
DEFAULT_TICK_SIZE = 0.05


def fill_id(order_id: str, filled_quantity: int) -> str:
    """The id of the fill that brings ``order_id`` to ``filled_quantity`` filled.

    Cumulative quantity, not a counter: the caller keeps only ``filled_quantity``, and it grows
    with every fill, so ids are unique per order and the same on every replay.
    """
    return f"{order_id}-{filled_quantity}"


@dataclass(frozen=True)
class FillModel:
    """Decides which fills a tick gives a working order.

    Responsibilities: when an order may fill (latency, limit crossing), at what price (latest tick
    price, slippage against the trader, tick rounding, never worse than a limit), how much
    (liquidity of the tick) and at what cost (the commission model).

    Parameters
    ----------
    slippage_bps : float
        Slippage against the trader in basis points: a buy pays ``price * (1 + bps/1e4)``, a sell
        receives ``price * (1 - bps/1e4)``. It stands in for spread and impact; the book is used
        only for quantity, never walked for price.
    commission : CommissionModel
        Charges per executed order; see :meth:`match` for how they are split across fills.
    latency_ms : float, default 0.0
        Event-time delay from ``order.created_at`` before the order can fill: a tick stamped
        earlier than ``created_at + latency`` gives no fill.
    liquidity_fraction : float, default 1.0
        Share (0, 1] of a tick's offered liquidity the order may take (at least 1 unit when any is
        offered). Offered liquidity is, in order of preference:

        1. the opposite side of the tick's depth (asks for a buy, bids for a sell) summed over
           levels at acceptable prices (any price for a market order; at or better than the limit
           for a limit order), when the tick carries that side. A side that is present but
           empty of priced quantity offers nothing: there is no counterparty;
        2. else the tick's ``last_quantity``, when positive;
        3. else unlimited: a tick without size information fills the whole remainder.
    tick_size : float, default 0.05
        Price grid used when :meth:`match` is not given the instrument's own tick size.
    """

    slippage_bps: float
    commission: CommissionModel
    _: KW_ONLY
    latency_ms: float = 0.0
    liquidity_fraction: float = 1.0
    tick_size: float = DEFAULT_TICK_SIZE

    def __post_init__(self) -> None:
        if not (math.isfinite(self.slippage_bps) and 0 <= self.slippage_bps < 10_000):
            raise ValueError(f"slippage_bps must be in [0, 10000), not {self.slippage_bps}")
        if not (math.isfinite(self.latency_ms) and self.latency_ms >= 0):
            raise ValueError(f"latency_ms must be >= 0, not {self.latency_ms}")
        if not (0 < self.liquidity_fraction <= 1):
            raise ValueError(f"liquidity_fraction must be in (0, 1], not {self.liquidity_fraction}")
        _check_tick_size(self.tick_size)

    @property
    def latency(self) -> timedelta:
        return timedelta(milliseconds=self.latency_ms)

    def match(self, order: WorkingOrder, tick: MarketTick, *, tick_size: float | None = None) -> list[Fill]:
        """The fills ``tick`` gives ``order`` (empty or one fill).

        The commission of a fill is the order's charges with the fill minus its charges without,
        both at this fill's price. Charges proportional to turnover are then exactly the fill's
        own, and a per-order brokerage cap (Zerodha's Rs 20) is paid once per order rather than
        once per partial fill. Across fills at different prices that split is an approximation,
        since the working order does not carry the prices of earlier fills.
        """
        request = order.request
        if tick.instrument_token != request.instrument_token:
            raise ValueError(
                f"tick of instrument {tick.instrument_token} given to order {request.order_id} "
                f"of instrument {request.instrument_token}"
            )
        remaining = order.remaining
        if remaining <= 0 or tick.timestamp < request.created_at + self.latency:
            return []
        if not _crosses(request, tick.last_price):
            return []
        quantity = min(remaining, self._tradable(request, tick))
        if quantity <= 0:
            return []

        grid = self.tick_size if tick_size is None else _check_tick_size(tick_size)
        price = self._fill_price(request, tick.last_price, grid)
        before, after = order.filled_quantity, order.filled_quantity + quantity
        commission = self.commission.charges(request.side, after, price) - self.commission.charges(
            request.side, before, price
        )
        return [
            Fill(
                order_id=request.order_id,
                fill_id=fill_id(request.order_id, after),
                quantity=quantity,
                price=price,
                commission=max(0.0, round(commission, 2)),
                timestamp=tick.timestamp,
            )
        ]

    def _fill_price(self, request: OrderRequest, market_price: float, grid: float) -> float:
        factor = self.slippage_bps / 10_000
        if request.side is Side.BUY:
            price = _to_grid(market_price * (1 + factor), grid, up=True)
        else:
            price = _to_grid(market_price * (1 - factor), grid, up=False)
        if request.order_type is OrderType.LIMIT:
            limit = _limit_price(request)
            price = min(price, limit) if request.side is Side.BUY else max(price, limit)
        return price

    def _tradable(self, request: OrderRequest, tick: MarketTick) -> int | float:
        offered = _offered_liquidity(request, tick)
        if offered is None:
            return math.inf
        if offered <= 0:
            return 0
        return max(1, math.floor(offered * self.liquidity_fraction))


def _check_tick_size(tick_size: float) -> float:
    if not (math.isfinite(tick_size) and tick_size > 0):
        raise ValueError(f"tick_size must be > 0, not {tick_size}")
    return tick_size


def _limit_price(request: OrderRequest) -> float:
    if request.limit_price is None:
        raise ValueError(f"limit order {request.order_id} has no limit_price")
    return request.limit_price


def _crosses(request: OrderRequest, market_price: float) -> bool:
    """Whether the market trades at a price the order accepts (always, for a market order)."""
    if request.order_type is OrderType.MARKET:
        return True
    limit = _limit_price(request)
    return market_price <= limit if request.side is Side.BUY else market_price >= limit


def _acceptable(request: OrderRequest, level: DepthLevel) -> bool:
    if level.price <= 0 or level.quantity <= 0:
        return False  # Kite pads empty depth levels with zeros
    if request.order_type is OrderType.MARKET:
        return True
    limit = _limit_price(request)
    return level.price <= limit if request.side is Side.BUY else level.price >= limit


def _offered_liquidity(request: OrderRequest, tick: MarketTick) -> int | None:
    """Quantity the tick offers the order; None when the tick says nothing about size."""
    if tick.depth is not None:
        opposite = tick.depth.sell if request.side is Side.BUY else tick.depth.buy
        if opposite:
            return sum(level.quantity for level in opposite if _acceptable(request, level))
    if tick.last_quantity:
        return tick.last_quantity
    return None


def _to_grid(price: float, grid: float, *, up: bool) -> float:
    """``price`` on the tick grid, rounded against the trader so slippage is never rounded away.

    A price already on the grid (within float noise) stays put. A sell that would round to zero
    keeps its unrounded price: there is no tick below the first.
    """
    units = price / grid
    nearest = round(units)
    if math.isclose(units, nearest, rel_tol=0, abs_tol=1e-6):
        units = nearest
    else:
        units = math.ceil(units) if up else math.floor(units)
    if units <= 0:
        return price
    return round(units * grid, 10)
