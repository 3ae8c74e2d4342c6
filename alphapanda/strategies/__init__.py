"""Trading strategies: pure code from a tick and its own state to signals, configured by YAML files."""

from alphapanda.strategies.base import SignalIntent, Strategy, StrategyParams, StrategyResult
from alphapanda.strategies.book import StrategyBook
from alphapanda.strategies.config import (
    STRATEGY_KINDS,
    StrategyConfig,
    StrategyConfigError,
    load_strategies,
)
from alphapanda.strategies.mean_reversion import MeanReversionParams, MeanReversionStrategy
from alphapanda.strategies.momentum import MomentumParams, MomentumStrategy

__all__ = [
    "SignalIntent",
    "Strategy",
    "StrategyParams",
    "StrategyResult",
    "StrategyBook",
    "STRATEGY_KINDS",
    "StrategyConfig",
    "StrategyConfigError",
    "load_strategies",
    "MomentumParams",
    "MomentumStrategy",
    "MeanReversionParams",
    "MeanReversionStrategy",
]
