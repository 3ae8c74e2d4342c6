"""Portfolio accounting: positions and account books as pure, immutable, JSON-storable state.

No Faust here: the portfolio agent decodes fills, calls :meth:`Account.apply_fill`, and assigns
the changed records (:mod:`alphapanda.portfolio.records`) back to its tables; periodic snapshots
follow event time (:mod:`alphapanda.portfolio.snapshots`).
"""

from alphapanda.portfolio.account import (
    DAILY_HISTORY_DAYS,
    DEFAULT_FILL_ID_WINDOW,
    Account,
    PositionKey,
)
from alphapanda.portfolio.position import Position, round_money
from alphapanda.portfolio.records import (
    IncompleteAccount,
    account_from_records,
    book_record,
    changed_positions,
    fill_key,
    position_key,
    position_keys_of,
)
from alphapanda.portfolio.snapshots import SnapshotSchedule, interval_start, snapshot_id

__all__ = [
    "Account",
    "Position",
    "PositionKey",
    "DEFAULT_FILL_ID_WINDOW",
    "DAILY_HISTORY_DAYS",
    "round_money",
    "IncompleteAccount",
    "account_from_records",
    "book_record",
    "changed_positions",
    "fill_key",
    "position_key",
    "position_keys_of",
    "SnapshotSchedule",
    "interval_start",
    "snapshot_id",
]
