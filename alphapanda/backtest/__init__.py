"""``alphapanda backtest``: a tape through the real pipeline, and what the strategies made."""
