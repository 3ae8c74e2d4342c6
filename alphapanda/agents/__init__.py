"""Faust agents: thin stages that decode, call domain code and emit (one module per stage)."""
