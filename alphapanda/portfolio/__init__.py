"""Portfolio accounting: positions and account books as pure, immutable, JSON-storable state.

No Faust here: the portfolio agent decodes fills, calls :meth:`Account.apply_fill`, and assigns
the new account back to its table.
"""

from alphapanda.portfolio.account import (
    DAILY_HISTORY_DAYS,
    DEFAULT_FILL_ID_WINDOW,
    Account,
    PositionKey,
)
from alphapanda.portfolio.position import Position, round_money

__all__ = [
    "Account",
    "Position",
    "PositionKey",
    "DEFAULT_FILL_ID_WINDOW",
    "DAILY_HISTORY_DAYS",
    "round_money",
]
