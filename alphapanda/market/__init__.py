"""Market data feeds: where ticks come from (Zerodha KiteTicker, simulated, replayed tapes)."""
